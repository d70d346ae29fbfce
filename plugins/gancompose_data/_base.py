"""Shared pieces of the built-in datasets: an in-memory image dataset backed by one uint8 tensor."""
from __future__ import annotations

import functools
from typing import Sequence

import torch

from gancompose.data.images import to_unit_range  # noqa: F401  (re-exported for the datasets)
from gancompose.protocols import Dataset




class InMemoryImages(Dataset):
    """Images held as one ``uint8`` tensor ``[N, C, H, W]`` (plus optional int64 labels ``[N]``).

    Items are ``{"image": float32 in [-1, 1], "label": int64 scalar}``; :meth:`get_batch` gathers a
    whole batch with one indexing operation, so the batch stream skips the DataLoader.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None, num_classes: int | None):
        self.images, self.labels = _checked(images, labels)
        self.num_classes: int | None = num_classes
        self.sample_shape: tuple[int, ...] = tuple(images.shape[1:])

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = {"image": to_unit_range(self.images[index])}
        if self.labels is not None:
            item["label"] = self.labels[index]
        return item

    #: the most a dataset copies to the GPU for :meth:`stage` (its uint8 images and labels)
    STAGE_LIMIT_BYTES = 1 << 30

    def stage(self, device: torch.device) -> bool:
        """Keep the images on ``device``, so that :meth:`get_batch` gathers and converts there (no per-batch
        host work or copy; on the CPU they stay where they are). A GPU copy is declined (False) above
        :attr:`STAGE_LIMIT_BYTES`."""
        if device.type != "cpu" and self.images.numel() > self.STAGE_LIMIT_BYTES:
            return False
        self._staged = (self.images.to(device), None if self.labels is None else self.labels.to(device))
        return True

    def get_batch(self, indices: Sequence[int] | torch.Tensor) -> dict[str, torch.Tensor]:
        images, labels = getattr(self, "_staged", None) or (self.images, self.labels)
        idx = torch.as_tensor(indices, dtype=torch.long).to(images.device, non_blocking=True)
        batch = {"image": to_unit_range(images.index_select(0, idx))}
        if labels is not None:
            batch["label"] = labels.index_select(0, idx)
        return batch

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(n={len(self)}, sample_shape={self.sample_shape}, "
                f"num_classes={self.num_classes})")


def _checked(images: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError(f"expected uint8 images [N, C, H, W], got {images.dtype} {tuple(images.shape)}")
    if labels is not None and labels.shape != (images.shape[0],):
        raise ValueError(f"labels of shape {tuple(labels.shape)} do not match {images.shape[0]} images")
    return images.contiguous(), None if labels is None else labels.to(torch.int64).contiguous()


class RenderedImages(InMemoryImages):
    """In-memory images a dataset generates from its parameters (no files), rendered when first read: a recipe
    that is only validated or explained never pays for them (the digits took seconds). Subclasses give the count,
    shape and classes up front and :meth:`render` the images."""

    def __init__(self, n: int, sample_shape: tuple[int, ...], num_classes: int | None):
        self._n = n
        self.sample_shape = tuple(sample_shape)
        self.num_classes = num_classes

    def render(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """uint8 images ``[n, *sample_shape]`` and int64 labels ``[n]`` (or None)."""
        raise NotImplementedError

    @functools.cached_property
    def _rendered(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        images, labels = _checked(*self.render())
        if tuple(images.shape) != (self._n, *self.sample_shape):
            raise ValueError(f"rendered images of shape {tuple(images.shape)}, expected {(self._n, *self.sample_shape)}")
        return images, labels

    @property
    def images(self) -> torch.Tensor:  # type: ignore[override]
        return self._rendered[0]

    @property
    def labels(self) -> torch.Tensor | None:  # type: ignore[override]
        return self._rendered[1]

    def __len__(self) -> int:
        return self._n
