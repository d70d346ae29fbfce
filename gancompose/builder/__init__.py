"""From a validated recipe to live objects: networks, optimizers, terms, data and a schedule."""
from gancompose.builder.networks import build_network, NetworkReport, LayerRow
from gancompose.builder.run import Run, TrainState, build_run, resolve_device

__all__ = ["build_network", "NetworkReport", "LayerRow", "Run", "TrainState", "build_run", "resolve_device"]
