"""A resumable, seeded stream of batches.

The order of an epoch is a permutation drawn from ``(seed, epoch)`` alone, and the stream's state is
two integers (epoch, batches taken in it), so a resumed run sees exactly the batches it would have
seen. Datasets that can gather a whole batch at once (``get_batch(indices)``) skip the DataLoader.
"""
from __future__ import annotations

from typing import Any, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from gancompose.errors import DataError


class EpochBatchSampler(Sampler[list[int]]):
    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.epoch, self.start = 0, 0

    def order(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.n, generator=g)

    def __len__(self) -> int:
        return self.n // self.batch_size - self.start

    def __iter__(self) -> Iterator[list[int]]:
        perm = self.order(self.epoch)
        for b in range(self.start, self.n // self.batch_size):
            yield perm[b * self.batch_size:(b + 1) * self.batch_size].tolist()


class BatchStream:
    def __init__(self, dataset: Dataset, batch_size: int, *, seed: int, device: torch.device,
                 num_workers: int = 0, epoch: int = 0, position: int = 0):
        n = len(dataset)  # type: ignore[arg-type]
        if n < batch_size:
            raise DataError(f"the dataset has {n} samples, fewer than one batch of {batch_size}",
                            hint="lower train.batch_size or use more data")
        self.dataset, self.device = dataset, device
        self.sampler = EpochBatchSampler(n, batch_size, seed)
        self.epoch, self.position = epoch, position
        self._direct = hasattr(dataset, "get_batch")
        self._loader = None
        if not self._direct:
            self._loader = DataLoader(dataset, batch_sampler=self.sampler, num_workers=num_workers,
                                      pin_memory=device.type == "cuda", persistent_workers=num_workers > 0)
        self._it: Iterator[Any] | None = None

    @property
    def batches_per_epoch(self) -> int:
        return self.sampler.n // self.sampler.batch_size

    def state(self) -> tuple[int, int]:
        return self.epoch, self.position

    def _open(self) -> Iterator[Any]:
        self.sampler.epoch, self.sampler.start = self.epoch, self.position
        if self._direct:
            return (self.dataset.get_batch(idx) for idx in self.sampler)  # type: ignore[attr-defined]
        return iter(self._loader)  # type: ignore[arg-type]

    def next(self) -> dict[str, torch.Tensor]:
        if self._it is None:
            self._it = self._open()
        try:
            batch = next(self._it)
        except StopIteration:
            self.epoch, self.position = self.epoch + 1, 0
            self._it = self._open()
            batch = next(self._it)
        self.position += 1
        if not isinstance(batch, dict):
            batch = {"image": batch[0], "label": batch[1]} if isinstance(batch, (tuple, list)) else {"image": batch}
        nb = self.device.type == "cuda"
        return {k: v.to(self.device, non_blocking=nb) for k, v in batch.items()}
