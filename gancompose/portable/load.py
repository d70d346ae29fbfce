"""The one loader of weights files: open a run checkpoint or a network file and rebuild its networks with the
installed plugins, for ``sample``, ``translate``, ``eval``, ``inspect``, ``export`` and :func:`load_generator`.

* :func:`load_for_sampling`: a whole run rebuilt from a checkpoint (its recipe is in the metadata), no data: the
  data's recorded shape stands in for it (:func:`recorded_data`).
* :func:`network_from_checkpoint`: one network of a run checkpoint, with its :class:`NetworkInfo`.
* :func:`read_network_file` and :func:`build_from_spec`: a network file (``gancompose export``), rebuilt from its
  table alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from pydantic import TypeAdapter, ValidationError
from torch import nn

from gancompose.builder.init_from import load_into
from gancompose.data import DataShape, DataStandIn
from gancompose.errors import CheckpointError, GancomposeError, format_key_path
from gancompose.registry import Registry, default_registry
from gancompose.weights_file import WeightsFile

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
def network_adapter(registry: Registry, spec: dict[str, Any] | None = None) -> TypeAdapter:
    """Validates ``[networks.NAME]`` tables against the installed plugins (given ``spec``, one such table: a model
    of the components it names only)."""
    from gancompose.recipe.schema import recipe_model, used_types
    model = recipe_model(registry, None if spec is None else used_types(spec))
    return TypeAdapter(model.model_fields["networks"].rebuild_annotation())


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
        parsed = network_adapter(registry, spec).validate_python({name: spec})[name]
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


def build_checkpoint_network(ck: WeightsFile, name: str, registry: Registry):
    """Network ``name`` of a run checkpoint, built from the checkpoint's recipe and recorded data shape (weights not
    loaded): ``(module, recipe, table without the training keys, input shape, recorded data)``."""
    from gancompose.builder.run import network_input_shape
    from gancompose.recipe import validate_recipe
    recipe = validate_recipe(ck.recipe, file=str(ck.path), registry=registry)
    if name not in recipe.networks:
        raise CheckpointError(f"{ck.path} has no network {name!r}", hint=f"its networks: {', '.join(recipe.networks)}")
    spec_model = recipe.networks[name]
    data = recorded_data(ck, required=False)
    input_shape = network_input_shape(name, spec_model, recipe, data)
    spec = {k: v for k, v in spec_model.model_dump(mode="json").items() if k not in TRAINING_KEYS}
    net = build_from_spec(name, spec, input_shape, registry, num_classes=data.num_classes, what=f"{ck.path}: ")
    return net, recipe, spec, input_shape, data


def network_from_checkpoint(ck: WeightsFile, name: str | None, ema: bool, registry: Registry):
    """The named network of a run checkpoint, rebuilt and loaded, with its NetworkInfo."""
    name = name or _default_network(ck.recipe, ck.path)
    prefix = ck.network_prefix(name, ema=ema, drop_ema="export without --ema (the trained weights)")
    net, recipe, spec, input_shape, data = build_checkpoint_network(ck, name, registry)
    sample_shape = data.sample_shape or None
    num_classes = data.num_classes
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


def recorded_data(ck, *, required: bool = True) -> DataStandIn:
    """The data's sample shape and class count as a checkpoint records them, standing in for the data."""
    shape = tuple(ck.meta_json("sample_shape") or ())
    if required and not shape:
        raise CheckpointError(f"{ck.path} does not record the data's sample shape")
    return DataStandIn(DataShape(shape, ck.meta_json("num_classes")))


def load_for_sampling(path: str | Path, *, device: str = "cpu", registry: Registry | None = None):
    """A run rebuilt from a checkpoint alone (its recipe is in the metadata), weights loaded, no data."""
    from gancompose.builder import Run, resolve_device
    from gancompose.builder.run import build_networks, ema_copy
    from gancompose.checkpoint import Checkpoint, load_networks
    from gancompose.recipe import validate_recipe
    registry = registry or default_registry()
    ckpt = Checkpoint(path)  # a run checkpoint: a network file is refused, saying what it is
    recipe = validate_recipe(ckpt.recipe, file=str(path), registry=registry)
    data = recorded_data(ckpt)
    networks, reports = build_networks(recipe, registry, data)
    networks.to(resolve_device(device))
    run = Run(recipe=recipe, registry=registry, device=resolve_device(device), dataset=data, networks=networks,
              reports=reports)
    if recipe.train.ema is not None:
        name = recipe.train.ema.network
        run.ema[name] = ema_copy(networks[name])
    load_networks(run, ckpt)
    return run


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
        net, info = network_from_checkpoint(f, network, ema, registry)
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
