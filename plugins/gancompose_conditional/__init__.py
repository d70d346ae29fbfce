"""Class conditioning as a plugin: concatenated label embeddings (CGAN), projection discriminators, conditional
batch norm, the AC-GAN classifier head and loss, and a class-accuracy metric."""
from gancompose import hookimpl, register_all

from gancompose_conditional.conditioners import CONDITIONERS
from gancompose_conditional.metrics import METRICS
from gancompose_conditional.terms import TERMS


@hookimpl
def register_conditioners(register):
    register_all(register, CONDITIONERS)


@hookimpl
def register_regularizers(register):
    register_all(register, TERMS)


@hookimpl
def register_metrics(register):
    register_all(register, METRICS)
