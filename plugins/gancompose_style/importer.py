"""``gancompose import stylegan2``: an official StyleGAN2-ADA ``network-snapshot-*.pkl`` into a gancompose
checkpoint.

The snapshot is read by :mod:`gancompose_style.snapshot` (a restricted unpickler: no code from the file
runs). Its ``G``, ``D`` and ``G_ema`` are recorded persistent objects; their init arguments give the
configuration (resolution, z/w dims, channel_base/max, mapping layers, c_dim, conv_clamp, D architecture and
minibatch-stddev group) and their parameters load by name into ``stylegan2_generator`` /
``stylegan2_discriminator`` (the official ``resample_filter`` buffers are constants the blocks rebuild).
The output is a full checkpoint (``networks.generator``, ``networks.discriminator``, ``ema.generator``, a
recipe in the metadata, no optimizer state or counters): ``gancompose sample``, ``explain``, ``export``,
``gancompose.load_generator(path, ema=True)`` and a network's ``init_from`` read it.

StyleGAN3's ``training/networks_stylegan2.py`` (its ``stylegan2`` configs) writes the same format, with the
synthesis arguments at the generator's top level; both are read. fp16 settings (``num_fp16_res``, channels
last, ``fused_modconv_default``) change no weight and are dropped: gancompose computes in float32.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gancompose import __version__
from gancompose.checkpoint import FORMAT, atomic_save
from gancompose.weights_file import sha256_of
from gancompose_style.snapshot import PersistentObject, Snapshot, SnapshotError, read_snapshot

SOURCE = "NVlabs/stylegan2-ada-pytorch training/networks.py (Generator, Discriminator)"
#: settings of the official networks that change no weight and no float32 output
IGNORED = {"num_fp16_res", "fp16_channels_last", "channels_last", "fused_modconv_default", "freeze_layers",
           "class_name"}
G_ARGS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs")
D_ARGS = ("c_dim", "img_resolution", "img_channels", "architecture", "channel_base", "channel_max", "num_fp16_res",
          "conv_clamp", "cmap_dim", "block_kwargs", "mapping_kwargs", "epilogue_kwargs")


def _kwargs(obj: PersistentObject, names: tuple[str, ...]) -> dict[str, Any]:
    kw = dict(zip(names, obj.init_args))
    kw.update(obj.init_kwargs)
    return kw


def _check(value: Any, default: Any, what: str, path: Path) -> None:
    if value is not None and value != default:
        raise SnapshotError(f"{path}: {what} = {value!r} is not supported (gancompose's StyleGAN2 blocks "
                            f"implement {default!r})")


def _leftover(kw: dict[str, Any], known: set[str], what: str, path: Path) -> None:
    extra = sorted(k for k in kw if k not in known and k not in IGNORED)
    if extra:
        raise SnapshotError(f"{path}: the {what} has settings gancompose does not implement: "
                            f"{', '.join(f'{k}={kw[k]!r}' for k in extra)}")


@dataclass
class Config:
    """What the snapshot's networks were built with, as gancompose block parameters."""
    generator: dict[str, Any]
    discriminator: dict[str, Any]
    z_dim: int
    c_dim: int
    resolution: int
    channels: int


def _expect_class(obj: PersistentObject, name: str, key: str, path: Path) -> None:
    if obj.class_name != name:
        raise SnapshotError(f"{path}: {key} is a {obj.class_name}, not a StyleGAN2 {name}"
                            + (" (StyleGAN3 networks, configs stylegan3-t/-r, are not supported: only its "
                               "stylegan2 config)" if "SynthesisInput" in obj.class_names().values() else ""))


