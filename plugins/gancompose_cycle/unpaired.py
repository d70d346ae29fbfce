"""Unpaired two-domain data: batches ``{"A": images, "B": images}`` where B is drawn independently of A.

As the official ``UnalignedDataset`` (data/unaligned_dataset.py): an epoch has ``max(len(A), len(B))``
items; item ``i`` takes A image ``i % len(A)`` and a B image drawn uniformly at random each time. The
random choices (the B image, the crop offsets, the flips) come from a per-item seed that the batch stream
draws from ``(seed, epoch)`` (``seeded_items``), so a resumed run sees exactly the same batches.
"""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal, Sequence

import torch
from pydantic import Field, PositiveInt

from gancompose.data import DataShape, DatasetParams
from gancompose.data.images import load_image, random_crop, random_hflip, scan_images, to_unit_range
from gancompose.errors import DataError
from gancompose.protocols import Dataset

DOMAINS = ("A", "B")


class UnpairedTensors(Dataset):
    """Two domains held as uint8 tensors ``[N, C, H, W]`` (optional labels, for measuring translations)."""
    domains = DOMAINS
    seeded_items = True

    def __init__(self, a: torch.Tensor, b: torch.Tensor, labels_a: torch.Tensor | None = None,
                 labels_b: torch.Tensor | None = None):
        if a.shape[1:] != b.shape[1:]:
            raise DataError(f"the two domains have images of shapes {tuple(a.shape[1:])} and {tuple(b.shape[1:])}")
        self.images = {"A": a.contiguous(), "B": b.contiguous()}
        self.labels = {"A": labels_a, "B": labels_b}
        self.sample_shape: tuple[int, ...] = tuple(a.shape[1:])
        self.num_classes = None  # the labels describe the scenes; the translation is not conditional

    def __len__(self) -> int:
        return max(len(self.images["A"]), len(self.images["B"]))

    def pick(self, items: Sequence[tuple[int, int]]) -> dict[str, torch.Tensor]:
        """The (A, B) indices of seeded items."""
        na, nb = len(self.images["A"]), len(self.images["B"])
        return {"A": torch.tensor([i % na for i, _ in items]), "B": torch.tensor([s % nb for _, s in items])}

    def get_batch(self, items: Sequence[tuple[int, int]]) -> dict[str, torch.Tensor]:
        idx = self.pick(items)
        return {d: to_unit_range(self.images[d].index_select(0, idx[d])) for d in DOMAINS}

    def __getitem__(self, item: tuple[int, int]) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.get_batch([item]).items()}

    def domain(self, name: str, n: int, start: int = 0) -> torch.Tensor:
        """The first ``n`` images of one domain from ``start``, in [-1, 1] (for sample grids)."""
        return to_unit_range(self.images[name][start:start + n])

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(A={len(self.images['A'])}, B={len(self.images['B'])}, "
                f"sample_shape={self.sample_shape})")


# ------------------------------------------------------------------------------- folders
class UnpairedFoldersParams(DatasetParams):
    """Parameters of the ``unpaired_folders`` dataset (CycleGAN's layout: ROOT/trainA, ROOT/trainB, ...)."""
    root: str = Field(description="folder holding trainA/ and trainB/ (and testA/, testB/)")
    split: Literal["train", "test"] = Field("train", description="which pair of folders: trainA/trainB or testA/testB")
    image_size: PositiveInt = Field(256, description="size of the square crop fed to the networks (--crop_size)")
    load_size: PositiveInt = Field(286, description="images are first resized to load_size x load_size "
                                                    "(--load_size), then randomly cropped to image_size")
    preprocess: Literal["resize_and_crop", "resize"] = Field(
        "resize_and_crop", description="'resize_and_crop' (training: resize to load_size, random crop) or "
                                       "'resize' (straight to image_size, as for testing)")
    hflip: bool = Field(True, description="flip each image horizontally with probability 0.5 (off: --no_flip)")
    serial: bool = Field(False, description="pair B image i % len(B) with A image i instead of a random one "
                                            "(--serial_batches)")

    #: images per domain of each split, when the set is a published one (None: any folders)
    published_sizes: ClassVar[dict[str, tuple[int, int]] | None] = None

    def data_shape(self) -> DataShape:
        sizes = (self.published_sizes or {}).get(self.split)
        return DataShape((3, self.image_size, self.image_size), None, max(sizes) if sizes else None, DOMAINS)

    def missing(self) -> str | None:
        root = Path(self.root).expanduser()
        absent = [f"{self.split}{d}/" for d in DOMAINS if not (root / f"{self.split}{d}").is_dir()]
        return None if not absent else f"put the images of each domain in {self.root}/{' and '.join(absent)}"


