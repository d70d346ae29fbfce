"""DCGAN blocks (Radford et al. 2016) as a gancompose plugin."""
from gancompose import hookimpl

from gancompose_dcgan.blocks import DiscriminatorParams, GeneratorParams, discriminator, generator


@hookimpl
def register_blocks(register):
    register("dcgan_generator", generator, GeneratorParams, requires=("latent_input",))
    register("dcgan_discriminator", discriminator, DiscriminatorParams, 
             provides=("feature_head",))  # features() and a linear head: projection, auxiliary classifier