def detect(snap: Snapshot) -> Config:
    path = snap.path
    G, D = snap.network("G_ema"), snap.network("D")
    _expect_class(G, "Generator", "G_ema", path)
    _expect_class(D, "Discriminator", "D", path)
    if "SynthesisInput" in G.class_names().values():
        raise SnapshotError(f"{path}: a StyleGAN3 generator (stylegan3-t/-r): only StyleGAN2 networks import")
    g = _kwargs(G, G_ARGS)
    for k in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels"):
        if not isinstance(g.get(k), int):
            raise SnapshotError(f"{path}: G_ema's {k} is missing from its init arguments")
    mapping = dict(g.pop("mapping_kwargs", None) or {})
    synthesis = dict(g.pop("synthesis_kwargs", None) or {})
    # StyleGAN3's networks_stylegan2.Generator takes the synthesis arguments at its top level
    synthesis.update({k: g.pop(k) for k in list(g) if k not in G_ARGS})
    _check(mapping.pop("embed_features", None), None, "mapping embed_features", path)
    _check(mapping.pop("layer_features", None), None, "mapping layer_features", path)
    _check(mapping.pop("activation", None), "lrelu", "mapping activation", path)
    _check(synthesis.pop("activation", None), "lrelu", "synthesis activation", path)
    _check(synthesis.pop("resample_filter", None), [1, 3, 3, 1], "resample_filter", path)
    _check(synthesis.pop("use_noise", None), True, "use_noise", path)
    _check(synthesis.pop("kernel_size", None), 3, "kernel_size", path)
    _leftover(mapping, {"num_layers", "lr_multiplier", "w_avg_beta"}, "mapping network", path)
    _leftover(synthesis, {"channel_base", "channel_max", "conv_clamp", "architecture"}, "synthesis network", path)
    res, nc = g["img_resolution"], g["img_channels"]
    gen = {
        "type": "stylegan2_generator", "input": "latent", "image_size": res, "nc": nc, "w_dim": g["w_dim"],
        "channel_base": synthesis.get("channel_base", 32768), "channel_max": synthesis.get("channel_max", 512),
        "architecture": synthesis.get("architecture", "skip"), "mapping_layers": mapping.get("num_layers", 8),
        "mapping_lr_multiplier": mapping.get("lr_multiplier", 0.01), "w_avg_beta": mapping.get("w_avg_beta", 0.995),
        "num_classes": g["c_dim"], "conv_clamp": synthesis.get("conv_clamp"),
    }
    if gen["w_avg_beta"] is None:
        raise SnapshotError(f"{path}: the generator does not track w_avg (w_avg_beta None)")

    d = _kwargs(D, D_ARGS)
    block = dict(d.pop("block_kwargs", None) or {})
    dmap = dict(d.pop("mapping_kwargs", None) or {})
    epi = dict(d.pop("epilogue_kwargs", None) or {})
    for k in ("activation",):
        _check(block.pop(k, None), "lrelu", f"discriminator {k}", path)
        _check(epi.pop(k, None), "lrelu", f"discriminator epilogue {k}", path)
    _check(block.pop("resample_filter", None), [1, 3, 3, 1], "discriminator resample_filter", path)
    _check(dmap.pop("embed_features", None), None, "discriminator mapping embed_features", path)
    _check(dmap.pop("layer_features", None), None, "discriminator mapping layer_features", path)
    _check(dmap.pop("activation", None), "lrelu", "discriminator mapping activation", path)
    _check(dmap.pop("lr_multiplier", None), 0.01, "discriminator mapping lr_multiplier", path)
    _leftover(block, set(), "discriminator blocks", path)
    _leftover(dmap, {"num_layers"}, "discriminator mapping network", path)
    _leftover(epi, {"mbstd_group_size", "mbstd_num_channels"}, "discriminator epilogue", path)
    _leftover(d, {"c_dim", "img_resolution", "img_channels", "architecture", "channel_base", "channel_max",
                  "conv_clamp", "cmap_dim"}, "discriminator", path)
    if (d.get("c_dim"), d.get("img_resolution"), d.get("img_channels")) != (g["c_dim"], res, nc):
        raise SnapshotError(f"{path}: D (c_dim {d.get('c_dim')}, {d.get('img_resolution')}px, "
                            f"{d.get('img_channels')} channels) does not match G_ema (c_dim {g['c_dim']}, {res}px, "
                            f"{nc} channels)")
    dis = {
        "type": "stylegan2_discriminator", "input": "data", "image_size": res, "nc": nc,
        "architecture": d.get("architecture", "resnet"), "channel_base": d.get("channel_base", 32768),
        "channel_max": d.get("channel_max", 512), "mbstd_group_size": epi.get("mbstd_group_size", 4),
        "mbstd_num_channels": epi.get("mbstd_num_channels", 1), "num_classes": d["c_dim"],
        "mapping_layers": dmap.get("num_layers", 8), "cmap_dim": d.get("cmap_dim"),
        "conv_clamp": d.get("conv_clamp"),
    }
    return Config(gen, dis, g["z_dim"], g["c_dim"], res, nc)


def recipe_for(cfg: Config, name: str) -> dict[str, Any]:
    """A recipe with the snapshot's networks and StyleGAN2-ADA's training settings (R1, Adam (0, 0.99), lazy
    regularization) on an image folder at the snapshot's resolution: what fine-tuning from it starts from."""
    data: dict[str, Any] = {"type": "image_folder", "root": "data/images", "image_size": cfg.resolution,
                            "channels": cfg.channels, "hflip": True,
                            "prepare": "put images (PNG/JPG) in data/images"
                                       + (", one subfolder per class" if cfg.c_dim else "")}
    if cfg.c_dim:
        data["labels"] = "subfolders"
    return {
        "name": name,
        "description": f"imported StyleGAN2-ADA snapshot {name}: {cfg.resolution}x{cfg.resolution}"
                       + (f", {cfg.c_dim} classes" if cfg.c_dim else ""),
        "latent": {"dim": cfg.z_dim},
        "networks": {"generator": dict(cfg.generator), "discriminator": dict(cfg.discriminator)},
        "loss": {"type": "non_saturating"},
        "regularizers": [{"type": "r1", "gamma": 10.0, "every": 16, "network": "discriminator"}],
        "optimizers": {
            "generator": {"type": "adam", "lr": 0.0025, "betas": [0.0, 0.99], "eps": 1e-8, "lazy_interval": 4},
            "discriminator": {"type": "adam", "lr": 0.0025, "betas": [0.0, 0.99], "eps": 1e-8,
                              "lazy_interval": 16},
        },
        "schedule": {"type": "alternating", "lazy_phases": True},
        "data": data,
    }


