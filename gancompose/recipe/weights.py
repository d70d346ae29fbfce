"""The recipe keys this package adds to every network table: ``init_from``, ``trainable``, ``freeze``."""
from __future__ import annotations

from typing import Optional

from pydantic import Field

from gancompose.recipe.sections import Section


class InitFromSpec(Section):
    """Start a network from the weights of another run (a checkpoint) or of a network file
    (``gancompose export`` / ``gancompose import``). Applied once, when a run starts (not on --resume)."""
    path: str = Field(description="the checkpoint or network file; a relative path is relative to the recipe file")
    network: Optional[str] = Field(None, description="the network to take from the file (default: the one with "
                                                     "this network's name, or the file's only network)")
    strict: bool = Field(False, description="every tensor must match by name and shape (else only matching "
                                            "tensors load and the report lists the rest)")
    ema: bool = Field(False, description="take the checkpoint's EMA copy of the network")
    prepare: Optional[str] = Field(None, description="how to make the file (a command), named when it is missing: "
                                                     "e.g. a `gancompose import FORMAT ... -o FILE` command")


def network_fields() -> dict:
    """Fields added to the network table of the recipe model (see gancompose/recipe/schema.py)."""
    return {
        "init_from": (Optional[InitFromSpec], Field(None, description="start from another run's weights: "
                                                    "{ path, network, strict, ema }")),
        "trainable": (bool, Field(True, description="false: the network's parameters are frozen and it has no "
                                                    "optimizer")),
        "freeze": (list[str], Field([], description="parameter-name prefixes to freeze, e.g. ['main.0', 'main.1'] "
                                                    "(the optimizer gets the other parameters)")),
    }
