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


@hookimpl
def register_capabilities(register):
    register("class_head",
             "a discriminator with a second head that classifies its input")
    register("feature_head",
             "a network that exposes its features and a final linear layer on them (`features()` and `head`, or a "
             "sequential network ending in `linear`), for a class head or a projection to read; needed from the "
             "block of the very network that is conditioned")
