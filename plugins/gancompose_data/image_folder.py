"""Any folder of images on disk, read lazily through the DataLoader."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Optional

import torch
from pydantic import Field
from torch.utils.data import Dataset
from PIL import Image, ImageOps
from torchvision.transforms import v2

from gancompose import Params
from gancompose.errors import DataError

#: File extensions (lower case) that count as images.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class ImageFolderParams(Params):
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


def _is_image(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def _scan(folder: Path) -> list[Path]:
    """Image files under ``folder``, recursively, in a sorted, platform-independent order."""
    found: list[Path] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # a symlink cycle
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath) / f for f in sorted(filenames) if _is_image(f)]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


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
                found = _scan(d)
                if found:
                    labels += [len(self.classes)] * len(found)
                    self.classes.append(d.name)
                    files += found
            if not files:
                raise DataError(f"no images in the subfolders of {where} (labels = 'subfolders')",
                                hint=f"put the images of each class in its own subfolder: {params.root}/CLASS/*.png; "
                                     f"or set data.labels = 'none'")
        else:
            files = _scan(self.root)
            if not files:
                raise DataError(f"no images found under {where}",
                                hint=f"prepare it: {params.prepare}" if params.prepare else f"set data.root to {expect}")
        self.files: list[Path] = files
        self.targets = torch.tensor(labels, dtype=torch.int64) if self.classes else None
        self.num_classes: int | None = len(self.classes) if self.classes else None
        size = params.image_size
        self.sample_shape: tuple[int, ...] = (params.channels, size, size)

        steps: list = []  # the deterministic part; the random crop and flip are drawn per item (_augment)
        if params.resize:
            steps.append(v2.Resize((size, size) if params.crop == "none" else size, antialias=True))
        if params.crop == "center":
            steps.append(v2.CenterCrop(size))
        steps.append(v2.ToDtype(torch.float32, scale=True))
        self.transform = v2.Compose(steps)
        self.seeded_items = params.crop == "random" or params.hflip

    def _augment(self, img: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        """Random crop (zero-padded up to the size if needed) and horizontal flip, drawn from ``g``."""
        size = self.params.image_size
        if self.params.crop == "random":
            h, w = img.shape[1:]
            ph, pw = max(0, size - h), max(0, size - w)
            if ph or pw:
                img = torch.nn.functional.pad(img, (pw, pw, ph, ph))
                h, w = img.shape[1:]
            y = int(torch.randint(0, h - size + 1, (), generator=g))
            x = int(torch.randint(0, w - size + 1, (), generator=g))
            img = img[:, y:y + size, x:x + size]
        if self.params.hflip and bool(torch.rand((), generator=g) < 0.5):
            img = img.flip(-1)
        return img

    def __len__(self) -> int:
        return len(self.files)

    def read(self, index: int) -> torch.Tensor:
        """The file at ``index`` as uint8 ``[C, H, W]``, before any transform."""
        path = self.files[index]
        try:
            with Image.open(path) as im:
                im = ImageOps.exif_transpose(im).convert("RGB" if self.params.channels == 3 else "L")
                return v2.functional.pil_to_tensor(im)
        except Exception as exc:
            raise DataError(f"cannot read image {str(path)!r}: {type(exc).__name__}: {exc}",
                            hint="remove or replace the file") from None

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        index, seed = item if isinstance(item, tuple) else (item, None)
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        img = self.read(index)
        size = self.params.image_size
        if self.params.crop == "none" and not self.params.resize and tuple(img.shape[1:]) != (size, size):
            raise DataError(f"image {str(self.files[index])!r} is {img.shape[2]}x{img.shape[1]}, not "
                            f"{size}x{size} (crop = 'none', resize = false)",
                            hint="set data.resize = true or data.crop = 'center'")
        out = {"image": self._augment(self.transform(img), g).mul(2).sub_(1)}
        if self.targets is not None:
            out["label"] = self.targets[index]
        return out

    def __repr__(self) -> str:
        return (f"ImageFolderDataset(root={self.params.root!r}, n={len(self)}, sample_shape={self.sample_shape}, "
                f"num_classes={self.num_classes})")
