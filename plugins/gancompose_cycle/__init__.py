"""Cycle pairs (CycleGAN, Zhu et al. 2017): two generators and two discriminators tied by cycle-consistency
and identity terms, trained on unpaired two-domain data.

Blocks ``resnet_generator`` and ``patchgan_discriminator``; regularizers ``cycle_consistency`` and
``identity``; the ``cycle`` schedule (with the image pool); datasets ``unpaired_folders``, ``monet2photo``
(``gancompose data download monet2photo``) and the offline ``unpaired_shapes``; the ``translation``
metric. Registered through the
``gancompose`` entry point ``cycle`` like any third-party plugin.
"""
from gancompose import hookimpl


@hookimpl
def register_blocks(register):
    from gancompose_cycle.networks import BLOCKS
    for name, factory, params in BLOCKS:
        register(name, factory, params)


@hookimpl
def register_regularizers(register):
    from gancompose_cycle.terms import REGULARIZERS
    for name, factory, params in REGULARIZERS:
        register(name, factory, params)


@hookimpl
def register_schedules(register):
    from gancompose_cycle.schedule import SCHEDULES
    for name, factory, params in SCHEDULES:
        register(name, factory, params)


@hookimpl
def register_datasets(register):
    from gancompose_cycle.archives import Monet2Photo, Monet2PhotoParams
    from gancompose_cycle.unpaired import UnpairedFolders, UnpairedFoldersParams
    from gancompose_cycle.unpaired_shapes import UnpairedShapesDataset, UnpairedShapesParams
    register("unpaired_folders", UnpairedFolders, UnpairedFoldersParams)
    register("monet2photo", Monet2Photo, Monet2PhotoParams)
    register("unpaired_shapes", UnpairedShapesDataset, UnpairedShapesParams)


@hookimpl
def register_metrics(register):
    from gancompose_cycle.metrics import METRICS
    for name, factory, params in METRICS:
        register(name, factory, params)
