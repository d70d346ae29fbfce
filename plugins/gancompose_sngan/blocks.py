"""SNGAN ResNet generator and discriminator (Miyato et al. 2018), layer for layer the official networks.

The official code is pfnet-research/sngan_projection (Chainer), by the paper's authors:

* generator: ``gen_models/resblocks.py`` (``Block``), ``gen_models/resnet_32.py`` (32 px: ch 256, three
  up-blocks 256 -> 256), ``gen_models/resnet_64.py`` (64 px: ch 64, multipliers 16, 8, 4, 2, 1) and
  ``gen_models/resnet.py`` (128 px: ch 64, multipliers 16, 16, 8, 4, 2, 1);
* discriminator: ``dis_models/resblocks.py`` (``OptimizedBlock``, ``Block``), ``dis_models/snresnet_32.py``
  (32 px: ch 128; optimized block and one block down, two blocks not), ``dis_models/snresnet_64.py``
  (64 px: ch 64, multipliers 1, 2, 4, 8, 16, every block down) and ``dis_models/snresnet.py`` /
  ``snresnet_128.py`` (128 px: ch 64, multipliers 1, 2, 4, 8, 16, 16, the last block not down).

Kept from the official code: pre-activation residual blocks (BN, ReLU, 2x nearest upsampling, 3x3 conv in
the generator; ReLU, 3x3 conv, 2x2 average pooling in the discriminator), a 1x1 convolution on the shortcut
only where the shape changes, hidden width = out channels in the generator's blocks and = in channels in the
discriminator's, global *sum* pooling, biases on every conv and linear (except the 32 px discriminator's
last linear: ``nobias=True`` in ``snresnet_32.py``), and the initialization: Glorot uniform with gain
sqrt(2) on the blocks' 3x3 convolutions, gain 1 on shortcuts, the first linear, the last conv and the last
linear; biases 0. The discriminator's convolutions and linear are always spectrally normalized (one power
iteration per training-mode forward, as the official ``SNConvolution2D``/``SNLinear``).

Differences, none of which changes a shape or a parameter count: PyTorch's spectral norm starts its
singular vector with 15 power iterations instead of a random vector; BatchNorm eps is PyTorch's 1e-5
(Chainer's 2e-5); the discriminator returns one logit per image as shape ``[B]`` (the official ``[B, 1]``).
Image size 16 (used by quick tests) takes the 32 px layout with one stage less.
"""
from __future__ import annotations

import math
from typing import Literal, Optional

import torch
from pydantic import Field, PositiveInt
from torch import nn
from torch.nn import functional as F

from gancompose import Params, RecipeError
from gancompose.nn import spectral_norm
from gancompose_core.discriminators import image_input_channels


def _glorot(module: nn.Module, gain: float) -> nn.Module:
    """Chainer's ``GlorotUniform(scale=gain)`` (= torch's xavier_uniform with that gain); bias 0."""
    nn.init.xavier_uniform_(module.weight, gain=gain)
    if module.bias is not None:
        nn.init.zeros_(module.bias)
    return module


