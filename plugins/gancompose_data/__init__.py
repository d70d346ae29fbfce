"""Built-in datasets of gancompose: procedural data that needs no files (``gaussian_mixture``,
``shapes``, ``digits``), any folder of images (``image_folder``) and the standard sets read from
local files (``mnist``, ``cifar10``; fetched with ``gancompose data download``)."""
from __future__ import annotations

from gancompose import hookimpl


@hookimpl
def register_datasets(register):
    from gancompose_data.digits import DigitsDataset, DigitsParams
    from gancompose_data.image_folder import ImageFolderDataset, ImageFolderParams
    from gancompose_data.mixtures import GaussianMixtureDataset, GaussianMixtureParams
    from gancompose_data.shapes import ShapesDataset, ShapesParams
    from gancompose_data.torchvision_sets import CIFAR10Dataset, CIFAR10Params, MNISTDataset, MNISTParams

    register("gaussian_mixture", GaussianMixtureDataset, GaussianMixtureParams)  # points in the plane
    images = ("images",)  # samples are images [C, H, W]: what augmentations need
    register("shapes", ShapesDataset, ShapesParams, provides=images)
    register("digits", DigitsDataset, DigitsParams, provides=images)
    register("image_folder", ImageFolderDataset, ImageFolderParams, provides=images)
    register("mnist", MNISTDataset, MNISTParams, provides=images)
    register("cifar10", CIFAR10Dataset, CIFAR10Params, provides=images)


@hookimpl
def register_capabilities(register):
    register("images",
             "data whose samples are images [C, H, W] (not points in the plane), as augmentations need")
