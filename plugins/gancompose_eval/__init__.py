"""gancompose's evaluation plugin: FID, KID, Inception Score and precision/recall on Inception-v3 features
(from a local weights file), on features of a classifier trained on the run's own labelled data (offline),
or on the raw samples; and PacGAN packing as discriminator components. Registered by entry point."""
from gancompose import hookimpl

from gancompose_eval.metrics import METRICS
from gancompose_eval.packing import BLOCKS, LAYERS


def _register_all(register, table) -> None:
    for name, factory, params in table:
        register(name, factory, params)


@hookimpl
def register_metrics(register):
    _register_all(register, METRICS)


@hookimpl
def register_layers(register):
    _register_all(register, LAYERS)


@hookimpl
def register_blocks(register):
    _register_all(register, BLOCKS)
