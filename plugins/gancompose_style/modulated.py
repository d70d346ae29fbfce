"""StyleGAN2's modulated convolution with weight demodulation, and the layers built on it.

``modulated_conv2d`` scales the input channels of a convolution weight by a per-sample style
``s`` (modulation), and with ``demodulate`` divides each output channel's weight by its L2 norm,
``w''_oikk = s_i w_oikk / sqrt(sum_ikk (s_i w_oikk)^2 + 1e-8)``, so that unit-variance input gives
unit-variance output whatever the style (Karras et al. 2020, eq. 1-3). It runs either *fused* (one
grouped convolution with a weight per sample) or as scale-convolve-scale with the shared weight (the
official code's choice in training); both give the same result.

``conv_clamp`` (official snapshots: 256, set with fp16 training to avoid overflow) clamps each layer's output
after its bias and activation, as the official ``bias_act(clamp=conv_clamp * gain)`` does; None (the default)
leaves activations unbounded.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from gancompose.nn import ScaledWeight
from gancompose_core.equalized import EqualizedLinear
from gancompose_style.ops import conv2d_resample, lrelu, make_filter


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *, demodulate: bool = True,
                     up: int = 1, resample_filter: torch.Tensor | None = None, noise: torch.Tensor | None = None,
                     fused: bool = True) -> torch.Tensor:
    """``x`` ``[N, I, H, W]``, ``weight`` ``[O, I, k, k]``, ``styles`` ``[N, I]`` -> ``[N, O, H', W']``."""
    n = x.shape[0]
    o, i, kh, kw = weight.shape
    # sum_ikk (s_i w_oikk)^2 = sum_i s_i^2 sum_kk w_oikk^2: no per-sample weight needed for the coefficients
    dcoefs = ((styles.square() @ weight.square().sum(dim=(2, 3)).t() + 1e-8).rsqrt()  # [N, O]
              if demodulate else None)
    if not fused:
        x = x * styles.to(x.dtype).reshape(n, i, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), resample_filter, up=up)
        if dcoefs is not None:
            x = x * dcoefs.to(x.dtype).reshape(n, o, 1, 1)
        return x if noise is None else x + noise
    w = weight.unsqueeze(0) * styles.reshape(n, 1, i, 1, 1)  # [N, O, I, k, k]
    if dcoefs is not None:
        w = w * dcoefs.reshape(n, o, 1, 1, 1)
    x = x.reshape(1, n * i, *x.shape[2:])
    x = conv2d_resample(x, w.reshape(n * o, i, kh, kw).to(x.dtype), resample_filter, up=up, groups=n)
    x = x.reshape(n, o, *x.shape[2:])
    return x if noise is None else x + noise


def clamp(x: torch.Tensor, conv_clamp: float | None, gain: float = 1.0) -> torch.Tensor:
    """The official ``bias_act(..., clamp=conv_clamp * gain)``: after the bias, the activation and its gain,
    activations are clamped to ``[-conv_clamp * gain, conv_clamp * gain]`` (``gain``: the layer call's extra
    gain, sqrt(0.5) in residual blocks; not the activation's own sqrt(2)). None: no clamping."""
    if conv_clamp is None:
        return x
    c = conv_clamp * gain
    return x.clamp(-c, c)


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution (optionally upsampling), per-pixel noise times a learned strength, bias,
    leaky ReLU. The style comes from ``w`` through an affine layer initialized to bias 1."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1, use_noise: bool = True, conv_clamp: float | None = None):
        super().__init__()
        self.resolution, self.up, self.use_noise, self.conv_clamp = resolution, up, use_noise, conv_clamp
        self.register_buffer("resample_filter", make_filter(), persistent=False)
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random", fused: bool | None = None,
                gain: float = 1.0) -> torch.Tensor:
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device,
                                dtype=x.dtype) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        fused = (not self.training) if fused is None else fused
        x = modulated_conv2d(x, self.weight, styles, up=self.up, resample_filter=self.resample_filter, noise=noise,
                             fused=fused)
        x = lrelu(x + self.bias.reshape(1, -1, 1, 1), gain)
        return clamp(x, self.conv_clamp, gain)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 convolution to image channels, without demodulation, plus bias (no activation)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: float | None = None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size * kernel_size)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused: bool | None = None) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        fused = (not self.training) if fused is None else fused
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused)
        return clamp(x + self.bias.reshape(1, -1, 1, 1), self.conv_clamp)


class Conv2dLayer(ScaledWeight):
    """Equalized-LR convolution (optionally 2x up/down through the low-pass filter), bias, optional leaky ReLU
    with its sqrt(2) gain (StyleGAN2-ADA's ``Conv2dLayer``): the discriminator's layers and the resnet skips."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", up: int = 1, down: int = 1, conv_clamp: float | None = None):
        super().__init__()
        self.activation, self.up, self.down, self.conv_clamp = activation, up, down, conv_clamp
        self.register_buffer("resample_filter", make_filter(), persistent=False)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size * kernel_size)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        x = conv2d_resample(x, (self.weight * self.weight_gain).to(x.dtype), self.resample_filter, self.up, self.down)
        if self.bias is not None:
            x = x + self.bias.to(x.dtype).reshape(1, -1, 1, 1)
        x = lrelu(x, gain) if self.activation == "lrelu" else x * gain
        return clamp(x, self.conv_clamp, gain)
