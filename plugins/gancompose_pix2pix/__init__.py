"""Paired image-to-image translation (pix2pix, Isola et al. 2017): a U-Net generator and a PatchGAN that judges
(input, output) pairs, trained with an adversarial loss and an L1 term on paired data.

Blocks ``unet_generator`` and ``paired_patchgan``; the regularizer ``pair_reconstruction`` (pix2pix's L1); the
``paired`` schedule; datasets ``paired_folders`` (the official aligned A|B layout), ``facades``
(``gancompose data download facades``) and the offline ``paired_shapes``; the command ``gancompose import pix2pix``
(commands.py). Registered through the ``gancompose`` entry point ``pix2pix`` like any third-party plugin: no line of
the core knows about it. The core's ``gancompose translate`` translates with its generator, through the schedule's
declared ``translations()``.
"""
from gancompose import hookimpl, register_all


@hookimpl
def register_blocks(register):
    from gancompose_pix2pix.networks import BLOCKS
    register_all(register, BLOCKS)


@hookimpl
def register_regularizers(register):
    from gancompose_pix2pix.terms import REGULARIZERS
    register_all(register, REGULARIZERS)


@hookimpl
def register_schedules(register):
    from gancompose_pix2pix.schedule import SCHEDULES
    register_all(register, SCHEDULES)


@hookimpl
def register_datasets(register):
    from gancompose_pix2pix.archives import Facades, FacadesParams
    from gancompose_pix2pix.paired import PairedFolders, PairedFoldersParams
    from gancompose_pix2pix.paired_shapes import PairedShapesDataset, PairedShapesParams
    pairs = ("images", "image_pairs")  # samples are images [C, H, W], in (A, B) pairs
    register("paired_folders", PairedFolders, PairedFoldersParams, provides=pairs)
    register("facades", Facades, FacadesParams, provides=pairs)
    register("paired_shapes", PairedShapesDataset, PairedShapesParams, provides=pairs)


@hookimpl
def register_commands(cli):
    from gancompose_pix2pix.commands import add_commands
    add_commands(cli)


@hookimpl
def register_capabilities(register):
    register("image_pairs",
             "data whose samples are aligned (A, B) image pairs of one size, as paired translation trains on")
    register("image_pair",
             "one generator translating A to B and one discriminator judging (A, B) pairs, trained as pix2pix "
             "(the paired schedule), as the pair reconstruction term needs")
    register("pair_discriminator",
             "a discriminator that takes the input image as its condition: the A and B images of a pair, "
             "concatenated on the channels")
