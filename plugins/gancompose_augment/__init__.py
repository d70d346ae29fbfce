"""Small-data augmentation: DiffAugment (Zhao et al. 2020) and ADA (Karras et al. 2020) as
``augmentation`` components, declared on any network (``[networks.discriminator] augment = {...}``)."""
from gancompose import hookimpl

from gancompose_augment.ada import ADAParams, ada
from gancompose_augment.diffaugment import DiffAugmentParams, diffaugment

AUGMENTATIONS = [("diffaugment", diffaugment, DiffAugmentParams), ("ada", ada, ADAParams)]


@hookimpl
def register_augmentations(register):
    # both transform images [C, H, W]: the recipe's data must provide them (checked while validating)
    for name, factory, params in AUGMENTATIONS:
        register(name, factory, params, requires=("images",))