class UnpairedFolders(Dataset):
    """Two folders of images, unpaired (CycleGAN's ``unaligned`` mode), read lazily with Pillow."""
    domains = DOMAINS
    seeded_items = True
    #: what to tell a user whose folders are missing (overridden by named datasets that can be fetched)
    prepare_hint = ("put the images of domain A in {root}/{split}A/ and those of domain B in {root}/{split}B/, or "
                    "point the recipe elsewhere with --set data.root=PATH")

    def __init__(self, params: UnpairedFoldersParams):
        self.params = params
        self.root = Path(params.root).expanduser()
        self.files: dict[str, list[Path]] = {}
        for d in DOMAINS:
            folder = self.root / f"{params.split}{d}"
            files = scan_images(folder) if folder.is_dir() else []
            if not files:
                what = "does not exist" if not folder.exists() else "holds no images"
                raise DataError(f"{folder} {what} (domain {d} of the unpaired data set under {params.root!r})",
                                hint=self.prepare_hint.format(root=params.root, split=params.split))
            self.files[d] = files
        self.sample_shape: tuple[int, ...] = (3, params.image_size, params.image_size)
        self.num_classes = None
        if params.preprocess == "resize_and_crop" and params.load_size < params.image_size:
            raise DataError(f"load_size {params.load_size} is smaller than the crop image_size {params.image_size}",
                            hint="set data.load_size >= data.image_size")

    def __len__(self) -> int:
        return max(len(self.files["A"]), len(self.files["B"]))

    def _load(self, path: Path, g: torch.Generator | None) -> torch.Tensor:
        """One image, preprocessed, uint8; ``g=None``: no random crop or flip (resized straight to image_size)."""
        p = self.params
        if p.preprocess == "resize_and_crop" and g is not None:
            img = random_crop(load_image(path, 3, (p.load_size, p.load_size)), p.image_size, g)
        else:
            img = load_image(path, 3, (p.image_size, p.image_size))
        if p.hflip and g is not None:
            img = random_hflip(img, g)
        return img

    #: the batch stream takes items with uint8 images (:meth:`uint8_item`) and scales them on the device
    uint8_keys = DOMAINS

    def __getitem__(self, item: tuple[int, int]) -> dict[str, torch.Tensor]:
        return {d: to_unit_range(img) for d, img in self.uint8_item(item).items()}

    def uint8_item(self, item: tuple[int, int]) -> dict[str, torch.Tensor]:
        """The pair with its images still uint8 ``[0, 255]`` (a quarter of the bytes to move to the GPU)."""
        i, seed = item
        g = torch.Generator().manual_seed(seed)
        a, b = self.files["A"], self.files["B"]
        j = i % len(b) if self.params.serial else int(torch.randint(0, len(b), (), generator=g))
        return {"A": self._load(a[i % len(a)], g), "B": self._load(b[j], g)}

    def domain(self, name: str, n: int, start: int = 0) -> torch.Tensor:
        """The first ``n`` images of one domain from ``start``, resized to image_size (for sample grids)."""
        return to_unit_range(torch.stack([self._load(f, None) for f in self.files[name][start:start + n]]))

    def __repr__(self) -> str:
        return f"UnpairedFolders(root={self.params.root!r}, A={len(self.files['A'])}, B={len(self.files['B'])})"
