"""A resumable, seeded stream of batches.

The order of an epoch is a permutation drawn from ``(seed, epoch)`` alone, and the stream's state is
two integers (epoch, samples taken in it), so a resumed run sees exactly the batches it would have
seen, also when the batch size changes between steps (progressive growing: ``next(batch_size)``).
Datasets that can gather a whole batch at once (``get_batch(indices)``) skip the DataLoader; on a GPU,
those that can keep a copy there (``stage(device)``) gather and convert it there. Datasets whose items
can stay uint8 (``uint8_item``) travel so through the loader and are scaled to [-1, 1] on the device.

A dataset with ``seeded_items = True`` receives ``(index, seed)`` pairs instead of indices, the seeds
drawn from the same ``(seed, epoch)`` generator: its random choices (an augmentation, the unpaired
partner of an image) are then a function of the stream's state alone, exact on resume whatever the
number of DataLoader workers.
"""
from __future__ import annotations

from typing import Any, Iterator

import torch
from torch.utils.data import DataLoader, Dataset as TorchDataset, Sampler

from gancompose.data.images import to_unit_range
from gancompose.errors import DataError
from gancompose.protocols import Dataset, implements


class EpochBatchSampler(Sampler[list]):
    """Batches of ``batch_size`` in the order of ``(seed, epoch)``; with ``part = (rank, world)`` each batch is cut
    in ``world`` equal slices and this sampler yields slice ``rank`` (torchrun: every process its share)."""

    def __init__(self, n: int, batch_size: int, seed: int, seeded_items: bool = False, part: tuple[int, int] = (0, 1)):
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.seeded_items = seeded_items
        self.part = part
        self.epoch, self.start = 0, 0

    def _generator(self, epoch: int) -> torch.Generator:
        # modulo 2**64: torch's seeds are 64 bits (a negative seed is the same as seed + 2**64), so every seed
        # that fits gives the same order as before, and a large one no longer overflows
        return torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) % 2 ** 64)

    def items(self, epoch: int, as_tensor: bool = False) -> list | torch.Tensor:
        """The epoch's items in order: indices, or (index, seed) pairs for a dataset with seeded items;
        ``as_tensor``: the indices as one tensor (no list of Python ints to build and convert back per batch)."""
        g = self._generator(epoch)
        perm = torch.randperm(self.n, generator=g)
        if not self.seeded_items:
            return perm if as_tensor else perm.tolist()
        seeds = torch.randint(0, 2 ** 62, (self.n,), generator=g).tolist()
        return list(zip(perm.tolist(), seeds))

    def __len__(self) -> int:
        return (self.n - self.start) // self.batch_size  # start: samples already taken in this epoch

    def __iter__(self) -> Iterator[list]:
        return self.batches()

    def batches(self, as_tensor: bool = False) -> Iterator[list | torch.Tensor]:
        """The batches from the current position on; ``as_tensor`` (datasets without seeded items): each a
        slice of the epoch's index tensor, for a dataset that gathers a batch at once (``get_batch``)."""
        items = self.items(self.epoch, as_tensor and not self.seeded_items)
        rank, world = self.part
        k = self.batch_size // world
        for b in range(self.start, self.n - self.batch_size + 1, self.batch_size):
            yield items[b + rank * k:b + (rank + 1) * k]


class BatchStream:
    def __init__(self, dataset: Dataset, batch_size: int, *, seed: int, device: torch.device,
                 num_workers: int = 0, epoch: int = 0, position: int = 0, part: tuple[int, int] = (0, 1)):
        n = len(dataset)  # type: ignore[arg-type]
        if n < batch_size:
            raise DataError(f"the dataset has {n} samples, fewer than one batch of {batch_size}",
                            hint="lower train.batch_size or use more data")
        self.dataset, self.device = dataset, device
        self.sampler = EpochBatchSampler(n, batch_size, seed, dataset.seeded_items, part)
        self.epoch, self.position = epoch, position
        self._direct = implements(dataset, "get_batch", Dataset)
        #: get_batch gathers on the run's device, where the data is staged (a GPU: no per-batch host work or copy;
        #: the CPU: no copy, and generated images rendered now rather than in the first step); its batches are
        #: returned as they are
        self._on_device = self._direct and bool(dataset.stage(device))
        self._loader = None
        #: keys of uint8 images the loader delivers, scaled to [-1, 1] after the copy to the device
        self._uint8_keys: tuple[str, ...] = ()
        if not self._direct:
            source = dataset
            if implements(dataset, "uint8_item", Dataset):  # a quarter of the bytes through workers, pinned memory and the bus
                source, self._uint8_keys = _Uint8Items(dataset), tuple(dataset.uint8_keys)
            self._loader = DataLoader(source, batch_sampler=self.sampler, num_workers=num_workers,
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
            return map(self.dataset.get_batch, self.sampler.batches(as_tensor=True))  # type: ignore[attr-defined]
        return iter(self._loader)  # type: ignore[arg-type]

    def next(self, batch_size: int | None = None) -> dict[str, torch.Tensor]:
        """The next batch, of ``batch_size`` samples if given (the epoch's order is unchanged; an epoch ends
        when fewer than a batch of samples is left)."""
        if batch_size is not None and batch_size != self.sampler.batch_size:
            if batch_size > self.sampler.n:
                raise DataError(f"the dataset has {self.sampler.n} samples, fewer than one batch of {batch_size}",
                                hint="lower the batch size or use more data")
            self.sampler.batch_size, self._it = batch_size, None  # reopened at the same sample position
        if self._it is None:
            self._it = self._open()
        try:
            batch = next(self._it)
        except StopIteration:
            self.epoch, self.position = self.epoch + 1, 0
            self._it = self._open()
            batch = next(self._it)
        self.position += self.sampler.batch_size
        if self._on_device:
            return batch
        if not isinstance(batch, dict):
            batch = {"image": batch[0], "label": batch[1]} if isinstance(batch, (tuple, list)) else {"image": batch}
        nb = self.device.type == "cuda"
        batch = {k: v.to(self.device, non_blocking=nb) for k, v in batch.items()}
        for k in self._uint8_keys:
            batch[k] = to_unit_range(batch[k])
        return batch


class _Uint8Items(TorchDataset):
    """A dataset's items with their images still uint8 (its ``uint8_item``), for the loader."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item):
        return self.dataset.uint8_item(item)
