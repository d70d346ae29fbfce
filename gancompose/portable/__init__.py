"""Portable weights: the one loader of weights files (load.py), inspect and export. What a recipe loads at build
time (init_from, frozen layers) is the builder's (gancompose/builder/init_from.py, freeze.py).

Imported lazily: ``gancompose.portable.load_generator`` and friends load torch only when used.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "load_generator": "gancompose.portable.load",
    "load_for_sampling": "gancompose.portable.load",
    "build_from_spec": "gancompose.portable.load",
    "export_network": "gancompose.portable.export",
    "read_network_file": "gancompose.portable.load",
    "WeightsFile": "gancompose.weights_file",
    "NetworkInfo": "gancompose.portable.load",
    "LoadReport": "gancompose.builder.init_from",
    "load_into": "gancompose.builder.init_from",
    "apply_init_from": "gancompose.builder.init_from",
    "apply_trainable": "gancompose.builder.freeze",
    "inspect_file": "gancompose.portable.inspect",
    "diff_with_recipe": "gancompose.portable.inspect",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
