"""Feeding data to the loop: a resumable, seeded stream of batches."""
from gancompose.data.stream import BatchStream

__all__ = ["BatchStream"]
