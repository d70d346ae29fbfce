"""Minibatch discrimination (Salimans et al. 2016, "Improved techniques for training GANs", sec. 3.2).

A discriminator that sees each sample alone cannot tell that a generator puts out the same sample
again and again. Minibatch discrimination lets it compare samples within the batch: the features
``f(x_i)`` (``A`` numbers) are projected by a learned tensor ``T`` (``A x B x C``) to ``B`` rows
``M_i,b`` of length ``C``; ``c_b(x_i, x_j) = exp(-||M_i,b - M_j,b||_1)`` and
``o(x_i)_b = sum_j c_b(x_i, x_j)``. The layer outputs ``[f(x_i), o(x_i)]`` (``A + B`` numbers).
As in the paper, the sum includes ``j = i`` (adding 1); ``exclude_self = true`` leaves it out.

Samples interact through this layer, so gradient penalties that treat samples independently (R1,
WGAN-GP) do not combine well with it; real and fake batches go through the discriminator separately
(the loss calls it on each), as in the paper's code.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field, PositiveInt
from torch import nn

from gancompose import Params


class MinibatchDiscriminationParams(Params):
    num_kernels: PositiveInt = Field(100, description="B: kernels, the number of similarity features added")
    kernel_dim: PositiveInt = Field(5, description="C: dimension of each kernel's projection")
    init_std: float = Field(0.05, gt=0, description="standard deviation of T's normal initialization")
    exclude_self: bool = Field(False, description="leave each sample's similarity to itself (exp(0) = 1) out "
                                                  "of its sum")


class MinibatchDiscrimination(nn.Module):
    def __init__(self, in_features: int, num_kernels: int, kernel_dim: int, init_std: float = 0.05,
                 exclude_self: bool = False):
        super().__init__()
        self.num_kernels, self.kernel_dim, self.exclude_self = num_kernels, kernel_dim, exclude_self
        self.T = nn.Parameter(torch.randn(in_features, num_kernels * kernel_dim) * init_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(len(x), -1)
        m = (flat @ self.T).view(len(x), self.num_kernels, self.kernel_dim).transpose(0, 1)  # [B, N, C]
        l1 = torch.cdist(m, m, p=1)                       # [B, N, N]: ||M_i,b - M_j,b||_1
        o = torch.exp(-l1).sum(dim=2).t()                 # [N, B]
        if self.exclude_self:
            o = o - 1.0
        return torch.cat([flat, o], dim=1)

    def extra_repr(self) -> str:
        return f"in_features={self.T.shape[0]}, num_kernels={self.num_kernels}, kernel_dim={self.kernel_dim}"


def minibatch_discrimination(p: MinibatchDiscriminationParams, in_shape: tuple[int, ...]) -> nn.Module:
    """Minibatch discrimination (Salimans et al. 2016): appends B batch-similarity features to each sample's."""
    return MinibatchDiscrimination(math.prod(in_shape), p.num_kernels, p.kernel_dim, p.init_std, p.exclude_self)


_ACT = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh}


class MinibatchMLPParams(Params):
    hidden: list[PositiveInt] = Field([128, 128], min_length=1, description="hidden layer widths")
    activation: Literal["relu", "leaky_relu", "tanh"] = Field("leaky_relu", description="activation after each "
                                                                                         "hidden layer")
    num_kernels: PositiveInt = Field(50, description="B of the minibatch discrimination layer")
    kernel_dim: PositiveInt = Field(5, description="C of the minibatch discrimination layer")


def minibatch_mlp(p: MinibatchMLPParams, in_shape: tuple[int, ...]) -> nn.Module:
    """MLP discriminator with minibatch discrimination before its output layer (one score per sample)."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(in_shape)
    for h in p.hidden:
        layers += [nn.Linear(width, h), _ACT[p.activation]()]
        width = h
    layers += [MinibatchDiscrimination(width, p.num_kernels, p.kernel_dim), nn.Linear(width + p.num_kernels, 1)]
    return nn.Sequential(*layers)


LAYERS = [("minibatch_discrimination", minibatch_discrimination, MinibatchDiscriminationParams)]
BLOCKS = [("minibatch_mlp", minibatch_mlp, MinibatchMLPParams)]