def _load(module: torch.nn.Module, obj: PersistentObject, key: str, path: Path) -> None:
    state = {k: v for k, v in obj.state_dict().items() if not k.endswith("resample_filter")}
    own = module.state_dict()
    state.setdefault("pl_mean", own["pl_mean"]) if "pl_mean" in own else None
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
                  if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or mismatched:
        parts = [f"{label}: {', '.join(names[:6])}{' ...' if len(names) > 6 else ''}"
                 for label, names in (("missing", missing), ("unexpected", unexpected), ("shape", mismatched)) if names]
        raise SnapshotError(f"{path}: {key} does not fit the gancompose network built from its settings ("
                            + "; ".join(parts) + ")")
    module.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)


@dataclass
class ImportResult:
    path: Path
    config: Config
    params: dict[str, int]
    tensors: int


def convert(source: str | Path) -> tuple[Config, dict[str, torch.nn.Module], dict[str, Any]]:
    """The snapshot's G, D and G_ema as gancompose modules, with its configuration and the recipe."""
    from gancompose_style.discriminator import StyleGAN2DiscriminatorParams, stylegan2_discriminator
    from gancompose_style.synthesis import StyleGAN2GeneratorParams, stylegan2_generator
    snap = read_snapshot(source)
    cfg = detect(snap)
    path = snap.path
    gp = StyleGAN2GeneratorParams(**{k: v for k, v in cfg.generator.items() if k not in ("type", "input")})
    dp = StyleGAN2DiscriminatorParams(**{k: v for k, v in cfg.discriminator.items() if k not in ("type", "input")})
    modules = {}
    for key, obj in (("G", snap.objects.get("G")), ("G_ema", snap.network("G_ema"))):
        if obj is None:
            continue
        if not isinstance(obj, PersistentObject):
            raise SnapshotError(f"{path}: {key} is not a recorded network")
        _expect_class(obj, "Generator", key, path)
        g = stylegan2_generator(gp, (cfg.z_dim,))
        _load(g, obj, key, path)
        modules[key] = g.eval()
    d = stylegan2_discriminator(dp, (cfg.channels, cfg.resolution, cfg.resolution))
    _load(d, snap.network("D"), "D", path)
    modules["D"] = d.eval()
    modules.setdefault("G", modules["G_ema"])  # a snapshot without G: its trained weights are G_ema's
    info = {"training_set_kwargs": snap.objects.get("training_set_kwargs"),
            "classes": sorted(set(snap.network("G_ema").class_names().values())),
            "module_src_sha256": snap.network("G_ema").source_sha256}
    return cfg, modules, info


def _jsonable(obj: Any) -> Any:
    try:
        return json.loads(json.dumps(obj, default=str))
    except (TypeError, ValueError):
        return str(obj)


def import_stylegan2(source: str | Path, output: str | Path, *, name: str | None = None) -> ImportResult:
    """Convert an official StyleGAN2-ADA snapshot into a gancompose checkpoint at ``output``."""
    from gancompose.checkpoint import add_module_tensors
    source = Path(source)
    cfg, modules, info = convert(source)
    output = Path(output)
    name = name or output.name.split(".")[0]
    recipe = recipe_for(cfg, name)
    tensors: dict[str, torch.Tensor] = {}
    add_module_tensors(tensors, "networks.generator", modules["G"])
    add_module_tensors(tensors, "networks.discriminator", modules["D"])
    add_module_tensors(tensors, "ema.generator", modules["G_ema"])
    metadata = {
        "format": FORMAT,
        "gancompose_version": __version__,
        "recipe": json.dumps(recipe),
        "optimizers": json.dumps({}),
        "sample_shape": json.dumps([cfg.channels, cfg.resolution, cfg.resolution]),
        "num_classes": json.dumps(cfg.c_dim or None),
        "weights": "imported",
        "source": json.dumps({"format": "stylegan2-ada", "code": SOURCE, "file": source.name,
                              "sha256": sha256_of(source), **_jsonable(info)}),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    path = atomic_save(tensors, output, metadata)
    params = {k: sum(p.numel() for p in m.parameters()) for k, m in modules.items()}
    return ImportResult(path, cfg, params, len(tensors))
