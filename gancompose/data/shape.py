"""What a dataset is, known from its parameters alone: the shape of a sample and the number of classes.

``validate`` and ``explain`` build every network with a dry forward pass, which needs the data's sample shape
and class count, not the data. A dataset whose parameters determine both (an image folder's ``image_size``
and ``channels``; CIFAR-10 is 3 x 32 x 32 with 10 classes) declares them by giving its parameter model a
:meth:`DatasetParams.data_shape`; when its files are not on disk yet, those commands build on a
:class:`DataStandIn` and say in one line that the data is missing and which command gets it. ``run`` still
refuses with the dataset's own error.
"""
from __future__ import annotations

from dataclasses import dataclass

from gancompose.errors import DataError
from gancompose.params import Params
from gancompose.protocols import Dataset


@dataclass(frozen=True)
class DataShape:
    """A dataset's per-sample shape and class count (None: unlabelled or not known from the parameters), when the
    parameters fix it its number of samples (for the steps of a recipe counted in epochs), and for data whose
    batches hold several domains (``{"A": ..., "B": ...}``, unpaired translation) their names."""
    sample_shape: tuple[int, ...]
    num_classes: int | None = None
    size: int | None = None
    domains: tuple[str, ...] | None = None


class DatasetParams(Params):
    """Base of a dataset's parameter model. Override :meth:`data_shape` when the parameters alone determine the
    sample shape (and class count), so a recipe validates and explains before the data is fetched."""

    def data_shape(self) -> DataShape | None:
        """The data's shape from the parameters alone, or None (the data must be read to know it)."""
        return None

    def missing(self) -> str | None:
        """A cheap look at the disk: None when the data's files are there, else what is missing and the command
        (or step) that gets them, in one line (``gancompose recipes`` shows it per recipe)."""
        return None


class DataStandIn(Dataset):
    """Stands in for the data where only its shape is needed: a dataset whose files are not on disk yet
    (``validate``, ``explain``; ``missing`` is the error the dataset raised, whose message and hint say how to get
    the data), or the shape a checkpoint records (sampling, export)."""

    def __init__(self, shape: DataShape, missing: DataError | None = None):
        self.sample_shape = tuple(shape.sample_shape)
        self.num_classes = shape.num_classes
        self.size = shape.size
        self.domains = shape.domains
        self.missing = missing

    def __len__(self) -> int:
        return self.size or 0

    def __repr__(self) -> str:
        return f"DataStandIn(sample_shape={self.sample_shape}, num_classes={self.num_classes}, size={self.size})"
