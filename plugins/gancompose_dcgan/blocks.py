"""DCGAN generator and discriminator (Radford et al. 2016), as in pytorch/examples/dcgan.

At image_size 64 these are layer for layer the official networks (G 3,576,704 and D 2,765,568
parameters at nz=100, ngf=ndf=64, nc=3). Other power-of-two sizes add or remove one stride-2 stage
per factor of two. The discriminator returns logits (no sigmoid): the loss applies it. Its last 4x4
convolution is a linear layer on the flattened last feature map, which is how the projection and
auxiliary-classifier conditioners read it (``features()`` and ``head``; the weights stay the conv's).
"""
from __future__ import annotations

import math
from typing import Optional

from pydantic import Field, PositiveInt, field_validator
from torch import nn

from gancompose import Params, RecipeError
from gancompose_core.discriminators import LinearView, image_input_channels


def _stages(image_size: int) -> int:
    return int(math.log2(image_size)) - 2  # stride-2 stages between 4x4 and image_size


class _SizeParams(Params):
    image_size: PositiveInt = Field(64, description="output/input image size: a power of two, 16 or more")
    nc: PositiveInt = Field(3, description="image channels")

    @field_validator("image_size")
    @classmethod
    def _power_of_two(cls, v: int) -> int:
        if v < 16 or v & (v - 1):
            raise ValueError(f"image_size must be a power of two >= 16, got {v}")
        return v


class GeneratorParams(_SizeParams):
    nz: Optional[PositiveInt] = Field(None, description="latent size (inferred from [latent] when omitted)")
    ngf: PositiveInt = Field(64, description="generator width: channels of the last hidden stage")


class Generator(nn.Module):
    """DCGAN generator: transposed convolutions, BatchNorm and ReLU, tanh output."""

    def __init__(self, nz: int, ngf: int, nc: int, image_size: int):
        super().__init__()
        n = _stages(image_size)
        ch = ngf * 2 ** (n - 1)
        layers = [nn.ConvTranspose2d(nz, ch, 4, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(n - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.nz = nz
        self.main = nn.Sequential(*layers)

    def forward(self, z):
        return self.main(z.view(z.shape[0], self.nz, 1, 1))


def generator(p: GeneratorParams, in_shape: tuple[int, ...]) -> nn.Module:
    """DCGAN generator: latent vector to image through stride-2 transposed convolutions."""
    nz = math.prod(in_shape)
    if p.nz is not None and p.nz != nz:
        raise RecipeError(f"expected {nz} (the latent size, latent.dim), got {p.nz}", key=["nz"],
                          hint="remove nz to infer it from [latent]")
    return Generator(nz, p.ngf, p.nc, p.image_size)


class DiscriminatorParams(_SizeParams):
    ndf: PositiveInt = Field(64, description="discriminator width: channels of the first stage")
    batch_norm: bool = Field(True, description="BatchNorm after each conv but the first (off for WGAN-GP)")


class Discriminator(nn.Module):
    """DCGAN discriminator: strided convolutions, BatchNorm and LeakyReLU(0.2), one logit per image."""

    def __init__(self, ndf: int, nc: int, image_size: int, batch_norm: bool = True):
        super().__init__()
        n = _stages(image_size)
        layers: list[nn.Module] = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        ch = ndf
        for _ in range(n - 1):
            layers.append(nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False))
            if batch_norm:
                layers.append(nn.BatchNorm2d(ch * 2))
            layers.append(nn.LeakyReLU(0.2, True))
            ch *= 2
        layers.append(nn.Conv2d(ch, 1, 4, 1, 0, bias=False))
        self.main = nn.Sequential(*layers)

    def forward(self, x):
        return self.main(x).view(-1)

    def features(self, x):
        """The last feature map (4x4, ``8 ndf`` channels at 64 px), flattened: ``[N, 16 * channels]``."""
        return self.main[:-1](x).flatten(1)

    @property
    def head(self) -> nn.Module:
        """The final 4x4 convolution as a linear layer on :meth:`features` (conditioners attach to it)."""
        return LinearView(self.main[-1])


def discriminator(p: DiscriminatorParams, in_shape: tuple[int, ...]) -> nn.Module:
    """DCGAN discriminator: image to one logit through stride-2 convolutions."""
    channels = image_input_channels(p, in_shape, p.nc, p.image_size)
    return Discriminator(p.ndf, channels, p.image_size, p.batch_norm)
