"""Feeding data to the loop: a resumable, seeded stream of batches."""
from gancompose.data.shape import DataShape, DatasetParams, DataStandIn
from gancompose.data.stream import BatchStream

__all__ = ["BatchStream", "DataShape", "DatasetParams", "DataStandIn"]
