"""``gancompose import pix2pix``: an official pix2pix U-Net generator into a gancompose network file.

Source: junyanz/pytorch-CycleGAN-and-pix2pix, ``models/networks.py`` ``UnetGenerator`` as the official code saves
it (``latest_net_G.pth``: a plain state dict, ``torch.save(net.state_dict())``). pix2pix's defaults are
``--netG unet_256`` (num_downs 8), ngf 64, batch norm, dropout on; the number of levels, ngf, the channels and the
norm are read from the keys and shapes (batch norm leaves scales and running statistics; instance norm, without
affine parameters, leaves biases on the convolutions; none leaves neither). Dropout leaves no trace in the weights:
it is taken as on (the official default) unless ``--no-dropout``; it only acts in training mode.

The file is checked against the official module tree (:class:`gancompose_pix2pix.reference.OfficialUnetGenerator`):
every key and shape must load into it exactly. Its tensors are then renamed, with :func:`key_table`, to the
``unet_generator`` block's layout (``down.K.conv``, ``down.K.norm``, ``up.K.conv``, ``up.K.norm``) and both modules
are run on one probe image in eval mode to check they compute the same function.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from gancompose.errors import CheckpointError
from gancompose.portable.convert import (Converted, ImportResult, convert_checked, stale_instance_norm_statistics,
                                         write_imported)
from gancompose.weights_file import read_pth_state_dict
from gancompose_pix2pix.networks import UnetGenerator
from gancompose_pix2pix.reference import OfficialUnetGenerator, official_level_paths

BLOCK = "unet_generator"
SOURCE = "junyanz/pytorch-CycleGAN-and-pix2pix models/networks.py UnetGenerator"
SUFFIXES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


@dataclass(frozen=True)
class Config:
    in_channels: int = 3
    out_channels: int = 3
    num_downs: int = 8
    ngf: int = 64
    norm: str = "batch"
    use_dropout: bool = True

    def official(self) -> OfficialUnetGenerator:
        return OfficialUnetGenerator(self.in_channels, self.out_channels, self.num_downs, self.ngf, self.norm,
                                     self.use_dropout)

    def gancompose(self) -> UnetGenerator:
        return UnetGenerator(**asdict(self))


def key_table(num_downs: int = 8) -> list[tuple[str, str]]:
    """(official module path, gancompose module path) for every module that can hold tensors."""
    paths = official_level_paths(num_downs)
    last = len(paths) - 1
    rows = [(f"{paths[0]}.0", "down.0.conv"), (f"{paths[0]}.3", "up.0.conv")]
    for k in range(1, last):
        p = paths[k]
        rows += [(f"{p}.1", f"down.{k}.conv"), (f"{p}.2", f"down.{k}.norm"),
                 (f"{p}.5", f"up.{k}.conv"), (f"{p}.6", f"up.{k}.norm")]
    p = paths[last]
    rows += [(f"{p}.1", f"down.{last}.conv"), (f"{p}.3", f"up.{last}.conv"), (f"{p}.4", f"up.{last}.norm")]
    return rows


def rename(state: dict[str, torch.Tensor], cfg: Config) -> dict[str, torch.Tensor]:
    table = {f"{official}.{s}": f"{ours}.{s}" for official, ours in key_table(cfg.num_downs) for s in SUFFIXES}
    unknown = [k for k in state if k not in table]
    if unknown:
        raise CheckpointError(f"keys outside the UnetGenerator layout: {unknown[:8]}")
    return {table[k]: v for k, v in state.items()}


# ------------------------------------------------------------------------------ reading
def detect(state: dict[str, torch.Tensor], path: Path, use_dropout: bool = True) -> tuple[Config, list[str]]:
    """The generator's settings, read from its keys and shapes; and the keys to drop."""
    if "model.model.0.weight" not in state:
        hint = ("a CycleGAN ResNet generator: use gancompose import cyclegan" if "model.1.weight" in state else
                "pix2pix saves latest_net_G.pth (the generator) and latest_net_D.pth; import the generator")
        raise CheckpointError(f"{path} is not a pix2pix UnetGenerator state dict (no 'model.model.0.weight'; it has "
                              f"{', '.join(list(state)[:5])}...)", hint=hint)
    levels = 1
    while any(k.startswith(official_level_paths(levels + 1)[-1] + ".") for k in state):
        levels += 1
    if levels < 5:
        raise CheckpointError(f"{path}: {levels} nested levels found; the official UnetGenerator has at least 5")
    paths = official_level_paths(levels)
    inner = paths[-1]
    for key in (f"{inner}.1.weight", f"{inner}.3.weight", f"{paths[0]}.3.weight"):
        if key not in state:
            raise CheckpointError(f"{path}: the convolution {key!r} is missing")
    first, top = state[f"{paths[0]}.0.weight"], state[f"{paths[0]}.3.weight"]
    dropped: list[str] = []
    if f"{paths[1]}.2.weight" in state:
        norm = "batch"
    elif f"{paths[1]}.1.bias" in state:
        norm = "instance"
        # files from PyTorch < 0.4 carry running statistics for InstanceNorm; the official code deletes them when
        # loading (__patch_instance_norm_state_dict), so does this importer
        dropped = stale_instance_norm_statistics(state)
    else:
        norm = "none"
    cfg = Config(in_channels=first.shape[1], out_channels=top.shape[1], num_downs=levels, ngf=first.shape[0],
                 norm=norm, use_dropout=use_dropout)
    return cfg, dropped


# ------------------------------------------------------------------------------- import
def convert(source: str | Path, *, use_dropout: bool = True,
            verify: bool = True) -> tuple[Converted, Config, list[str]]:
    """The official state dict renamed to the unet_generator layout, checked against both module trees (on the
    smallest image every level takes: a 1x1 bottleneck)."""
    source = Path(source)
    state = read_pth_state_dict(source)
    cfg, dropped = detect(state, source, use_dropout)
    state = {k: v for k, v in state.items() if k not in dropped}
    size = 2 ** cfg.num_downs
    converted = convert_checked(source, state, cfg.official(), cfg.gancompose(), lambda s: rename(s, cfg),
                                 (1, cfg.in_channels, size, size), what=f"UnetGenerator ({cfg})", verify=verify)
    return converted, cfg, dropped


def import_pix2pix(source: str | Path, output: str | Path, *, name: str = "generator", image_size: int = 256,
                   use_dropout: bool = True, verify: bool = True) -> ImportResult:
    """Convert an official pix2pix UnetGenerator file into a gancompose network file at ``output``."""
    source = Path(source)
    converted, cfg, dropped = convert(source, use_dropout=use_dropout, verify=verify)
    if image_size % 2 ** cfg.num_downs:
        raise CheckpointError(f"--image-size {image_size} is not divisible by 2**{cfg.num_downs}: the U-Net of "
                              f"{cfg.num_downs} levels takes sizes divisible by {2 ** cfg.num_downs}")
    return write_imported(output, converted, cfg, block=BLOCK, name=name,
                          channels=(cfg.in_channels, cfg.out_channels), image_size=image_size, source=source,
                          fmt="pix2pix", code=SOURCE, layout="gancompose_pix2pix.reference.OfficialUnetGenerator",
                          dropped=dropped)
