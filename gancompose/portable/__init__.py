"""Portable weights: init a network from another run, freeze layers, inspect, export and import.

Imported lazily: ``gancompose.portable.load_generator`` and friends load torch only when used.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "load_generator": "gancompose.portable.export",
    "export_network": "gancompose.portable.export",
    "read_network_file": "gancompose.portable.export",
    "WeightsFile": "gancompose.portable.files",
    "NetworkInfo": "gancompose.portable.export",
    "LoadReport": "gancompose.portable.init_from",
    "load_into": "gancompose.portable.init_from",
    "apply_init_from": "gancompose.portable.init_from",
    "apply_trainable": "gancompose.portable.freeze",
    "inspect_file": "gancompose.portable.inspect",
    "diff_with_recipe": "gancompose.portable.inspect",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
