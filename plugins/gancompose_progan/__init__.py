"""Progressive growing of GANs (ProGAN, Karras et al. 2018): growing generator and discriminator blocks,
pixel norm, minibatch standard deviation and the ``progressive`` schedule (resolution, fade-in alpha, batch
size and learning rate as a pure function of the images seen). Equalized learning rate comes from
``gancompose_core.equalized``; WGAN-GP and the drift penalty from the ``wasserstein`` plugin.
Registered through the ``gancompose`` entry point ``progan`` like any third-party plugin."""
from gancompose import hookimpl

from gancompose_progan.layers import LAYERS
from gancompose_progan.networks import BLOCKS
from gancompose_progan.schedule import SCHEDULES


def _register_all(register, table) -> None:
    for name, factory, params in table:
        register(name, factory, params)


@hookimpl
def register_layers(register):
    _register_all(register, LAYERS)


@hookimpl
def register_blocks(register):
    _register_all(register, BLOCKS)


@hookimpl
def register_schedules(register):
    _register_all(register, SCHEDULES)
