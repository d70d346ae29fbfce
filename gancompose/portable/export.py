"""Self-contained network files: ``gancompose export`` and :func:`load_generator`.

An export is a safetensors file (format ``gancompose.network/1``) holding one network's weights as
``networks.NAME.<state_dict key>`` and, in its metadata, everything needed to rebuild the module with the
installed plugins: the network's recipe table, its per-sample input shape, the latent spec, the data's
sample shape and number of classes, and where the weights came from. No recipe file is needed.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from pydantic import TypeAdapter, ValidationError
from torch import nn

from gancompose import __version__
from gancompose.checkpoint import NETWORK_FORMAT, atomic_save
from gancompose.data import DataShape, DataStandIn
from gancompose.errors import CheckpointError, GancomposeError, format_key_path
from gancompose.portable.files import WeightsFile, sha256_of
from gancompose.portable.init_from import load_into
from gancompose.registry import Registry, default_registry

#: recipe keys about training, not about the module: left out of an exported network table
TRAINING_KEYS = ("init_from", "trainable", "freeze")


@dataclass
class NetworkInfo:
    """What a network file says about its network (``module.gancompose`` on a loaded generator)."""
    path: Path
    name: str
    spec: dict[str, Any]
    input_shape: tuple[int, ...]
    sample_shape: tuple[int, ...] | None
    latent: dict[str, Any] | None
    num_classes: int | None = None
    weights: str = "trained"
    dtype: str = "float32"
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def conditional(self) -> bool:
        return self.spec.get("condition") is not None

    def sample_latent(self, n: int, *, seed: int | None = None, generator: torch.Generator | None = None,
                      device: str | torch.device = "cpu") -> torch.Tensor:
        """``n`` latent vectors drawn as the training run drew them (``N(0, 1)`` or ``U(-1, 1)``)."""
        if self.latent is None:
            raise GancomposeError(f"network {self.name!r} takes data, not a latent vector")
        if generator is None and seed is not None:
            generator = torch.Generator(device="cpu").manual_seed(seed)
        dim = int(self.latent.get("dim", self.input_shape[0]))
        if self.latent.get("distribution", "normal") == "normal":
            z = torch.randn(n, dim, generator=generator)
        else:
            z = torch.rand(n, dim, generator=generator) * 2 - 1
        return z.to(device)


# --------------------------------------------------------------------------- building
def network_adapter(registry: Registry) -> TypeAdapter:
    """Validates one ``[networks.NAME]`` table against the installed plugins."""
    from gancompose.recipe import recipe_model
    return TypeAdapter(recipe_model(registry).model_fields["networks"].rebuild_annotation())


def build_from_spec(name: str, spec: dict[str, Any], input_shape, registry: Registry, *,
                    num_classes: int | None = None, what: str = "") -> nn.Module:
    """Build a network from its recipe table alone, without touching the caller's random state."""
    from gancompose.builder.networks import build_network
    block = spec.get("type")
    known = registry.names("block") + ["sequential"]
    if block not in known:
        raise CheckpointError(f"{what}network {name!r} is a {block!r} block, which no installed plugin provides",
                              hint="install the plugin that provides it (`gancompose list-components --kind block` "
                                   "lists what is installed; a failed plugin is reported at the top)")
    try:
        parsed = network_adapter(registry).validate_python({name: spec})[name]
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = format_key_path([p for p in err["loc"] if p != block][1:])
        raise CheckpointError(f"{what}the table of network {name!r} does not validate with the installed "
                              f"plugins: {loc}: {err['msg']}") from None
    with torch.random.fork_rng(devices=[]):
        try:
            net, _ = build_network(name, parsed, tuple(input_shape), registry, num_classes=num_classes)
        except GancomposeError as exc:
            raise CheckpointError(f"{what}cannot rebuild network {name!r}: {exc}") from None
    return net


def _default_network(recipe: dict[str, Any], path) -> str:
    nets = recipe.get("networks", {})
    named = (recipe.get("schedule") or {}).get("generator")
    if named in nets:
        return named
    latent = [n for n, s in nets.items() if s.get("input") == "latent"]
    if len(latent) == 1:
        return latent[0]
    raise CheckpointError(f"{path}: which network? (it has: {', '.join(nets)})", hint="pass --network NAME")


def _from_checkpoint(ck: WeightsFile, name: str | None, ema: bool, registry: Registry):
    """The named network of a run checkpoint, rebuilt and loaded, with its NetworkInfo."""
    from gancompose.builder.run import _input_shape
    from gancompose.recipe import validate_recipe
    raw = ck.recipe
    name = name or _default_network(raw, ck.path)
    prefix = ck.network_prefix(name, ema=ema, drop_ema="export without --ema (the trained weights)")
    recipe = validate_recipe(raw, file=str(ck.path), registry=registry)
    spec_model = recipe.networks[name]
    sample_shape = ck.meta_json("sample_shape")
    num_classes = ck.meta_json("num_classes")
    input_shape = _input_shape(name, spec_model, recipe, DataStandIn(DataShape(tuple(sample_shape or ()), num_classes)))
    spec = {k: v for k, v in spec_model.model_dump(mode="json").items() if k not in TRAINING_KEYS}
    net = build_from_spec(name, spec, input_shape, registry, num_classes=num_classes, what=f"{ck.path}: ")
    load_into(net, ck.network_tensors(prefix), strict=True, target=f"network {name!r}",
              source=f"{ck.path} [{prefix[:-1]}]")
    counters = ck.counters() if "counters" in ck.keys else [None, None]
    info = NetworkInfo(
        path=ck.path, name=name, spec=spec, input_shape=tuple(input_shape),
        sample_shape=None if sample_shape is None else tuple(sample_shape),
        latent=recipe.latent.model_dump(mode="json") if spec["input"] == "latent" else None,
        num_classes=num_classes, weights="ema" if ema else "trained",
        source={"kind": "gancompose checkpoint", "file": ck.path.name, "recipe": recipe.name,
                "description": recipe.description, "step": counters[0], "images_seen": counters[1],
                "gancompose_version": ck.metadata.get("gancompose_version")})
    return net, info


