"""Building a network from its recipe table, checked by a dry forward pass.

A ``sequential`` network is built layer by layer: each layer gets the previous layer's output shape,
and a shape that does not fit is reported at ``networks.NAME.layers[i]``. A block is built whole and
checked the same way.
"""
from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field

import torch
from torch import nn

from gancompose.engine.augment import attach_augmentation
from gancompose.errors import GancomposeError, RecipeError
from gancompose.nn import NormalizationLayer, ScaledWeight, spectral_norm
from gancompose.protocols import Augmentation, takes_labels
from gancompose.registry import Registry

Shape = tuple[int, ...]


@dataclass
class LayerRow:
    path: str
    kind: str
    out_shape: Shape
    params: int
    #: the row's module: whether its weighted layers are spectrally normalized (read when explained)
    module: nn.Module | None = field(default=None, repr=False, compare=False)

    @property
    def spectral_norm(self) -> str:
        """'yes' (every weighted layer in the row normalized), 'no', 'partly', or '' (no weighted layer)."""
        if self.module is None:
            return ""
        flags = [is_normalized(m) for _, m in weighted_layers(self.module)]
        return "" if not flags else "yes" if all(flags) else "partly" if any(flags) else "no"


@dataclass
class NetworkReport:
    name: str
    in_shape: Shape
    out_shape: Shape
    params: int
    rows: list[LayerRow] = field(default_factory=list)


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def dry_forward(module: nn.Module, in_shape: Shape) -> torch.Tensor:
    """Run a batch of two zero samples through ``module`` without touching its state."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            x = torch.zeros(2, *in_shape)
            return module(x, torch.zeros(2, dtype=torch.long)) if takes_labels(module) else module(x)
    finally:
        module.train(was_training)


#: a layer or block whose weights and buffers would need more bytes than this is refused before it is built
MAX_NETWORK_BYTES = int(os.environ.get("GANCOMPOSE_MAX_NETWORK_BYTES", 32 * 2**30))


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n} B"


def estimate_bytes(make) -> int | None:
    """Bytes of the parameters and buffers of the module ``make()`` returns, built on the meta device
    (nothing allocated, the RNG left as it was); None when the factory cannot build on the meta device."""
    rng = torch.get_rng_state()
    try:
        with torch.device("meta"):
            module = make()
        return sum(t.numel() * t.element_size() for t in itertools.chain(module.parameters(), module.buffers()))
    except Exception:
        return None
    finally:
        torch.set_rng_state(rng)


def refuse_huge(make, what: str, key: list, so_far: int = 0) -> int:
    """Raise a RecipeError at ``key`` if what ``make()`` builds would need more than MAX_NETWORK_BYTES
    (with ``so_far`` bytes of earlier layers); else return its estimated bytes (0 if unknown)."""
    n = estimate_bytes(make) or 0
    if so_far + n > MAX_NETWORK_BYTES:
        part = f" ({_human(n)} for this part)" if so_far else ""
        raise RecipeError(f"{what} would need {_human(so_far + n)} of weights{part}, more "
                          f"than the limit of {_human(MAX_NETWORK_BYTES)}; nothing was allocated", key=key,
                          hint="check the sizes (widths, channels, image size); the limit is the environment "
                               "variable GANCOMPOSE_MAX_NETWORK_BYTES")
    return n


def call_factory(comp, key: list, *args):
    """``comp.factory(*args)``: a RecipeError is placed at ``key``; any other exception names the plugin."""
    try:
        return comp.factory(*args)
    except RecipeError as exc:
        raise exc.under(key) from None
    except GancomposeError:
        raise
    except Exception as exc:
        raise RecipeError(f"{comp.kind} {comp.name!r} (plugin {comp.plugin!r}) failed while building: "
                          f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
                          key=key) from exc


def require_base(comp, obj, base: type, public: str, key: list):
    """``obj``, which ``comp``'s factory built, if it is an instance of the base its kind declares (``public``:
    where a plugin imports it from, gancompose/protocols.py lists them); else one error naming the plugin."""
    if isinstance(obj, base):
        return obj
    raise RecipeError(f"{comp.kind} {comp.name!r} (plugin {comp.plugin!r}) built a {type(obj).__name__}, not a "
                      f"{public}", key=key, absolute=True,
                      hint=f"the plugin's {comp.kind} must subclass {public} (docs/plugins.md)")


def _shape_error(what: str, in_shape: Shape, exc: Exception, key: list) -> RecipeError:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return RecipeError(f"{what} cannot take an input of shape {tuple(in_shape)} (per sample): {msg}", key=key)


def build_network(name: str, spec, in_shape: Shape, registry: Registry,
                  num_classes: int | None = None) -> tuple[nn.Module, NetworkReport]:
    """Build a network from its recipe table. With ``condition``, the network is built for the input
    shape the conditioner asks for and wrapped to take ``(x, labels)``."""
    key = ["networks", name]
    check_class_count(spec, num_classes, key)
    conditioner = None
    if spec.condition is not None:
        ckey = [*key, "condition"]
        if num_classes is None:
            raise RecipeError("the data has no labels to condition on", key=ckey,
                              hint="use a labelled dataset (digits, shapes, mnist, cifar10, image_folder with "
                                   "labels = 'subfolders')")
        if spec.condition.num_classes is not None and spec.condition.num_classes != num_classes:
            raise RecipeError(f"expected {num_classes} (the data has {num_classes} classes), got "
                              f"{spec.condition.num_classes}", key=[*ckey, "num_classes"],
                              hint="remove num_classes to read it from the data")
        try:
            conditioner = registry.get("conditioner", spec.condition.type).factory(spec.condition, num_classes)
            outer_shape, in_shape = tuple(in_shape), tuple(conditioner.in_shape(tuple(in_shape)))
        except RecipeError as exc:
            raise exc.under(ckey) from None
    net, report = _build_plain(name, spec, tuple(in_shape), registry, key)
    if spec.init is not None:
        init = registry.get("initializer", spec.init.type).factory(spec.init)
        before = [(path, m, stored_weight(m), stored_weight(m)._version) for path, m in weighted_layers(net)]
        init(net)  # an initializer writes in place (the version counts) or sets a new tensor
        missed = [(path, m) for path, m, w, v in before if stored_weight(m) is w and w._version == v]
        if missed:
            raise _refuse_partial_flag("init", f"init {spec.init.type!r}", name, spec, net, missed,
                                       [*key, "init"], "left their weights unchanged (the built-in initializers set "
                                       "torch convolutions and linear layers; a block with its own weight scheme, "
                                       "such as equalized learning rate's N(0, 1) weights scaled at run time, "
                                       "initializes itself)")
    if conditioner is not None:
        try:
            net = conditioner.wrap(net, in_shape)
        except RecipeError as exc:
            raise exc.under([*key, "condition"]) from None
        try:
            out = dry_forward(net, outer_shape)
        except Exception as exc:
            raise _shape_error(f"conditional network ({spec.condition.type})", outer_shape, exc,
                               [*key, "condition"]) from None
        report = NetworkReport(name, outer_shape, tuple(out.shape[1:]), count_params(net), report.rows)
    if spec.spectral_norm:  # after the conditioner: its layers (a label embedding, a class head) are the network's too
        _refuse_contradicting_condition(name, spec, key)
        skipped = apply_spectral_norm(net)
        if skipped:
            raise _refuse_partial_spectral_norm(name, spec, net, skipped, key)
    if spec.augment is not None:  # after the dry forward passes: applied in training mode only
        akey = [*key, "augment"]
        try:
            comp = registry.get("augmentation", spec.augment.type)
            aug = require_base(comp, comp.factory(spec.augment, tuple(report.in_shape)), Augmentation,
                               "gancompose.protocols.Augmentation", [*akey, "type"])
        except RecipeError as exc:
            raise exc.under(akey) from None
        attach_augmentation(net, aug)
    return net, report


def check_class_count(spec, num_classes: int | None, key: list) -> None:
    """A block's own ``num_classes`` parameter (0: unconditional) must equal the data's class count."""
    if "num_classes" not in type(spec).model_fields:  # (a sequential network has none)
        return
    own = spec.num_classes
    if not own or own == num_classes:
        return
    if num_classes is None:
        raise RecipeError(f"{spec.type!r} is built for {own} classes, but the data has no labels",
                          key=[*key, "num_classes"],
                          hint="set num_classes = 0 (unconditional), or use a labelled dataset")
    raise RecipeError(f"expected {num_classes} (the data has {num_classes} classes), got {own}",
                      key=[*key, "num_classes"], hint=f"set num_classes = {num_classes}, or 0 for unconditional")


def _build_plain(name: str, spec, in_shape: Shape, registry: Registry, key: list) -> tuple[nn.Module, NetworkReport]:
    if spec.type == "sequential":
        layers, rows, shape, nbytes = [], [], tuple(in_shape), 0
        for i, lspec in enumerate(spec.layers):
            lkey = [*key, "layers", i]
            comp = registry.get("layer", lspec.type)
            nbytes += refuse_huge(lambda: comp.factory(lspec, shape), f"network {name!r}", lkey, nbytes)
            layer = call_factory(comp, lkey, lspec, shape)
            try:
                out = dry_forward(layer, shape)
            except Exception as exc:
                raise _shape_error(f"layer {i} ({lspec.type})", shape, exc, lkey) from None
            shape = tuple(out.shape[1:])
            layers.append(layer)
            rows.append(LayerRow(str(i), lspec.type, shape, count_params(layer), layer))
        net: nn.Module = nn.Sequential(*layers)
        report = NetworkReport(name, tuple(in_shape), shape, count_params(net), rows)
    else:
        comp = registry.get("block", spec.type)
        refuse_huge(lambda: comp.factory(spec, tuple(in_shape)), f"network {name!r} ({spec.type})", key)
        net = call_factory(comp, key, spec, tuple(in_shape))
        report = _report_block(name, net, tuple(in_shape), spec.type, key)
    return net, report


#: torch layers whose ``weight`` spectral normalization applies to as it is (a linear map of the input)
_SN_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
             nn.Embedding)


def is_normalized(module: nn.Module) -> bool:
    """Whether ``module.weight`` is spectrally normalized (a spectral-norm parametrization on it)."""
    if not nn.utils.parametrize.is_parametrized(module, "weight"):
        return False
    return any("SpectralNorm" in type(p).__name__ for p in module.parametrizations["weight"])


def stored_weight(module: nn.Module) -> torch.Tensor | None:
    """The tensor a module stores as its ``weight`` (under a parametrization, the original), or None."""
    if nn.utils.parametrize.is_parametrized(module, "weight"):
        return module.parametrizations["weight"].original
    return module._parameters.get("weight")


def weighted_layers(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(path, module)`` of every module with its own ``weight`` of two or more dimensions (a matrix or a
    kernel: linear maps, convolutions, embeddings, modulated convolutions), parametrized or not; the tables of a
    :class:`gancompose.nn.NormalizationLayer` (per-feature gains, as a batch norm's) are not among them."""
    out = []
    skip = [p for p, m in net.named_modules() if isinstance(m, NormalizationLayer)]
    for path, module in net.named_modules():
        if "parametrizations" in path.split(".") or any(path.startswith(f"{s}.") for s in skip):
            continue
        weight = stored_weight(module)
        if isinstance(weight, torch.Tensor) and weight.dim() >= 2:
            out.append((path, module))
    return out


