"""Style family: StyleGAN and StyleGAN2 generators, the StyleGAN2 discriminator, the path-length regularizer.

Blocks: ``stylegan2_generator`` (mapping network, modulated convolutions with demodulation, skip toRGBs),
``stylegan2_discriminator`` (residual, minibatch stddev, optional label projection) and
``stylegan_generator`` (StyleGAN 1: constant input, AdaIN, per-layer noise). Both generators mix styles in
training and keep the mean ``w``; the plugin adds ``gancompose sample --truncation / --mixing`` for them
(sampling.py, through the ``register_sample_options`` hook). Regularizer: ``path_length`` (StyleGAN2, lazy).
R1 and the non-saturating loss come from the ``objectives`` plugin; equalized-LR layers from
``gancompose_core.equalized``. Command: ``gancompose import stylegan2 network-snapshot.pkl -o NAME.safetensors``
(commands.py, importer.py; snapshot.py reads the pickle without running code from it). See docs/style.md.
"""
from gancompose import hookimpl

from gancompose_style.discriminator import StyleGAN2DiscriminatorParams, stylegan2_discriminator
from gancompose_style.stylegan1 import StyleGANGeneratorParams, stylegan_generator
from gancompose_style.synthesis import StyleGAN2GeneratorParams, stylegan2_generator
from gancompose_style.terms import PathLength, PathLengthParams


@hookimpl
def register_blocks(register):
    register("stylegan2_generator", stylegan2_generator, StyleGAN2GeneratorParams, requires=("latent_input",))
    register("stylegan2_discriminator", stylegan2_discriminator, StyleGAN2DiscriminatorParams)
    register("stylegan_generator", stylegan_generator, StyleGANGeneratorParams, requires=("latent_input",))


@hookimpl
def register_regularizers(register):
    register("path_length", PathLength, PathLengthParams)


@hookimpl
def register_commands(cli):
    from gancompose_style.commands import add_commands
    add_commands(cli)


@hookimpl
def register_sample_options(register):
    from gancompose_style.sampling import OPTIONS
    for option in OPTIONS:
        register(option)


@hookimpl
def register_capabilities(register):
    register("style_generator",
             "a style-based generator: mapping network, synthesis, running path-length mean")
