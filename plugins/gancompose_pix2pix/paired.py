"""Paired two-domain data: batches ``{"A": images, "B": images}`` where B[i] is the translation of A[i].

``paired_folders`` reads the official ``aligned`` layout (data/aligned_dataset.py): ROOT/train/ (val/, test/) holds
one image per pair, A on the left half and B on the right; ``direction = "BtoA"`` swaps them (facades: the photo is
on the left, its label map on the right, and pix2pix learns labels -> photo). As the official training transform,
each half is resized to ``load_size`` x ``load_size`` (bicubic), then both are cropped at one random position to
``image_size`` and flipped together (or not): the jitter never breaks the pairing. The random choices come from a
per-item seed the batch stream draws from ``(seed, epoch)`` (``seeded_items``), so a resumed run sees exactly the
same batches.
"""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal, Sequence

import numpy as np
import torch
from pydantic import Field, PositiveInt

from gancompose.data import DataShape, DatasetParams
from gancompose.data.images import random_crop, random_hflip, scan_images, to_unit_range
from gancompose.errors import DataError
from gancompose.protocols import Dataset  # the core's base of datasets, declaring what it calls

DOMAINS = ("A", "B")


def _flip_pairs(a: torch.Tensor, b: torch.Tensor, items: Sequence[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip pair i left-right (A and B together) with probability 0.5, drawn from item i's seed."""
    flip = torch.tensor([bool(torch.rand((), generator=torch.Generator().manual_seed(s)) < 0.5) for _, s in items])
    if flip.any():
        a, b = a.clone(), b.clone()
        a[flip], b[flip] = a[flip].flip(-1), b[flip].flip(-1)
    return a, b


class PairedTensors(Dataset):
    """Pairs held as uint8 tensors ``[N, C, H, W]``: A[i] goes with B[i] (optional labels, describing the scenes)."""
    domains = DOMAINS
    paired = True
    seeded_items = True

    def __init__(self, a: torch.Tensor, b: torch.Tensor, labels: torch.Tensor | None = None, hflip: bool = False):
        if len(a) != len(b):
            raise DataError(f"paired data needs as many B images as A images, got {len(a)} and {len(b)}")
        if a.shape[2:] != b.shape[2:]:
            raise DataError(f"the two sides of the pairs have sizes {tuple(a.shape[2:])} and {tuple(b.shape[2:])}")
        self.images = {"A": a.contiguous(), "B": b.contiguous()}
        self.labels = labels
        self.hflip = hflip
        self.sample_shape: tuple[int, ...] = tuple(a.shape[1:])
        self.target_shape: tuple[int, ...] = tuple(b.shape[1:])
        self.num_classes = None  # the labels describe the scenes; the translation is not class-conditional

    def __len__(self) -> int:
        return len(self.images["A"])

    def get_batch(self, items: Sequence[tuple[int, int]]) -> dict[str, torch.Tensor]:
        idx = torch.tensor([i for i, _ in items])
        a, b = (self.images[d].index_select(0, idx) for d in DOMAINS)
        if self.hflip:
            a, b = _flip_pairs(a, b, items)
        return {"A": to_unit_range(a), "B": to_unit_range(b)}

    def __getitem__(self, item: tuple[int, int]) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.get_batch([item]).items()}

    def domain(self, name: str, n: int, start: int = 0) -> torch.Tensor:
        """The first ``n`` images of one side from ``start``, in [-1, 1]: the same indices pair up (sample grids)."""
        return to_unit_range(self.images[name][start:start + n])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(pairs={len(self)}, sample_shape={self.sample_shape})"


# ------------------------------------------------------------------------------- folders
class PairedFoldersParams(DatasetParams):
    """Parameters of the ``paired_folders`` dataset (pix2pix's aligned layout: ROOT/train/, each image A|B)."""
    root: str = Field(description="folder holding train/ (and val/, test/), each image a pair side by side: "
                                  "A on the left half, B on the right")
    split: Literal["train", "val", "test"] = Field("train", description="which folder of pairs")
    direction: Literal["AtoB", "BtoA"] = Field("AtoB", description="AtoB: translate the left half into the right "
                                               "one; BtoA: the right into the left (--direction)")
    image_size: PositiveInt = Field(256, description="size of the square crop fed to the networks (--crop_size)")
    load_size: PositiveInt = Field(286, description="each half is first resized to load_size x load_size "
                                                    "(--load_size), then both are cropped at one random position")
    preprocess: Literal["resize_and_crop", "resize"] = Field(
        "resize_and_crop", description="'resize_and_crop' (training: resize to load_size, random crop) or "
                                       "'resize' (straight to image_size, as for testing)")
    hflip: bool = Field(True, description="flip each pair (both halves together) with probability 0.5 "
                                          "(off: --no_flip)")

    #: pairs in each split, when the set is a published one (None: any folder)
    published_sizes: ClassVar[dict[str, int] | None] = None

    def data_shape(self) -> DataShape:
        size = (self.published_sizes or {}).get(self.split)
        return DataShape((3, self.image_size, self.image_size), None, size, DOMAINS)

    def missing(self) -> str | None:
        folder = Path(self.root).expanduser() / self.split
        return None if folder.is_dir() else f"put the pairs (A|B side by side) in {self.root}/{self.split}/"


def load_pair(path: Path, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The left and right halves of an A|B image as uint8 ``[3, size, size]`` each (each half resized bicubic)."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            if w < 2:
                raise ValueError(f"{w} pixels wide: no two halves")
            half = w // 2  # as the official int(w / 2)
            left = im.crop((0, 0, half, h)).resize((size, size), Image.BICUBIC)
            right = im.crop((half, 0, w, h)).resize((size, size), Image.BICUBIC)
    except Exception as exc:
        raise DataError(f"cannot read image {str(path)!r}: {type(exc).__name__}: {exc}",
                        hint="remove or replace the file") from None
    return tuple(torch.from_numpy(np.asarray(x).copy()).permute(2, 0, 1).contiguous() for x in (left, right))


class PairedFolders(Dataset):
    """A folder of A|B images (pix2pix's aligned mode), read lazily with Pillow."""
    domains = DOMAINS
    paired = True
    seeded_items = True
    #: what to tell a user whose folder is missing (overridden by named datasets that can be fetched)
    prepare_hint = ("put the pairs, each image A|B side by side, in {root}/{split}/, or point the recipe elsewhere "
                    "with --set data.root=PATH")

    def __init__(self, params: PairedFoldersParams):
        self.params = params
        self.root = Path(params.root).expanduser()
        folder = self.root / params.split
        self.files = scan_images(folder) if folder.is_dir() else []
        if not self.files:
            what = "does not exist" if not folder.exists() else "holds no images"
            raise DataError(f"{folder} {what} (the {params.split} pairs of the paired data set under "
                            f"{params.root!r})", hint=self.prepare_hint.format(root=params.root, split=params.split))
        if params.preprocess == "resize_and_crop" and params.load_size < params.image_size:
            raise DataError(f"load_size {params.load_size} is smaller than the crop image_size {params.image_size}",
                            hint="set data.load_size >= data.image_size")
        self.sample_shape: tuple[int, ...] = (3, params.image_size, params.image_size)
        self.target_shape = self.sample_shape
        self.num_classes = None

    def __len__(self) -> int:
        return len(self.files)

    def _load(self, path: Path, g: torch.Generator | None) -> dict[str, torch.Tensor]:
        """One pair, preprocessed, uint8; ``g=None``: no random crop or flip (resized straight to image_size)."""
        p = self.params
        jitter = p.preprocess == "resize_and_crop" and g is not None
        left, right = load_pair(path, p.load_size if jitter else p.image_size)
        both = torch.cat([left, right])  # one crop and one flip for the two halves
        if jitter:
            both = random_crop(both, p.image_size, g)
        if p.hflip and g is not None:
            both = random_hflip(both, g)
        left, right = both[:3], both[3:]
        return {"A": left, "B": right} if p.direction == "AtoB" else {"A": right, "B": left}

    #: the batch stream takes items with uint8 images (:meth:`uint8_item`) and scales them on the device
    uint8_keys = DOMAINS

    def uint8_item(self, item: tuple[int, int]) -> dict[str, torch.Tensor]:
        i, seed = item
        return self._load(self.files[i], torch.Generator().manual_seed(seed))

    def __getitem__(self, item: tuple[int, int]) -> dict[str, torch.Tensor]:
        return {d: to_unit_range(img) for d, img in self.uint8_item(item).items()}

    def domain(self, name: str, n: int, start: int = 0) -> torch.Tensor:
        """Side ``name`` of the first ``n`` pairs from ``start``, resized to image_size (for sample grids)."""
        return to_unit_range(torch.stack([self._load(f, None)[name] for f in self.files[start:start + n]]))

    def __repr__(self) -> str:
        return f"PairedFolders(root={self.params.root!r}, split={self.params.split!r}, pairs={len(self.files)})"
