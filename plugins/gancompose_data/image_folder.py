"""Any folder of images on disk, read lazily through the DataLoader."""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import torch
from pydantic import Field

from gancompose.data import DataShape, DatasetParams
from gancompose.data.images import (IMAGE_EXTENSIONS, load_image, random_crop, random_hflip, scan_images,
                                    to_unit_range)
from gancompose.errors import DataError
from gancompose.protocols import Dataset



class ImageFolderParams(DatasetParams):
    """Parameters of the ``image_folder`` dataset."""

    root: str = Field(description="folder of images (.jpg .jpeg .png .bmp .webp), searched recursively")
    image_size: int = Field(64, ge=1, le=4096, description="height and width of the images fed to the networks")
    channels: Literal[1, 3] = Field(3, description="3 for RGB, 1 for grayscale (images are converted)")
    resize: bool = Field(True, description="resize the shorter side to image_size (with crop='none': "
                                           "resize to image_size x image_size, ignoring the aspect ratio)")
    crop: Literal["center", "random", "none"] = Field(
        "center", description="how to cut an image_size square: 'center', 'random' (padded if too small), or "
                              "'none' (images must then already be image_size x image_size, or resize=true)")
    hflip: bool = Field(False, description="flip each image horizontally with probability 0.5")
    prepare: Optional[str] = Field(None, description="how to prepare the folder (a command, or where the images "
                                                     "come from), named in the error when it is missing or empty")
    labels: Literal["none", "subfolders"] = Field(
        "none", description="'subfolders': one class per immediate subfolder of root (sorted by name; "
                            "images directly in root are then ignored); 'none': unlabelled")

    num_classes: Optional[int] = Field(None, ge=1, description="with labels = 'subfolders': the number of classes "
                                                               "expected (checked against the subfolders found); "
                                                               "lets validate and explain work before the folder is "
                                                               "there")

    def data_shape(self) -> DataShape | None:
        if self.labels == "subfolders":  # the class count is the subfolders', known from here only if declared
            return DataShape((self.channels, self.image_size, self.image_size), self.num_classes) \
                if self.num_classes is not None else None
        return DataShape((self.channels, self.image_size, self.image_size))

    def missing(self) -> str | None:
        root = Path(self.root).expanduser()
        if root.is_dir() and any(p.suffix.lower() in IMAGE_EXTENSIONS for p in root.rglob("*")):
            return None
        return f"{self.prepare}" if self.prepare else f"put images in {self.root}/ (or --set data.root=PATH)"


class ImageFolderDataset(Dataset):
    """Any folder of images (recursive), resized and cropped to a square; optional labels from subfolders.

    Files are decoded with Pillow when they are read (EXIF orientation applied), so this
    dataset goes through the DataLoader and its workers. With a random crop or flip the dataset takes
    ``(index, seed)`` items from the batch stream (``seeded_items``): the crop offsets and the flip come
    from that seed, so they differ from epoch to epoch and a resumed run sees exactly the same images
    whatever the number of workers. A plain integer index draws from torch's global generator instead.
    """

    def __init__(self, params: ImageFolderParams):
        self.params = params
        self.root = Path(params.root).expanduser()
        where = f"{params.root!r}" + (f" (resolved: {self.root.resolve()})" if not self.root.is_absolute() else "")
        expect = f"a folder of {'/'.join(e[1:] for e in IMAGE_EXTENSIONS)} images, searched recursively"
        if params.labels == "subfolders":
            expect += ", with one subfolder per class"
        if not self.root.exists():
            how = (f"prepare it: {params.prepare}" if params.prepare else
                   f"prepare it with `mkdir -p {params.root}` and copy your images into it ({expect})")
            raise DataError(f"image folder {where} does not exist",
                            hint=f"image folders are never downloaded: {how}; or point the recipe at an existing "
                                 f"folder with --set data.root=PATH")
        if not self.root.is_dir():
            raise DataError(f"image folder {where} is not a folder", hint=f"set data.root to {expect}")

        self.classes: list[str] = []
        labels: list[int] = []
        if params.labels == "subfolders":
            files = []
            subdirs = sorted(d for d in self.root.iterdir() if d.is_dir() and not d.name.startswith("."))
            for d in subdirs:
                found = scan_images(d)
                if found:
                    labels += [len(self.classes)] * len(found)
                    self.classes.append(d.name)
                    files += found
            if not files:
                raise DataError(f"no images in the subfolders of {where} (labels = 'subfolders')",
                                hint=f"put the images of each class in its own subfolder: {params.root}/CLASS/*.png; "
                                     f"or set data.labels = 'none'")
        else:
            files = scan_images(self.root)
            if not files:
                raise DataError(f"no images found under {where}",
                                hint=f"prepare it: {params.prepare}" if params.prepare else f"set data.root to {expect}")
        self.files: list[Path] = files
        if params.labels == "subfolders" and params.num_classes is not None and params.num_classes != len(self.classes):
            raise DataError(f"expected {params.num_classes} classes (data.num_classes), found {len(self.classes)} "
                            f"subfolders with images under {where}: {', '.join(self.classes[:12])}",
                            hint="put each class's images in its own subfolder, or set data.num_classes to the "
                                 "number of subfolders")
        self.targets = torch.tensor(labels, dtype=torch.int64) if self.classes else None
        self.num_classes: int | None = len(self.classes) if self.classes else None
        size = params.image_size
        self.sample_shape: tuple[int, ...] = (params.channels, size, size)

        from torchvision.transforms import v2  # here, not at registration: torchvision's import costs seconds
        steps: list = []  # the deterministic part; the random crop and flip are drawn per item (_augment)
        if params.resize:
            steps.append(v2.Resize((size, size) if params.crop == "none" else size, antialias=True))
        if params.crop == "center":
            steps.append(v2.CenterCrop(size))
        self.transform = v2.Compose(steps) if steps else (lambda img: img)  # uint8 in, uint8 out
        self.seeded_items = params.crop == "random" or params.hflip

    def _augment(self, img: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        """Random crop (zero-padded up to the size if needed) and horizontal flip, drawn from ``g``."""
        if self.params.crop == "random":
            img = random_crop(img, self.params.image_size, g)
        if self.params.hflip:
            img = random_hflip(img, g)
        return img

    def __len__(self) -> int:
        return len(self.files)

    def read(self, index: int) -> torch.Tensor:
        """The file at ``index`` as uint8 ``[C, H, W]``, before any transform."""
        return load_image(self.files[index], self.params.channels)

    #: the batch stream takes items with uint8 images (:meth:`uint8_item`) and scales them on the device
    uint8_keys = ("image",)

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        out = self.uint8_item(item)
        out["image"] = to_unit_range(out["image"])
        return out

    def uint8_item(self, item: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        """The item with its image still uint8 ``[0, 255]`` (a quarter of the bytes to move to the GPU)."""
        index, seed = item if isinstance(item, tuple) else (item, None)
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        img = self.read(index)
        size = self.params.image_size
        if self.params.crop == "none" and not self.params.resize and tuple(img.shape[1:]) != (size, size):
            raise DataError(f"image {str(self.files[index])!r} is {img.shape[2]}x{img.shape[1]}, not "
                            f"{size}x{size} (crop = 'none', resize = false)",
                            hint="set data.resize = true or data.crop = 'center'")
        out = {"image": self._augment(self.transform(img), g)}
        if self.targets is not None:
            out["label"] = self.targets[index]
        return out

    def __repr__(self) -> str:
        return (f"ImageFolderDataset(root={self.params.root!r}, n={len(self)}, sample_shape={self.sample_shape}, "
                f"num_classes={self.num_classes})")
