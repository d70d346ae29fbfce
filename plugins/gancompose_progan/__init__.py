"""Progressive growing of GANs (ProGAN, Karras et al. 2018): growing generator and discriminator blocks,
pixel norm, minibatch standard deviation and the ``progressive`` schedule (resolution, fade-in alpha, batch
size and learning rate as a pure function of the images seen). Equalized learning rate comes from
``gancompose_core.equalized``; WGAN-GP and the drift penalty from the ``objectives`` plugin.
Registered through the ``gancompose`` entry point ``progan`` like any third-party plugin."""
from gancompose import hookimpl, register_all

from gancompose_progan.layers import LAYERS
from gancompose_progan.networks import BLOCKS
from gancompose_progan.schedule import SCHEDULES



@hookimpl
def register_layers(register):
    register_all(register, LAYERS)


@hookimpl
def register_blocks(register):
    register_all(register, BLOCKS)


@hookimpl
def register_schedules(register):
    register_all(register, SCHEDULES)


@hookimpl
def register_capabilities(register):
    register("growing",
             "a network that grows (`set_growth(resolution, alpha)`), as the progressive schedule needs of both "
             "networks it trains")