def apply_spectral_norm(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """Spectral normalization on every weighted layer of ``net`` not already normalized: torch's convolutions,
    linear layers and embeddings as they are, :class:`gancompose.nn.ScaledWeight` layers (equalized learning
    rate) on their effective weight. Applied after the initializer, so it normalizes the initialized weights.
    Returns the weighted layers it could not normalize (their class declares no way to), which the builder
    refuses: a flag that takes effect on some layers only is never accepted."""
    skipped = []
    for path, module in weighted_layers(net):
        if is_normalized(module):
            continue
        if isinstance(module, ScaledWeight):
            module.spectral_normalize()
        elif isinstance(module, _SN_TYPES):
            spectral_norm(module)
        else:
            skipped.append((path, module))
    return skipped


def _refuse_partial_flag(flag: str, what: str, name: str, spec, net: nn.Module, skipped, key: list,
                         why: str) -> RecipeError:
    total = len(weighted_layers(net))
    listed = ", ".join(f"{p or '(the network)'} ({type(m).__name__})" for p, m in skipped[:4])
    more = f" and {len(skipped) - 4} more" if len(skipped) > 4 else ""
    return RecipeError(
        f"{what} cannot take effect on {len(skipped)} of the {total} weighted layers of {spec.type!r}: "
        f"{listed}{more}; it {why}", key=key,
        hint=f"remove {flag} from networks.{name}, or use a block whose layers all take it")


def _refuse_contradicting_condition(name: str, spec, key: list) -> None:
    """A condition whose own ``spectral_norm = false`` (projection's embedding) contradicts the network's flag."""
    cond = spec.condition
    if cond is not None and "spectral_norm" in type(cond).model_fields and cond.spectral_norm is False:
        raise RecipeError(f"condition {cond.type!r} says spectral_norm = false while networks.{name}.spectral_norm = "
                          "true normalizes every weighted layer of the network, the condition's included",
                          key=[*key, "condition", "spectral_norm"],
                          hint=f"remove one of the two: networks.{name}.spectral_norm normalizes the condition too")


def _refuse_partial_spectral_norm(name: str, spec, net: nn.Module, skipped, key: list) -> RecipeError:
    kinds = sorted({type(m).__name__ for _, m in skipped})
    err = _refuse_partial_flag(
        "spectral_norm", "spectral_norm = true", name, spec, net, skipped, [*key, "spectral_norm"],
        f"normalizes torch convolutions, linear layers and embeddings and gancompose.nn.ScaledWeight layers, and "
        f"{', '.join(kinds)} {'is' if len(kinds) == 1 else 'are'} none of these, so there is no weight to "
        "normalize as declared")
    err.hint += " (gancompose explain shows a 'spectral norm' column per layer)"
    return err


def _report_block(name: str, net: nn.Module, in_shape: Shape, type_name: str, key: list) -> NetworkReport:
    rows: list[LayerRow] = []
    hooks = []
    for path, mod in net.named_modules():
        children = [name for name, _ in mod.named_children() if name != "parametrizations"]
        if path and "parametrizations" not in path.split(".") and not children:
            def hook(m, args, out, _path=path):
                shape = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else ()
                rows.append(LayerRow(_path, type(m).__name__, shape, count_params(m), m))
            hooks.append(mod.register_forward_hook(hook))
    try:
        out = dry_forward(net, in_shape)
    except Exception as exc:
        raise _shape_error(f"block {type_name!r}", in_shape, exc, key) from None
    finally:
        for h in hooks:
            h.remove()
    return NetworkReport(name, in_shape, tuple(out.shape[1:]), count_params(net), rows)
