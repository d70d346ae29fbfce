"""MNIST and CIFAR-10 from local files (torchvision's layouts), held in memory.

The files are never fetched implicitly: ``gancompose data download mnist --root DIR`` does that
(:func:`gancompose_data.download.download_dataset`).
"""
from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from pydantic import Field

from gancompose.data import DataShape, DatasetParams
from gancompose.errors import DataError
from gancompose_data import download as _dl
from gancompose_data._base import InMemoryImages


class MNISTParams(DatasetParams):
    """Parameters of the ``mnist`` dataset."""

    root: str = Field("data", description="folder holding MNIST/raw/ (fetch it with: gancompose data download "
                                          "mnist --root ROOT)")
    train: bool = Field(True, description="the 60000 training images (false: the 10000 test images)")
    image_size: int = Field(28, ge=8, le=512, description="resize the 28x28 digits to this size")

    def data_shape(self) -> DataShape:
        return DataShape((1, self.image_size, self.image_size), 10, 60000 if self.train else 10000)

    def missing(self) -> str | None:
        return f"run: {_dl.download_command('mnist', self.root)}" if _dl.missing_files("mnist", self.root) else None


class CIFAR10Params(DatasetParams):
    """Parameters of the ``cifar10`` dataset."""

    root: str = Field("data", description="folder holding cifar-10-batches-py/ (fetch it with: gancompose data "
                                          "download cifar10 --root ROOT)")
    train: bool = Field(True, description="the 50000 training images (false: the 10000 test images)")
    image_size: int = Field(32, ge=8, le=512, description="resize the 32x32 images to this size")

    def data_shape(self) -> DataShape:
        return DataShape((3, self.image_size, self.image_size), 10, 50000 if self.train else 10000)

    def missing(self) -> str | None:
        return (f"run: {_dl.download_command('cifar10', self.root)}" if _dl.missing_files("cifar10", self.root)
                else None)


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 ``[N, C, H, W]`` -> uint8 ``[N, C, size, size]`` (bilinear, anti-aliased), in chunks."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = torch.empty((*images.shape[:2], size, size), dtype=torch.uint8)
    for i in range(0, images.shape[0], 4096):
        chunk = F.interpolate(images[i:i + 4096].float(), size=(size, size), mode="bilinear", antialias=True,
                              align_corners=False)
        out[i:i + 4096] = chunk.round_().clamp_(0, 255).to(torch.uint8)
    return out


def _missing(name: str, root: str, pretty: str) -> DataError:
    missing = _dl.missing_files(name, root)
    listing = ", ".join(str(p) for p in missing)
    return DataError(f"{pretty} not found under {root!r}: missing {listing}",
                     hint=f"run: {_dl.download_command(name, root)}")


def _torchvision_cifar10():
    """torchvision's CIFAR10 checking the members' md5 from :data:`download.CIFAR10_MEMBERS` (built when first
    needed: importing torchvision costs seconds, which listing or validating recipes should not pay)."""
    import torchvision

    class TorchvisionCIFAR10(torchvision.datasets.CIFAR10):
        @property
        def train_list(self):  # type: ignore[override]
            return [[n, _dl.CIFAR10_MEMBERS[n]] for n in ("data_batch_1", "data_batch_2", "data_batch_3",
                                                           "data_batch_4", "data_batch_5")]

        @property
        def test_list(self):  # type: ignore[override]
            return [["test_batch", _dl.CIFAR10_MEMBERS["test_batch"]]]

        @property
        def meta(self):  # type: ignore[override]
            return {"filename": "batches.meta", "key": "label_names", "md5": _dl.CIFAR10_MEMBERS["batches.meta"]}

    return TorchvisionCIFAR10


class MNISTDataset(InMemoryImages):
    """MNIST handwritten digits (1x28x28, 10 classes) from local files (gancompose data download mnist).

    Read with ``torchvision.datasets.MNIST`` from ``ROOT/MNIST/raw/`` (never downloaded implicitly)
    and held in memory as uint8; items are scaled to [-1, 1], labelled with the digit.
    """

    def __init__(self, params: MNISTParams):
        self.params = params
        if _dl.missing_files("mnist", params.root):
            raise _missing("mnist", params.root, "MNIST")
        try:
            import torchvision
            ds = torchvision.datasets.MNIST(params.root, train=params.train, download=False)
        except Exception as exc:
            raise DataError(f"cannot read MNIST under {os.path.join(params.root, 'MNIST', 'raw')!r}: "
                            f"{type(exc).__name__}: {exc}",
                            hint=f"delete that folder and run: {_dl.download_command('mnist', params.root)}") from None
        self.classes = list(ds.classes)
        images = _resize(ds.data.unsqueeze(1), params.image_size)
        super().__init__(images, ds.targets, num_classes=10)

    @staticmethod
    def download(root: str | os.PathLike, mirror: str | None = None) -> None:
        """Fetch MNIST's four files into ``root/MNIST/raw/`` (md5-verified) and unpack them."""
        _dl.download_dataset("mnist", root, mirror)


class CIFAR10Dataset(InMemoryImages):
    """CIFAR-10 (3x32x32, 10 classes) from local files (gancompose data download cifar10).

    Read with ``torchvision.datasets.CIFAR10`` from ``ROOT/cifar-10-batches-py/`` (md5-checked,
    never downloaded implicitly) and held in memory as uint8; items are scaled to [-1, 1], labelled.
    """

    def __init__(self, params: CIFAR10Params):
        self.params = params
        if _dl.missing_files("cifar10", params.root):
            raise _missing("cifar10", params.root, "CIFAR-10")
        folder = os.path.join(params.root, "cifar-10-batches-py")
        try:
            ds = _torchvision_cifar10()(params.root, train=params.train, download=False)
        except Exception as exc:
            what = "corrupted (md5 mismatch)" if isinstance(exc, RuntimeError) else f"{type(exc).__name__}: {exc}"
            raise DataError(f"cannot read CIFAR-10 under {folder!r}: {what}",
                            hint=f"delete that folder and run: {_dl.download_command('cifar10', params.root)}") from None
        self.classes = list(ds.classes)
        images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
        images = _resize(images, params.image_size)
        super().__init__(images, torch.as_tensor(ds.targets, dtype=torch.int64), num_classes=10)

    @staticmethod
    def download(root: str | os.PathLike, mirror: str | None = None) -> None:
        """Fetch cifar-10-python.tar.gz into ``root`` (md5-verified) and unpack ``cifar-10-batches-py/``."""
        _dl.download_dataset("cifar10", root, mirror)
