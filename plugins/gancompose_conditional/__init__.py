"""Class conditioning as a plugin: concatenated label embeddings (CGAN), projection discriminators, conditional
batch norm, the AC-GAN classifier head and loss, and a class-accuracy metric."""
from gancompose import hookimpl

from gancompose_conditional.conditioners import CONDITIONERS
from gancompose_conditional.metrics import METRICS
from gancompose_conditional.terms import TERMS


@hookimpl
def register_conditioners(register):
    for name, factory, params in CONDITIONERS:
        register(name, factory, params)


@hookimpl
def register_regularizers(register):
    for name, factory, params in TERMS:
        register(name, factory, params)


@hookimpl
def register_metrics(register):
    for name, factory, params in METRICS:
        register(name, factory, params)