def _conv(cin: int, cout: int, k: int, gain: float) -> nn.Conv2d:
    return _glorot(nn.Conv2d(cin, cout, k, 1, k // 2), gain)


# --------------------------------------------------------------------------------------- generator

def generator_multipliers(image_size: int) -> list[int]:
    """Channel multipliers of the generator, the 4x4 input first then after each up-block."""
    n = int(math.log2(image_size)) - 2  # up-blocks from 4x4 to image_size
    if image_size <= 32:
        return [1] * (n + 1)  # resnet_32.py: ch everywhere
    return [min(16, 2 ** (n - i)) for i in range(n + 1)]  # resnet_64.py: 16,8,4,2,1; resnet.py: 16,16,8,4,2,1


class GeneratorParams(Params):
    image_size: Literal[16, 32, 64, 128] = Field(
        32, description="output size: 32 (CIFAR layout), 64 or 128 (ImageNet layouts); 16 for quick tests")
    ch: Optional[PositiveInt] = Field(
        None, description="width: channels of a block = ch x its multiplier (32 px: 256, multipliers 1, 1, 1, 1; "
                          "64 px: 64 with 16, 8, 4, 2, 1; 128 px: 64 with 16, 16, 8, 4, 2, 1). Default: the "
                          "official width for image_size")
    nc: PositiveInt = Field(3, description="image channels")
    nz: Optional[PositiveInt] = Field(None, description="latent size (inferred from [latent] when omitted)")


class GBlock(nn.Module):
    """Up-ResBlock: BN, ReLU, 2x nearest upsampling, conv3x3, BN, ReLU, conv3x3; shortcut: upsampling, conv1x1."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.b1, self.c1 = nn.BatchNorm2d(cin), _conv(cin, cout, 3, math.sqrt(2))
        self.b2, self.c2 = nn.BatchNorm2d(cout), _conv(cout, cout, 3, math.sqrt(2))
        self.c_sc = _conv(cin, cout, 1, 1.0)  # learnable: every generator block upsamples

    def forward(self, x):
        h = F.interpolate(F.relu(self.b1(x)), scale_factor=2, mode="nearest")
        h = self.c2(F.relu(self.b2(self.c1(h))))
        return h + self.c_sc(F.interpolate(x, scale_factor=2, mode="nearest"))


class Generator(nn.Module):
    """SNGAN ResNet generator: linear to 4x4 x C, up-ResBlocks, BN, ReLU, conv3x3, tanh."""

    bottom_width = 4

    def __init__(self, nz: int, ch: int, nc: int, image_size: int):
        super().__init__()
        chs = [ch * m for m in generator_multipliers(image_size)]
        self.nz, self.c0 = nz, chs[0]
        self.l1 = _glorot(nn.Linear(nz, self.bottom_width ** 2 * chs[0]), 1.0)
        self.blocks = nn.Sequential(*(GBlock(a, b) for a, b in zip(chs, chs[1:])))
        self.b_out = nn.BatchNorm2d(chs[-1])
        self.c_out = _conv(chs[-1], nc, 3, 1.0)

    def forward(self, z):
        h = self.l1(z.reshape(z.shape[0], self.nz)).view(z.shape[0], self.c0, self.bottom_width, self.bottom_width)
        h = self.blocks(h)
        return torch.tanh(self.c_out(F.relu(self.b_out(h))))


def generator(p: GeneratorParams, in_shape: tuple[int, ...]) -> nn.Module:
    """SNGAN ResNet generator (Miyato et al. 2018): linear to 4x4, up-ResBlocks with BatchNorm, conv3x3, tanh."""
    nz = math.prod(in_shape)
    if p.nz is not None and p.nz != nz:
        raise RecipeError(f"expected {nz} (the latent size, latent.dim), got {p.nz}", key=["nz"],
                          hint="remove nz to infer it from [latent]")
    ch = p.ch or (256 if p.image_size <= 32 else 64)
    return Generator(nz, ch, p.nc, p.image_size)


# ----------------------------------------------------------------------------------- discriminator

def discriminator_layout(image_size: int) -> list[tuple[int, bool]]:
    """(channel multiplier, downsample) of each discriminator block, the optimized block first."""
    if image_size <= 32:  # snresnet_32.py: optimized block and one block down, then two blocks at full width
        return [(1, True), (1, True), (1, False), (1, False)]
    n_down = min(5, int(math.log2(image_size)) - 1)  # snresnet_64.py: 64 -> 2x2; snresnet.py: 128 -> 4x4
    layout = [(2 ** i, True) for i in range(n_down)]
    return layout + [(16, False)] * (image_size >= 128)


class DBlock(nn.Module):
    """Down-ResBlock: ReLU, conv3x3, ReLU, conv3x3, 2x2 average pooling; shortcut: conv1x1, average pooling."""

    def __init__(self, cin: int, cout: int, downsample: bool):
        super().__init__()
        self.downsample = downsample
        self.c1 = _conv(cin, cin, 3, math.sqrt(2))  # hidden channels = in channels (dis_models/resblocks.py)
        self.c2 = _conv(cin, cout, 3, math.sqrt(2))
        self.c_sc = _conv(cin, cout, 1, 1.0) if cin != cout or downsample else None

    def forward(self, x):
        h = self.c2(F.relu(self.c1(F.relu(x))))
        s = x if self.c_sc is None else self.c_sc(x)
        if self.downsample:
            h, s = F.avg_pool2d(h, 2), F.avg_pool2d(s, 2)
        return h + s


class OptimizedDBlock(nn.Module):
    """The first block, on the image: conv3x3, ReLU, conv3x3, average pooling; shortcut: pooling, conv1x1."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.c1 = _conv(cin, cout, 3, math.sqrt(2))
        self.c2 = _conv(cout, cout, 3, math.sqrt(2))
        self.c_sc = _conv(cin, cout, 1, 1.0)

    def forward(self, x):
        return F.avg_pool2d(self.c2(F.relu(self.c1(x))), 2) + self.c_sc(F.avg_pool2d(x, 2))


class Discriminator(nn.Module):
    """SNGAN ResNet discriminator: optimized block, down-ResBlocks, ReLU, global sum pooling, linear."""

    def __init__(self, ch: int, nc: int, image_size: int):
        super().__init__()
        layout = discriminator_layout(image_size)
        chs = [ch * m for m, _ in layout]
        blocks: list[nn.Module] = [OptimizedDBlock(nc, chs[0])]
        blocks += [DBlock(a, b, down) for a, (b, down) in zip(chs, zip(chs[1:], (d for _, d in layout[1:])))]
        self.blocks = nn.Sequential(*blocks)
        self.l_out = _glorot(nn.Linear(chs[-1], 1, bias=image_size > 32), 1.0)  # snresnet_32.py: nobias=True
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                spectral_norm(m)

    @property
    def head(self) -> nn.Linear:
        """The final linear layer (conditioners such as projection attach to it)."""
        return self.l_out

    def features(self, x):
        return F.relu(self.blocks(x)).sum(dim=(2, 3))  # global sum pooling

    def forward(self, x):
        return self.l_out(self.features(x)).view(-1)


class DiscriminatorParams(Params):
    image_size: Literal[16, 32, 64, 128] = Field(
        32, description="input size: 32 (CIFAR layout), 64 or 128 (ImageNet layouts); 16 for quick tests")
    ch: Optional[PositiveInt] = Field(
        None, description="width: channels of a block = ch x its multiplier (32 px: 128 in all four blocks; "
                          "64 px: 64 with 1, 2, 4, 8, 16; 128 px: 64 with 1, 2, 4, 8, 16, 16). Default: the "
                          "official width for image_size")
    nc: PositiveInt = Field(3, description="image channels")


def discriminator(p: DiscriminatorParams, in_shape: tuple[int, ...]) -> nn.Module:
    """SNGAN ResNet discriminator (Miyato et al. 2018): spectrally normalized down-ResBlocks, sum pooling, linear."""
    channels = image_input_channels(p, in_shape, p.nc, p.image_size)  # more than nc under concat conditioning
    if getattr(p, "init", None) is not None:
        raise RecipeError("this block initializes its own weights (Glorot uniform, as the official code) and "
                          "then normalizes them spectrally; an initializer applied after it would not reach the "
                          "normalized weights", key=["init"], hint="remove init")
    ch = p.ch or (128 if p.image_size <= 32 else 64)
    return Discriminator(ch, channels, p.image_size)
