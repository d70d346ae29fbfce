"""ProGAN's two parameter-free layers (Karras et al. 2018, "Progressive Growing of GANs", §4.2 and §3).

* ``PixelNorm``: each pixel's feature vector scaled to unit average square,
  ``b = a / sqrt(mean_c(a_c^2) + eps)`` (official ``pixel_norm``, eps 1e-8), after every convolution of
  the generator. (The seed tutorial's formula drops the square on ``a``: the official code squares it.)
* ``MinibatchStddev``: the minibatch is split into groups of ``group_size`` samples; per group, the standard
  deviation of every feature at every pixel over the group, averaged over features and pixels, is appended
  to each sample of the group as one more constant feature map (official ``minibatch_stddev_layer``,
  group size 4). Groups are interleaved as in the official reshape ``[G, M, C, H, W]``: sample ``i`` is in
  group ``i % M``.

Both are also registered as layers (``pixel_norm``, ``minibatch_stddev``) for ``type = "sequential"`` networks.
"""
from __future__ import annotations

import torch
from pydantic import Field, PositiveFloat, PositiveInt
from torch import nn

from gancompose import Params, RecipeError


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``x / sqrt(mean over dim 1 of x^2 + eps)``: features of each pixel (or each latent) to unit RMS."""
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + eps)


class PixelNorm(nn.Module):
    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pixel_norm(x, self.eps)

    def extra_repr(self) -> str:
        return f"eps={self.eps:g}"


def group_size_for(n: int, group_size: int) -> int:
    """The group size used for a minibatch of ``n``: ``min(group_size, n)`` as in the official code, lowered
    to the largest divisor of ``n`` when ``n`` is not a multiple (the official code requires a multiple)."""
    g = max(1, min(group_size, n))
    while n % g:
        g -= 1
    return g


def minibatch_stddev(x: torch.Tensor, group_size: int = 4, eps: float = 1e-8) -> torch.Tensor:
    """``x`` ``[N, C, H, W]`` with one more channel: the average over C, H, W of the per-group stddev."""
    n, c, h, w = x.shape
    g = group_size_for(n, group_size)
    y = x.float().reshape(g, n // g, c, h, w)          # [G, M, C, H, W]: sample i is in group i % M
    y = y - y.mean(dim=0, keepdim=True)
    y = (y.square().mean(dim=0) + eps).sqrt()          # [M, C, H, W] population stddev over the group
    y = y.mean(dim=(1, 2, 3)).to(x.dtype)              # [M]
    y = y.repeat(g).reshape(n, 1, 1, 1).expand(n, 1, h, w)  # sample i gets group i % M's value
    return torch.cat([x, y], dim=1)


class MinibatchStddev(nn.Module):
    def __init__(self, group_size: int = 4, eps: float = 1e-8):
        super().__init__()
        self.group_size, self.eps = group_size, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return minibatch_stddev(x, self.group_size, self.eps)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"


# ------------------------------------------------------------------------------ as recipe layers
class PixelNormParams(Params):
    eps: PositiveFloat = Field(1e-8, description="added under the square root (1e-8 in the official code)")


def pixel_norm_layer(p: PixelNormParams, in_shape: tuple[int, ...]) -> nn.Module:
    """Pixelwise feature normalization (ProGAN): each position's features divided by their RMS."""
    if len(in_shape) < 1:
        raise RecipeError(f"pixel_norm normalizes over features (dim 1); the input has shape {tuple(in_shape)}")
    return PixelNorm(p.eps)


class MinibatchStddevParams(Params):
    group_size: PositiveInt = Field(4, description="samples per group (4 in the official ProGAN code); "
                                                   "lowered to a divisor of the batch when needed")
    eps: PositiveFloat = Field(1e-8, description="added to the variance before the square root")


def minibatch_stddev_layer(p: MinibatchStddevParams, in_shape: tuple[int, ...]) -> nn.Module:
    """Minibatch standard deviation (ProGAN): appends the group's average feature stddev as one channel."""
    if len(in_shape) != 3:
        raise RecipeError(f"minibatch_stddev takes feature maps [C, H, W] per sample, got shape {tuple(in_shape)}")
    return MinibatchStddev(p.group_size, p.eps)


LAYERS = [("pixel_norm", pixel_norm_layer, PixelNormParams),
          ("minibatch_stddev", minibatch_stddev_layer, MinibatchStddevParams)]
