"""What the core calls on components, declared: one base class per kind whose components the core calls beyond
their factory, every optional method with a default that does nothing. The hooks that register these kinds are in
gancompose/hookspecs.py, which names each base; the core never probes a component with ``getattr``/``hasattr``
(tests/test_protocols.py reads the core's sources to keep it so).

=============================  ============================================  ================================
kind (hook)                    base                                          the core calls
=============================  ============================================  ================================
dataset (register_datasets)    :class:`Dataset`                              ``len``, items, ``num_classes``,
                                                                             ``get_batch``, ``uint8_item``,
                                                                             ``stage``, ``download``,
                                                                             ``prepare``
loss (register_losses)         :class:`AdversarialLoss`                      ``discriminator``, ``generator``,
                                                                             ``needs_real_for_generator``
augmentation                   :class:`Augmentation`                         ``forward``, ``observe``,
                                                                             ``monitor``, ``status``
lr_schedule                    a callable ``(step, total) -> factor``, or    the call
                               a :class:`PerEpoch` ``(epoch, epochs)``
block (register_blocks)        any ``nn.Module``; one that takes class       ``forward``
                               labels subclasses :class:`TakesLabels`
schedule                       :class:`gancompose.engine.Schedule`           see there
callback (a schedule's)        :class:`gancompose.engine.Callback`           see there
sample option                  :class:`gancompose.sampling.SampleOption`     see there
=============================  ============================================  ================================

A component that implements an optional method overrides it; :func:`implements` tells the core which ones do.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Sequence

import torch
from torch import nn
from torch.utils.data import Dataset as _TorchDataset


def implements(obj, name: str, base: type) -> bool:
    """Whether ``obj`` (an instance or a class) overrides ``base``'s optional method ``name``."""
    cls = obj if isinstance(obj, type) else type(obj)
    return inspect.getattr_static(cls, name) is not inspect.getattr_static(base, name)


class Dataset(_TorchDataset):
    """Base of every dataset (``register_datasets``).

    Items are dicts ``{"image": Tensor, ...}`` (``"label"`` for labelled data), images in ``[-1, 1]``. Set
    ``sample_shape`` (the per-sample shape of ``"image"``) and, for labelled data, ``num_classes``. The optional
    methods below are fast paths and data commands; a dataset implements those it can.
    """
    #: the per-sample shape of ``"image"`` (channels first; ``(2,)`` for 2-D points)
    sample_shape: tuple[int, ...] = ()
    #: the number of classes of labelled data; None: unlabelled
    num_classes: int | None = None
    #: items are asked for as ``(index, seed)``: a dataset with random choices per item (a random crop) draws them
    #: from ``seed``, which comes from the run's seeded order, so its randomness is exact on resume
    seeded_items: bool = False
    #: with :meth:`uint8_item`: the keys of its items that hold uint8 images (scaled to [-1, 1] on the device)
    uint8_keys: tuple[str, ...] = ()

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index):
        raise NotImplementedError

    def get_batch(self, indices: Sequence[int] | torch.Tensor) -> dict[str, torch.Tensor]:
        """Optional: a whole batch by one indexing operation (in-memory data); the batch stream then skips the
        DataLoader."""
        raise NotImplementedError

    def stage(self, device: torch.device) -> bool:
        """Optional, with :meth:`get_batch`: keep the data on ``device`` (a copy on a GPU; on the CPU, where it is)
        so batches are gathered there, called when a training run's batch stream opens; False: declined."""
        return False

    def uint8_item(self, index) -> dict[str, torch.Tensor]:
        """Optional: the item with its ``uint8_keys`` images left as uint8 (a quarter of the bytes through
        DataLoader workers, pinned memory and the bus)."""
        raise NotImplementedError

    @classmethod
    def download(cls, root: Path, mirror: str | None = None):
        """Optional: ``gancompose data download NAME`` (fetch and verify the files into ``root``)."""
        raise NotImplementedError

    @classmethod
    def prepare(cls, root: Path, archive: Path):
        """Optional: ``gancompose data prepare NAME --from ARCHIVE`` (unpack and verify an archive the user
        has); returns the folder it wrote."""
        raise NotImplementedError


class AdversarialLoss:
    """Base of every adversarial loss (``register_losses``): the schedule makes the phases' adversarial terms of
    it. Both methods take the discriminator's outputs and return a scalar, to be minimized."""
    #: the generator's objective needs the discriminator's output on real data (a relativistic loss): the
    #: schedule passes ``real_out`` to :meth:`generator`; False: it passes None and saves that forward pass
    needs_real_for_generator: bool = False

    def discriminator(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        """The discriminator's loss on its outputs for a real and a generated batch."""
        raise NotImplementedError

    def generator(self, fake_out: torch.Tensor, real_out: torch.Tensor | None = None) -> torch.Tensor:
        """The generator's loss; ``real_out`` (None unless the loss asks for it) for relativistic losses."""
        raise NotImplementedError


class Augmentation(nn.Module):
    """Base of every augmentation (``register_augmentations``): ``forward(x)`` transforms a batch of images
    on its way into a discriminator, in training mode only, differentiably."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def observe(self, real_out: torch.Tensor) -> None:
        """What the discriminator answered on a real batch (adaptive augmentation adjusts its strength)."""

    def monitor(self) -> torch.Tensor | None:
        """A value logged in metrics.jsonl (ADA's ``p``); None: nothing."""
        return None

    def status(self) -> dict[str, str]:
        """Shown by the progress display (``{"p": "0.12"}``)."""
        return {}


class PerEpoch:
    """Base of a learning-rate schedule (``register_lr_schedules``) that changes once per epoch: called as
    ``schedule(epoch, total_epochs) -> factor`` instead of ``(step, total_steps)``."""

    def __call__(self, epoch: int, total_epochs: int) -> float:
        raise NotImplementedError


class TakesLabels:
    """Mixin of a network that takes class labels: called as ``net(x, labels)``. ``conditional`` may be set
    False on an instance built without classes (a class count of 0)."""
    conditional: bool = True


def takes_labels(net) -> bool:
    """Whether ``net`` is called with class labels."""
    return isinstance(net, TakesLabels) and net.conditional
