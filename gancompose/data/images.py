"""Image files for datasets and tools: finding them, reading them, random crops and flips from a generator.

Shared by the ``image_folder`` and unpaired datasets and by ``gancompose translate``, so every place that
reads a folder of images agrees on which files count, in which order, and how a bad file is reported.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from PIL import Image, ImageOps

from gancompose.errors import DataError

#: File extensions (lower case) that count as images.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def is_image(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def scan_images(folder: Path) -> list[Path]:
    """Image files under ``folder``, recursively (hidden files and folders left out, symlink cycles cut),
    in a sorted, platform-independent order."""
    folder = Path(folder)
    found: list[Path] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # a symlink cycle
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath) / f for f in sorted(filenames) if is_image(f)]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def load_image(path: Path, channels: int = 3, size: tuple[int, int] | None = None) -> torch.Tensor:
    """The file as uint8 ``[C, H, W]`` (EXIF orientation applied; RGB or grayscale), resized to ``size``
    (width, height; bicubic, as Pillow does it) if given. A file that cannot be read is a DataError."""
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im).convert("RGB" if channels == 3 else "L")
            if size is not None:
                im = im.resize(size, Image.BICUBIC)
            from torchvision.transforms import v2  # here: torchvision's import costs seconds
            return v2.functional.pil_to_tensor(im)
    except Exception as exc:
        raise DataError(f"cannot read image {str(path)!r}: {type(exc).__name__}: {exc}",
                        hint="remove or replace the file") from None


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``[0, 255]`` -> float32 ``[-1, 1]``."""
    return images.to(torch.float32).div_(127.5).sub_(1.0)


def random_crop(img: torch.Tensor, size: int, g: torch.Generator | None) -> torch.Tensor:
    """A ``size`` x ``size`` window at a position drawn from ``g`` (torch's global generator when None);
    an image smaller than that is zero-padded on each side first."""
    h, w = img.shape[-2:]
    ph, pw = max(0, size - h), max(0, size - w)
    if ph or pw:
        img = torch.nn.functional.pad(img, (pw, pw, ph, ph))
        h, w = img.shape[-2:]
    y = int(torch.randint(0, h - size + 1, (), generator=g))
    x = int(torch.randint(0, w - size + 1, (), generator=g))
    return img[..., y:y + size, x:x + size]


def random_hflip(img: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    """``img`` flipped left-right with probability 0.5, drawn from ``g``."""
    return img.flip(-1) if bool(torch.rand((), generator=g) < 0.5) else img
