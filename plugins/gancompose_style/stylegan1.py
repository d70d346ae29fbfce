"""The StyleGAN generator (Karras et al. 2019, "A Style-Based Generator Architecture for GANs").

What the seed tutorial (../shared/seeds/002, StyleGAN section) describes, with the sizes of the official
code (NVlabs/stylegan ``training/networks_stylegan.py``, ``G_style`` / ``G_synthesis``):

* the mapping network: z normalized, 8 fully connected layers of 512 with leaky ReLU and learning-rate
  multiplier 0.01 (``mapping.py``, shared with StyleGAN2), the mean ``w`` tracked with decay 0.995;
* the synthesis network starts from a learned constant 4x4 input (initialized to ones);
* every layer: 3x3 convolution (equalized LR, gain sqrt(2)), per-pixel noise scaled by a learned
  per-channel factor (B), bias, leaky ReLU (0.2), instance normalization, then AdaIN's style modulation
  from ``w`` through an affine layer A: ``x * (1 + y_s) + y_b``;
* two layers per resolution; going up: 2x nearest upsampling, the convolution, a ``[1, 2, 1]`` blur;
* toRGB (1x1 convolution, gain 1) at the last resolution;
* style mixing regularization (probability 0.9) in training; truncation psi with a cutoff of 8 layers
  (the official default) when sampling.

Departures: no progressive growing (the official code's ``structure = 'fixed'``; growing belongs to the
progressive family); the upsampling convolution is never the fused transposed convolution the official code
switches to at 128 px and above (the same function class); the mapping layers apply their sqrt(2) gain after
the activation (StyleGAN2's form) rather than to the weights. Channels ``min(channel_base / r, channel_max)``
with channel_base 16384 reproduce the official ``fmap_base = 8192`` schedule (512 up to 32 px, then halving).
"""
from __future__ import annotations

import math
import torch
import torch.nn.functional as F
from pydantic import Field, NonNegativeInt
from torch import nn

from gancompose_core.equalized import EqualizedConv2d, EqualizedLinear
from gancompose_style.mapping import MappingNetwork
from gancompose_style.ops import filter2d, make_filter
from gancompose_style.synthesis import StyleGenerator, StyleParams, channels_for, check_latent


def instance_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    x = x - x.mean(dim=(2, 3), keepdim=True)
    return x * (x.square().mean(dim=(2, 3), keepdim=True) + eps).rsqrt()


class AdaINLayer(nn.Module):
    """(Upsample, conv, blur,) noise, bias, leaky ReLU, instance norm, style modulation. Without ``in_channels``
    it is the first layer, applied to the constant input (no convolution)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: bool = False):
        super().__init__()
        self.up, self.resolution = up, resolution
        if in_channels:
            self.conv = EqualizedConv2d(in_channels, out_channels, 3, bias=False, gain=math.sqrt(2))
        if up:
            self.register_buffer("blur_filter", make_filter((1, 2, 1)), persistent=False)
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.noise_strength = nn.Parameter(torch.zeros(out_channels))  # per channel (StyleGAN 1)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.style = EqualizedLinear(w_dim, 2 * out_channels)  # A: (y_s, y_b); the scale is 1 + y_s

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        if hasattr(self, "conv"):
            x = self.conv(x)
        if self.up:
            x = filter2d(x, self.blur_filter, (1, 1, 1, 1))
        strength = self.noise_strength.reshape(1, -1, 1, 1)
        if noise_mode == "random":
            x = x + torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype) * strength
        elif noise_mode == "const":
            x = x + self.noise_const * strength
        x = instance_norm(F.leaky_relu(x + self.bias.reshape(1, -1, 1, 1), 0.2))
        ys, yb = self.style(w).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        return x * (ys + 1) + yb


class StyleGANSynthesis(nn.Module):
    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int, channel_max: int):
        super().__init__()
        self.resolutions = [2 ** i for i in range(2, int(math.log2(img_resolution)) + 1)]
        ch = {r: channels_for(r, channel_base, channel_max) for r in self.resolutions}
        self.const = nn.Parameter(torch.ones(ch[4], 4, 4))
        layers = [AdaINLayer(0, ch[4], w_dim, 4), AdaINLayer(ch[4], ch[4], w_dim, 4)]
        for r in self.resolutions[1:]:
            layers += [AdaINLayer(ch[r // 2], ch[r], w_dim, r, up=True), AdaINLayer(ch[r], ch[r], w_dim, r)]
        self.layers = nn.ModuleList(layers)
        self.torgb = EqualizedConv2d(ch[img_resolution], img_channels, 1)
        self.num_ws = len(layers)

    def forward(self, ws: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        x = self.const.unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
        for i, layer in enumerate(self.layers):
            x = layer(x, ws[:, i], noise_mode)
        return self.torgb(x)


class StyleGANGenerator(StyleGenerator):
    """StyleGAN generator: mapping network, constant input, AdaIN layers with noise, fixed resolution."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int, *,
                 channel_base: int = 16384, channel_max: int = 512, mapping_layers: int = 8,
                 mapping_lr_multiplier: float = 0.01, w_avg_beta: float = 0.995, style_mixing_prob: float = 0.9,
                 truncation_cutoff: int | None = 8):
        super().__init__()
        self.z_dim, self.w_dim, self.img_resolution = z_dim, w_dim, img_resolution
        self.synthesis = StyleGANSynthesis(w_dim, img_resolution, img_channels, channel_base, channel_max)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, num_layers=mapping_layers,
                                      lr_multiplier=mapping_lr_multiplier, w_avg_beta=w_avg_beta)
        self.default_truncation_cutoff = truncation_cutoff
        self._init_common(c_dim, style_mixing_prob)


class StyleGANGeneratorParams(StyleParams):
    channel_base: int = Field(16384, gt=0, description="channels at resolution r = min(channel_base / r, "
                                                       "channel_max); 16384 is the official fmap_base = 8192 "
                                                       "(512 up to 32 px, then halving)")
    truncation_cutoff: NonNegativeInt = Field(
        8, description="style layers the truncation trick applies to when sampling with a psi (8 in StyleGAN: "
                       "the coarse and middle styles); 0: all")


def stylegan_generator(p: StyleGANGeneratorParams, in_shape: tuple[int, ...]) -> nn.Module:
    """StyleGAN generator (Karras et al. 2019): mapping network, constant input, AdaIN, per-layer noise."""
    nz = check_latent(p, in_shape)
    return StyleGANGenerator(nz, p.num_classes, p.w_dim, p.image_size, p.nc, channel_base=p.channel_base,
                             channel_max=p.channel_max, mapping_layers=p.mapping_layers,
                             mapping_lr_multiplier=p.mapping_lr_multiplier, w_avg_beta=p.w_avg_beta,
                             style_mixing_prob=p.style_mixing_prob, truncation_cutoff=p.truncation_cutoff or None)


stylegan_generator.provides = ("style_generator",)  # what path_length needs (mapping, synthesis, pl_mean)
