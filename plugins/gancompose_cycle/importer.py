"""``gancompose import cyclegan``: an official CycleGAN ResNet generator into a gancompose network file.

Source: junyanz/pytorch-CycleGAN-and-pix2pix, ``models/networks.py`` ``ResnetGenerator`` as saved by the
official code (``latest_net_G_A.pth``: a plain state dict, ``torch.save(net.state_dict())``). The defaults
of the CycleGAN models are ngf = 64, n_blocks = 9 (``resnet_9blocks``), norm = instance without affine
parameters, no dropout, reflection padding; ``resnet_6blocks``, batch norm and dropout are detected from the
keys too. Reflection padding is assumed (``padding_type`` leaves no trace in the weights).

The file is checked against the official module tree (:mod:`gancompose_cycle.reference`): every key and shape
must load into it exactly. Its tensors are then renamed, with the table of :func:`key_table`, to the
layout of the ``resnet_generator`` block (``stem``, ``down.i``, ``blocks.i``, ``up.i``, ``head``) and both
modules are run on one probe image to check they compute the same function.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from gancompose.errors import CheckpointError
from gancompose.portable.convert import (Converted, ImportResult, convert_checked, stale_instance_norm_statistics,
                                         write_imported)
from gancompose.weights_file import read_pth_state_dict
from gancompose_cycle.reference import OfficialResnetGenerator, ResnetGenerator

BLOCK = "resnet_generator"
SOURCE = "junyanz/pytorch-CycleGAN-and-pix2pix models/networks.py ResnetGenerator"
SUFFIXES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


@dataclass(frozen=True)
class Config:
    in_channels: int = 3
    out_channels: int = 3
    ngf: int = 64
    n_blocks: int = 9
    norm: str = "instance"
    use_dropout: bool = False
    padding: str = "reflect"

    def official(self) -> OfficialResnetGenerator:
        return OfficialResnetGenerator(self.in_channels, self.out_channels, self.ngf, self.norm, self.use_dropout,
                                       self.n_blocks, self.padding)

    def gancompose(self) -> ResnetGenerator:
        return ResnetGenerator(**asdict(self))


def key_table(n_blocks: int = 9, use_dropout: bool = False) -> list[tuple[str, str]]:
    """(official module path, gancompose module path) for every module with tensors."""
    rows = [("model.1", "stem.conv"), ("model.2", "stem.norm"),
            ("model.4", "down.0.conv"), ("model.5", "down.0.norm"),
            ("model.7", "down.1.conv"), ("model.8", "down.1.norm")]
    c2 = 6 if use_dropout else 5  # the dropout layer shifts the second conv of each block
    for i in range(n_blocks):
        b = f"model.{10 + i}.conv_block"
        rows += [(f"{b}.1", f"blocks.{i}.conv1"), (f"{b}.2", f"blocks.{i}.norm1"),
                 (f"{b}.{c2}", f"blocks.{i}.conv2"), (f"{b}.{c2 + 1}", f"blocks.{i}.norm2")]
    u = 10 + n_blocks
    rows += [(f"model.{u}", "up.0.conv"), (f"model.{u + 1}", "up.0.norm"),
             (f"model.{u + 3}", "up.1.conv"), (f"model.{u + 4}", "up.1.norm"),
             (f"model.{u + 7}", "head.conv")]
    return rows


def rename(state: dict[str, torch.Tensor], cfg: Config) -> dict[str, torch.Tensor]:
    table = {}
    for official, ours in key_table(cfg.n_blocks, cfg.use_dropout):
        for suffix in SUFFIXES:
            table[f"{official}.{suffix}"] = f"{ours}.{suffix}"
    unknown = [k for k in state if k not in table]
    if unknown:
        raise CheckpointError(f"keys outside the ResnetGenerator layout: {unknown[:8]}")
    return {table[k]: v for k, v in state.items()}


# ------------------------------------------------------------------------------ reading
def detect(state: dict[str, torch.Tensor], path: Path) -> tuple[Config, list[str]]:
    """The generator's settings, read from its keys and shapes; and the keys to drop (with why)."""
    if "model.1.weight" not in state:
        raise CheckpointError(f"{path} is not a CycleGAN ResnetGenerator state dict (no 'model.1.weight'; it has "
                              f"{', '.join(list(state)[:5])}...)",
                              hint="UNet generators (unet_256, pix2pix) are not supported yet")
    blocks = sorted({int(m.group(1)) for k in state if (m := re.match(r"model\.(\d+)\.conv_block\.", k))})
    if not blocks or blocks != list(range(10, 10 + len(blocks))):
        raise CheckpointError(f"{path}: residual blocks not found at model.10, model.11, ... (found {blocks[:12]})")
    n_blocks = len(blocks)
    dropout = "model.10.conv_block.6.weight" in state
    w = state["model.1.weight"]
    head = f"model.{10 + n_blocks + 7}.weight"
    if head not in state:
        raise CheckpointError(f"{path}: the output convolution {head!r} is missing")
    dropped = []
    if "model.2.weight" in state:
        norm = "batch"
    elif "model.1.bias" in state:
        norm = "instance"
        # checkpoints from PyTorch < 0.4 carry running statistics for InstanceNorm; the official code
        # deletes them when loading (__patch_instance_norm_state_dict), so does this importer
        dropped = stale_instance_norm_statistics(state)
    else:
        norm = "none"
    cfg = Config(in_channels=w.shape[1], out_channels=state[head].shape[0], ngf=w.shape[0], n_blocks=n_blocks,
                 norm=norm, use_dropout=dropout)
    return cfg, dropped


# ------------------------------------------------------------------------------- import
def convert(source: str | Path, *, verify: bool = True) -> tuple[Converted, Config, list[str]]:
    """The official state dict renamed to the resnet_generator layout, checked against both module trees."""
    source = Path(source)
    state = read_pth_state_dict(source)
    cfg, dropped = detect(state, source)
    state = {k: v for k, v in state.items() if k not in dropped}
    converted = convert_checked(source, state, cfg.official(), cfg.gancompose(), lambda s: rename(s, cfg),
                                 (1, cfg.in_channels, 64, 64), what=f"ResnetGenerator ({cfg})", verify=verify)
    return converted, cfg, dropped


def import_cyclegan(source: str | Path, output: str | Path, *, name: str = "generator", image_size: int = 256,
                    verify: bool = True) -> ImportResult:
    """Convert an official CycleGAN ResnetGenerator file into a gancompose network file at ``output``."""
    source = Path(source)
    converted, cfg, dropped = convert(source, verify=verify)
    return write_imported(output, converted, cfg, block=BLOCK, name=name,
                          channels=(cfg.in_channels, cfg.out_channels), image_size=image_size, source=source,
                          fmt="cyclegan", code=SOURCE, layout="gancompose_cycle.reference.ResnetGenerator",
                          dropped=dropped)
