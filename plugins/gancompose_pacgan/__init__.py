"""PacGAN (Lin et al. 2018): the discriminator judges m samples at once. The ``pack`` layer and the
``packed_mlp`` block, composable with any loss and regularizer. Registered by entry point like any plugin."""
from gancompose import hookimpl, register_all

from gancompose_pacgan.packing import BLOCKS, LAYERS


@hookimpl
def register_layers(register):
    register_all(register, LAYERS)


@hookimpl
def register_blocks(register):
    register_all(register, BLOCKS)
