"""gancompose's core plugin: layers, the MLP block, optimizers, learning-rate schedules, initializers, the mode-coverage metric and the alternating training schedule. Registered by entry point like any plugin."""
from gancompose import hookimpl, register_all

from gancompose_core.blocks import BLOCKS
from gancompose_core.initializers import INITIALIZERS
from gancompose_core.layers import LAYERS
from gancompose_core.lr_schedules import LR_SCHEDULES
from gancompose_core.metrics import METRICS
from gancompose_core.optimizers import OPTIMIZERS
from gancompose_core.schedules import SCHEDULES



@hookimpl
def register_layers(register):
    register_all(register, LAYERS)


@hookimpl
def register_blocks(register):
    register_all(register, BLOCKS)


@hookimpl
def register_optimizers(register):
    register_all(register, OPTIMIZERS)


@hookimpl
def register_lr_schedules(register):
    register_all(register, LR_SCHEDULES)


@hookimpl
def register_initializers(register):
    register_all(register, INITIALIZERS)


@hookimpl
def register_metrics(register):
    register_all(register, METRICS)


@hookimpl
def register_schedules(register):
    register_all(register, SCHEDULES)


@hookimpl
def register_capabilities(register):
    register("single_pair",
             "one generator and one discriminator trained in alternation")
