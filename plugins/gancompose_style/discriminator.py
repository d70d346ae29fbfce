"""The StyleGAN2 discriminator (Karras et al. 2020), layer for layer StyleGAN2-ADA's ``Discriminator``.

Blocks from the image resolution down to 8x8, each two equalized-LR 3x3 convolutions with leaky ReLU, the
second downsampling through the ``[1, 3, 3, 1]`` filter; ``architecture = "resnet"`` (the default) adds a
1x1 downsampling skip and scales both branches by sqrt(0.5); ``"orig"`` has no skip (fromRGB only at the
input); ``"skip"`` a fromRGB per resolution. The 4x4 epilogue: minibatch standard deviation (a group of
``mbstd_group_size`` images, ``mbstd_num_channels`` features), a 3x3 convolution, a fully connected layer
and the output layer. A class-conditional discriminator (``num_classes > 0``) maps the label through its own
mapping network (8 layers by default: the official code uses the default even where the generator's has 2)
to ``cmap_dim`` features and outputs ``<out, cmap> / sqrt(cmap_dim)`` (projection). An unconditional one
exposes ``features()`` and ``head`` (the output layer), so the recipe's ``projection`` and
``auxiliary_classifier`` conditioners can condition it instead.

Module names follow the official code (``b32.fromrgb``, ``b32.conv0``, ``b4.mbstd``, ``b4.fc``, ``b4.out``);
fp16 is left out (it changes no parameter count); ``conv_clamp`` (default None, 256 in official snapshots)
clamps the fromRGB and 3x3 convolutions' outputs as the official code does. One logit per image, shape ``[N]``
(the official ``[N, 1]``).
"""
from __future__ import annotations

import math
from typing import Literal, Optional

import torch
from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt
from torch import nn

from gancompose import Params, RecipeError
from gancompose.protocols import TakesLabels
from gancompose_core.discriminators import image_input_channels
from gancompose_core.equalized import EqualizedLinear
from gancompose_style.mapping import MappingNetwork
from gancompose_style.modulated import Conv2dLayer
from gancompose_style.ops import downsample2d, lrelu, make_filter
from gancompose_style.synthesis import Resolution, channels_for


class DiscriminatorBlock(nn.Module):
    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, img_channels: int,
                 architecture: str = "resnet", conv_clamp: float | None = None):
        super().__init__()
        self.in_channels, self.architecture = in_channels, architecture
        self.register_buffer("resample_filter", make_filter(), persistent=False)
        if in_channels == 0 or architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1, activation="lrelu", conv_clamp=conv_clamp)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, activation="lrelu", down=2, conv_clamp=conv_clamp)
        if architecture == "resnet":
            self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2)

    def forward(self, x, img):
        if self.in_channels == 0 or self.architecture == "skip":
            y = self.fromrgb(img)
            x = y if x is None else x + y
            img = downsample2d(img, self.resample_filter) if self.architecture == "skip" else None
        if self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))
            x = y + self.conv1(self.conv0(x), gain=math.sqrt(0.5))
        else:
            x = self.conv1(self.conv0(x))
        return x, img


class MinibatchStdLayer(nn.Module):
    """Appends the standard deviation across groups of ``group_size`` images (averaged over channels and
    pixels, in ``num_channels`` channel groups) as extra feature maps (ProGAN; StyleGAN2's form)."""

    def __init__(self, group_size: int | None, num_channels: int = 1):
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = n if self.group_size is None else min(self.group_size, n)
        if n % g:
            raise ValueError(f"minibatch stddev: the batch ({n}) must be a multiple of the group size ({g})")
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0)
        y = (y + 1e-8).sqrt().mean(dim=(2, 3, 4)).reshape(-1, f, 1, 1)
        return torch.cat([x, y.repeat(g, 1, h, w)], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"


class DiscriminatorEpilogue(nn.Module):
    def __init__(self, in_channels: int, cmap_dim: int, resolution: int, img_channels: int, architecture: str,
                 mbstd_group_size: int | None, mbstd_num_channels: int, conv_clamp: float | None = None):
        super().__init__()
        self.architecture, self.cmap_dim = architecture, cmap_dim
        if architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, in_channels, 1, activation="lrelu")
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        # as the official code: the epilogue's 3x3 conv is clamped, its fromRGB (skip architecture) is not
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, 3, activation="lrelu",
                                conv_clamp=conv_clamp)
        self.fc = EqualizedLinear(in_channels * resolution ** 2, in_channels)
        self.out = EqualizedLinear(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def features(self, x, img):
        """Everything but the output layer: ``[N, in_channels]``."""
        if self.architecture == "skip":
            x = x + self.fromrgb(img)
        if self.mbstd is not None:
            x = self.mbstd(x)
        return lrelu(self.fc(self.conv(x).flatten(1)))

    def forward(self, x, img, cmap=None):
        x = self.out(self.features(x, img))
        if self.cmap_dim > 0:
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / math.sqrt(self.cmap_dim))
        return x


