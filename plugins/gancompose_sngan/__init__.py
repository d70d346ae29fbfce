"""SNGAN: spectrally normalized ResNet generator and discriminator blocks (Miyato et al. 2018)."""
from gancompose import hookimpl

from gancompose_sngan.blocks import DiscriminatorParams, GeneratorParams, discriminator, generator


@hookimpl
def register_blocks(register):
    register("sngan_resnet_generator", generator, GeneratorParams, requires=("latent_input",))
    register("sngan_resnet_discriminator", discriminator, DiscriminatorParams,
             provides=("feature_head",))  # features() and a linear head: projection, auxiliary classifier