def read_network_file(path: str | Path) -> tuple[WeightsFile, NetworkInfo]:
    """Open a network file and read its metadata (no tensors loaded)."""
    f = WeightsFile(path)
    if f.kind != "network":
        raise CheckpointError(f"{f.path} is a run checkpoint, not a network file",
                              hint="export one with `gancompose export CHECKPOINT -o FILE`")
    spec = f.meta_json("network")
    input_shape = f.meta_json("input_shape")
    if not isinstance(spec, dict) or not input_shape:
        raise CheckpointError(f"{f.path}: its metadata lacks the network's table or input shape")
    sample_shape = f.meta_json("sample_shape")
    info = NetworkInfo(path=f.path, name=f.metadata.get("network_name", "generator"), spec=spec,
                       input_shape=tuple(input_shape), sample_shape=None if sample_shape is None else tuple(sample_shape),
                       latent=f.meta_json("latent"), num_classes=f.meta_json("num_classes"),
                       weights=f.metadata.get("weights", "trained"), dtype=f.metadata.get("dtype", "float32"),
                       source=f.meta_json("source", {}) or {})
    return f, info


# ------------------------------------------------------------------------------ export
def export_network(checkpoint: str | Path, output: str | Path, *, network: str | None = None, ema: bool = False,
                   half: bool = False, registry: Registry | None = None) -> tuple[Path, NetworkInfo]:
    """Write one network of a run checkpoint as a self-contained network file."""
    registry = registry or default_registry()
    ck = WeightsFile(checkpoint)
    if ck.kind != "checkpoint":
        raise CheckpointError(f"{ck.path} is already a network file", hint="copy it, or load it with load_generator")
    net, info = _from_checkpoint(ck, network, ema, registry)
    info.source["sha256"] = sha256_of(ck.path)
    tensors = {}
    for key, value in net.state_dict().items():
        t = value.detach().to("cpu").clone()
        if half and t.is_floating_point():
            t = t.to(torch.float16)
        tensors[f"networks.{info.name}.{key}"] = t.contiguous()
    info.dtype = "float16" if half else "float32"
    path = atomic_save(tensors, output, network_metadata(info))
    info.path = path
    return path, info


def network_metadata(info: NetworkInfo) -> dict[str, str]:
    return {
        "format": NETWORK_FORMAT,
        "gancompose_version": __version__,
        "network_name": info.name,
        "network": json.dumps(info.spec),
        "input_shape": json.dumps(list(info.input_shape)),
        "sample_shape": json.dumps(None if info.sample_shape is None else list(info.sample_shape)),
        "latent": json.dumps(info.latent),
        "num_classes": json.dumps(info.num_classes),
        "weights": info.weights,
        "dtype": info.dtype,
        "source": json.dumps(info.source),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


# -------------------------------------------------------------------------------- load
def load_generator(path: str | Path, *, device: str | torch.device = "cpu", dtype: torch.dtype | None = None,
                   network: str | None = None, ema: bool = False, registry: Registry | None = None) -> nn.Module:
    """Rebuild a network from a file alone, with the installed plugins, in eval mode.

    ``path`` is a network file (``gancompose export``) or a run checkpoint (then ``network`` names the network,
    default the generator, and ``ema`` takes its EMA copy). The module's ``gancompose`` attribute is a
    :class:`NetworkInfo`: ``g.gancompose.sample_latent(16, seed=0)`` draws latents as training did.
    A half-precision export loads into float32 unless ``dtype`` says otherwise. A conditional generator
    is called as ``g(z, labels)``."""
    registry = registry or default_registry()
    f = WeightsFile(path)
    if f.kind == "checkpoint":
        net, info = _from_checkpoint(f, network, ema, registry)
    else:
        f, info = read_network_file(path)
        if network is not None and network != info.name:
            raise CheckpointError(f"{f.path} holds network {info.name!r}, not {network!r}")
        net = build_from_spec(info.name, info.spec, info.input_shape, registry, num_classes=info.num_classes,
                              what=f"{f.path}: ")
        load_into(net, f.network_tensors(f.network_prefix(info.name)), strict=True, target=f"network {info.name!r}",
                  source=str(f.path))
    net.eval()
    net.to(device=device, dtype=dtype) if dtype is not None else net.to(device)
    net.gancompose = info
    return net
