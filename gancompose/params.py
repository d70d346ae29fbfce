"""Base class for component parameter models.

A component's parameters are a pydantic model: it is the one truth for validation, defaults,
``list-components`` and the JSON Schema export. Unknown keys are errors (``extra="forbid"``).
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Params(BaseModel):
    """Parameters of a component. Subclass it and declare fields with ``Field(description=...)``."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


class NoParams(Params):
    """A component without parameters."""
