"""Equalized learning rate (Karras et al. 2018, ProGAN §4.1), shared by the progressive and style families.

The weight is stored as ``N(0, 1) / lr_multiplier`` and scaled at run time by
``gain * lr_multiplier / sqrt(fan_in)``, so every layer learns at the same speed whatever its fan-in
under Adam. ``lr_multiplier`` slows a layer down (StyleGAN's mapping network uses 0.01); the bias is
stored divided by it too. ProGAN's layers use ``gain = sqrt(2)`` (He's constant) before a leaky ReLU;
StyleGAN2 applies that gain after the activation instead (``gain = 1`` here).

Both are :class:`gancompose.nn.ScaledWeight` layers: ``spectral_norm = true`` on a network normalizes their
effective weight ``gain * W`` (the gain becomes 1 and ``W`` is normalized).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gancompose.nn import ScaledWeight


class EqualizedLinear(ScaledWeight):
    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, lr_multiplier: float = 1.0,
                 gain: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_multiplier)) if bias else None
        self.weight_gain = gain * lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias * self.bias_gain
        return F.linear(x, self.weight * self.weight_gain, bias)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}, gain={self.weight_gain:.4g}"


class EqualizedConv2d(ScaledWeight):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int | None = None, bias: bool = True, *, lr_multiplier: float = 1.0, gain: float = 1.0,
                 bias_init: float = 0.0):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.stride = stride
        self.padding = kernel_size // 2 if padding is None else padding
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_channels,), float(bias_init) / lr_multiplier)) if bias else None
        self.weight_gain = gain * lr_multiplier / math.sqrt(in_channels * kernel_size * kernel_size)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias * self.bias_gain
        return F.conv2d(x, self.weight * self.weight_gain, bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, bias={self.bias is not None}, gain={self.weight_gain:.4g}")
