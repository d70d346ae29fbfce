"""Frozen layers for fine-tuning: ``trainable = false`` and ``freeze = ["main.0", ...]`` on a network.

The flags are set once, when the run is built; the optimizer then gets only the parameters that still
require gradients, and the engine's per-phase freezing restores these flags (never more) afterwards.
BatchNorm running statistics are buffers, not parameters: they still update while the network runs in
training mode.
"""
from __future__ import annotations

import difflib

from torch import nn

from gancompose.errors import RecipeError


def _matches(name: str, prefix: str) -> bool:
    prefix = prefix.rstrip(".")
    return name == prefix or name.startswith(prefix + ".")


def _layer_paths(net: nn.Module) -> list[str]:
    """Module paths that own parameters directly (what a freeze prefix usually names)."""
    return [path for path, mod in net.named_modules() if path and any(True for _ in mod.parameters(recurse=False))]


def _hint(prefix: str, net: nn.Module) -> str:
    paths = _layer_paths(net)
    close = difflib.get_close_matches(prefix, paths, n=3, cutoff=0.5)
    listing = ", ".join(paths[:12]) + (f", ... ({len(paths)} in all)" if len(paths) > 12 else "")
    head = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    return f"{head}(layers with parameters: {listing}; `gancompose explain` lists them)"


def apply_trainable(recipe, networks: nn.ModuleDict) -> dict[str, int]:
    """Set ``requires_grad`` from each network's ``trainable`` and ``freeze``; return the frozen parameter
    count by network (networks with nothing frozen left out)."""
    frozen: dict[str, int] = {}
    for name, spec in recipe.networks.items():
        net = networks[name]
        key = ["networks", name]
        if not getattr(spec, "trainable", True):
            net.requires_grad_(False)
            frozen[name] = sum(p.numel() for p in net.parameters())
            continue
        prefixes = list(getattr(spec, "freeze", []) or [])
        if not prefixes:
            continue
        params = list(net.named_parameters())
        for i, prefix in enumerate(prefixes):
            hits = [p for n, p in params if _matches(n, prefix)]
            if not hits:
                raise RecipeError(f"no parameter of the network is under {prefix!r}", key=[*key, "freeze", i],
                                  absolute=True, hint=_hint(prefix, net))
            for p in hits:
                p.requires_grad_(False)
        if not any(p.requires_grad for _, p in params):
            raise RecipeError("freezes every parameter of the network", key=[*key, "freeze"], absolute=True,
                              hint=f"use networks.{name}.trainable = false (and remove [optimizers.{name}])")
        frozen[name] = sum(p.numel() for _, p in params if not p.requires_grad)
    return frozen


def trainable_parameters(net: nn.Module) -> list[nn.Parameter]:
    return [p for p in net.parameters() if p.requires_grad]