class StyleGAN2Discriminator(TakesLabels, nn.Module):
    """StyleGAN2 discriminator: residual blocks down to 4x4, minibatch stddev, conv, two fully connected layers."""

    def __init__(self, c_dim: int, img_resolution: int, img_channels: int, *, architecture: str = "resnet",
                 channel_base: int = 32768, channel_max: int = 512, cmap_dim: int | None = None,
                 mbstd_group_size: int | None = 4, mbstd_num_channels: int = 1, mapping_layers: int = 8,
                 conv_clamp: float | None = None):
        super().__init__()
        self.c_dim = c_dim
        self.conditional = c_dim > 0
        self.block_resolutions = [2 ** i for i in range(int(math.log2(img_resolution)), 2, -1)]
        ch = {res: channels_for(res, channel_base, channel_max) for res in self.block_resolutions + [4]}
        cmap_dim = (ch[4] if cmap_dim is None else cmap_dim) if c_dim > 0 else 0
        for res in self.block_resolutions:
            cin = ch[res] if res < img_resolution else 0
            setattr(self, f"b{res}", DiscriminatorBlock(cin, ch[res], ch[res // 2], img_channels, architecture,
                                                        conv_clamp))
        if c_dim > 0:
            self.mapping = MappingNetwork(0, c_dim, cmap_dim, None, num_layers=mapping_layers, w_avg_beta=None)
        self.b4 = DiscriminatorEpilogue(ch[4], cmap_dim, 4, img_channels, architecture, mbstd_group_size,
                                        mbstd_num_channels, conv_clamp)

    def _blocks(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = None
        for res in self.block_resolutions:
            x, img = getattr(self, f"b{res}")(x, img)
        return x, img

    def forward(self, img: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x, img = self._blocks(img)
        cmap = self.mapping(None, labels) if self.c_dim > 0 else None
        return self.b4(x, img, cmap).reshape(-1)

    def features(self, img: torch.Tensor) -> torch.Tensor:
        """The 4x4 epilogue's features before its output layer, ``[N, channels at 4x4]`` (class conditioners from
        the recipe read them; the block's own label projection, ``num_classes > 0``, is the other way)."""
        return self.b4.features(*self._blocks(img))

    @property
    def head(self) -> nn.Module:
        """The output layer (one logit when unconditional): projection and auxiliary-classifier conditioners
        attach to it."""
        return self.b4.out


class StyleGAN2DiscriminatorParams(Params):
    image_size: Resolution = Field(32, description="input resolution (a power of 2, 4 to 1024)")
    nc: PositiveInt = Field(3, description="image channels")
    architecture: Literal["resnet", "orig", "skip"] = Field(
        "resnet", description="'resnet': residual blocks (config F); 'orig': plain blocks, fromRGB at the input "
                              "only (the official cifar config); 'skip': a fromRGB per resolution")
    channel_base: PositiveInt = Field(32768, description="channels at resolution r = min(channel_base / r, "
                                                         "channel_max)")
    channel_max: PositiveInt = Field(512, description="most channels of any layer")
    mbstd_group_size: Optional[PositiveInt] = Field(
        4, description="images per minibatch-stddev group (official: 4 stylegan2, 8 paper256, 32 cifar; the "
                       "batch must be a multiple of min(group, batch)); none: the whole batch")
    mbstd_num_channels: NonNegativeInt = Field(1, description="minibatch-stddev features (0: no such layer)")
    num_classes: NonNegativeInt = Field(0, description="0: unconditional; K: conditional on K classes through "
                                                       "a label mapping network and projection (must match the "
                                                       "data's classes)")
    mapping_layers: PositiveInt = Field(8, description="layers of the label mapping network (conditional only; "
                                                       "the official code always uses 8)")
    cmap_dim: Optional[PositiveInt] = Field(None, description="size of the mapped label (default: the 4x4 "
                                                              "channels)")
    conv_clamp: Optional[PositiveFloat] = Field(
        None, description="clamp the convolutions' outputs to +-conv_clamp after bias and activation (official "
                          "StyleGAN2-ADA: 256, with fp16; `gancompose import stylegan2` takes it from the snapshot); "
                          "none: no clamping")


def stylegan2_discriminator(p: StyleGAN2DiscriminatorParams, in_shape: tuple[int, ...]) -> nn.Module:
    """StyleGAN2 discriminator (Karras et al. 2020): residual blocks, minibatch stddev, optional label projection."""
    channels = image_input_channels(p, in_shape, p.nc, p.image_size)  # more than nc under concat conditioning
    if getattr(p, "init", None) is not None:
        raise RecipeError("this block initializes its own weights (N(0, 1) scaled at run time: equalized "
                          "learning rate)", key=["init"], hint="remove init")
    return StyleGAN2Discriminator(p.num_classes, p.image_size, channels, architecture=p.architecture,
                                  channel_base=p.channel_base, channel_max=p.channel_max, cmap_dim=p.cmap_dim,
                                  mbstd_group_size=p.mbstd_group_size, mbstd_num_channels=p.mbstd_num_channels,
                                  mapping_layers=p.mapping_layers, conv_clamp=p.conv_clamp)


stylegan2_discriminator.provides = ("feature_head",)  # features() and a linear head: projection, auxiliary classifier
