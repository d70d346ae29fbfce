"""Generic blocks: a multilayer perceptron for vectors and small images."""
from __future__ import annotations

import math
from typing import Literal, Optional

from pydantic import Field, PositiveInt
from torch import nn

from gancompose import Params

_ACT = {"relu": lambda: nn.ReLU(), "leaky_relu": lambda: nn.LeakyReLU(0.2), "tanh": lambda: nn.Tanh(),
        "sigmoid": lambda: nn.Sigmoid(), "none": lambda: nn.Identity()}
Activation = Literal["relu", "leaky_relu", "tanh", "sigmoid", "none"]


class MLPParams(Params):
    hidden: list[PositiveInt] = Field([256, 256], description="hidden layer widths")
    activation: Activation = Field("leaky_relu", description="activation after each hidden layer")
    out_shape: list[PositiveInt] = Field([1], description="per-sample output shape, e.g. [1] or [1, 28, 28]")
    out_activation: Activation = Field("none", description="activation on the output (tanh for images)")
    batch_norm: bool = Field(False, description="batch norm after each hidden linear layer")
    dropout: Optional[float] = Field(None, ge=0, lt=1, description="dropout after each hidden layer")


def mlp(p: MLPParams, in_shape: tuple[int, ...]) -> nn.Module:
    """Multilayer perceptron: flattens its input, reshapes its output to out_shape."""
    layers: list[nn.Module] = [nn.Flatten()] if len(in_shape) > 1 else []
    width = math.prod(in_shape)
    for h in p.hidden:
        layers.append(nn.Linear(width, h))
        if p.batch_norm:
            layers.append(nn.BatchNorm1d(h))
        layers.append(_ACT[p.activation]())
        if p.dropout:
            layers.append(nn.Dropout(p.dropout))
        width = h
    layers += [nn.Linear(width, math.prod(p.out_shape)), _ACT[p.out_activation]()]
    if len(p.out_shape) > 1:
        layers.append(nn.Unflatten(1, tuple(p.out_shape)))
    return nn.Sequential(*layers)


#: ends in a linear layer on its last hidden features (with out_shape [1] and no out_activation: a discriminator),
#: which the projection and auxiliary-classifier conditioners attach to
mlp.provides = ("feature_head",)

BLOCKS = [("mlp", mlp, MLPParams)]
