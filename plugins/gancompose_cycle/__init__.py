"""Cycle pairs (CycleGAN, Zhu et al. 2017): two generators and two discriminators tied by cycle-consistency
and identity terms, trained on unpaired two-domain data.

Blocks ``resnet_generator`` and ``patchgan_discriminator``; regularizers ``cycle_consistency`` and
``identity``; the ``cycle`` schedule (with the image pool); datasets ``unpaired_folders``, ``monet2photo``
(``gancompose data download monet2photo``) and the offline ``unpaired_shapes``; the ``translation``
metric; the command ``gancompose import cyclegan`` (commands.py); its directions for ``gancompose translate``
(``CycleParams.translations``). Registered
through the ``gancompose`` entry point ``cycle`` like any third-party plugin.
"""
from gancompose import hookimpl, register_all


@hookimpl
def register_blocks(register):
    from gancompose_cycle.networks import BLOCKS
    register_all(register, BLOCKS)


@hookimpl
def register_regularizers(register):
    from gancompose_cycle.terms import REGULARIZERS
    register_all(register, REGULARIZERS)


@hookimpl
def register_schedules(register):
    from gancompose_cycle.schedule import SCHEDULES
    register_all(register, SCHEDULES)


@hookimpl
def register_datasets(register):
    from gancompose_cycle.archives import Monet2Photo, Monet2PhotoParams
    from gancompose_cycle.unpaired import UnpairedFolders, UnpairedFoldersParams
    from gancompose_cycle.unpaired_shapes import UnpairedShapesDataset, UnpairedShapesParams
    images = ("images",)  # each domain's samples are images [C, H, W]
    register("unpaired_folders", UnpairedFolders, UnpairedFoldersParams, provides=images)
    register("monet2photo", Monet2Photo, Monet2PhotoParams, provides=images)
    register("unpaired_shapes", UnpairedShapesDataset, UnpairedShapesParams, provides=images)


@hookimpl
def register_metrics(register):
    from gancompose_cycle.metrics import METRICS
    register_all(register, METRICS)


@hookimpl
def register_commands(cli):
    from gancompose_cycle.commands import add_commands
    add_commands(cli)


@hookimpl
def register_capabilities(register):
    register("cycle_pair",
             "two generators and two discriminators trained as a translation pair (cycle and identity terms)")
