"""pix2pix's networks as blocks: the U-Net generator and the PatchGAN that judges (input, output) pairs.

Layer for layer those of the official code (junyanz/pytorch-CycleGAN-and-pix2pix, models/networks.py,
``UnetGenerator`` and ``NLayerDiscriminator``). ``unet_generator`` at ngf = 64, batch norm and dropout with
``num_downs = 8`` (``--netG unet_256``) has 54,413,955 parameters; ``paired_patchgan`` at ndf = 64, n_layers 3
and batch norm on the 3 + 3 channels of a pair (``--netD basic``, ``input_nc + output_nc``) 2,768,705.

The generator's tensors are laid out as ``down.K.conv``/``down.K.norm`` and ``up.K.conv``/``up.K.norm`` for level K
(0 the outermost); ``gancompose import pix2pix`` (importer.py) converts an official file, whose nested module tree
is :class:`gancompose_pix2pix.reference.OfficialUnetGenerator`, to that layout.
"""
from __future__ import annotations

from typing import Literal, Optional

import torch
from pydantic import Field, PositiveInt
from torch import nn

from gancompose import Params, RecipeError
from gancompose_pix2pix.reference import norm_layer

Norm = Literal["batch", "instance", "none"]

#: the official U-Net's channel multiplier stops doubling at 8 x ngf, and its dropout levels start at level 4
MAX_MULT, FIRST_DROPOUT_LEVEL = 8, 4


def _image(in_shape: tuple[int, ...], what: str) -> tuple[int, int, int]:
    if len(in_shape) != 3:
        raise RecipeError(f"{what} takes images (C, H, W), but its input has shape {tuple(in_shape)}",
                          hint="give the network input = 'data' and image data")
    return in_shape  # type: ignore[return-value]


# ------------------------------------------------------------------------------------- the U-Net
def level_channels(ngf: int, level: int) -> int:
    """Channels the down convolution of ``level`` makes: ngf, 2 ngf, 4 ngf, then 8 ngf (the official rule)."""
    return ngf * min(2 ** level, MAX_MULT)


def dropout_levels(num_downs: int) -> range:
    """Levels whose up path ends in Dropout(0.5) when ``use_dropout``: the 8 x ngf ones the official loop adds
    between level 3 and the innermost level (levels 4, 5 and 6 of unet_256)."""
    return range(FIRST_DROPOUT_LEVEL, num_downs - 1)


class Down(nn.Module):
    """One level's way down: ``act`` (LeakyReLU 0.2; none at the outermost level), ``conv`` (4x4, stride 2),
    ``norm`` (none at the outermost and innermost levels)."""

    def __init__(self, cin: int, cout: int, norm: str, bias: bool, outermost: bool, innermost: bool):
        super().__init__()
        self.act = nn.Identity() if outermost else nn.LeakyReLU(0.2)
        self.conv = nn.Conv2d(cin, cout, 4, 2, 1, bias=bias)
        self.norm = nn.Identity() if outermost or innermost else norm_layer(norm)(cout)


class Up(nn.Module):
    """One level's way up: ``act`` (ReLU), ``conv`` (4x4 transposed, stride 2), ``norm`` (Tanh at the outermost
    level instead), ``dropout``."""

    def __init__(self, cin: int, cout: int, norm: str, bias: bool, outermost: bool, dropout: bool):
        super().__init__()
        self.act = nn.ReLU()
        self.conv = nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=bias)
        self.norm = nn.Tanh() if outermost else norm_layer(norm)(cout)
        self.dropout = nn.Dropout(0.5) if dropout else nn.Identity()


class UnetGenerator(nn.Module):
    """The U-Net of pix2pix (Isola et al. 2017, after Ronneberger et al. 2015): ``num_downs`` stride-2 levels down
    to a 1x1 bottleneck (at 2**num_downs pixels) and back up, each level's input (after its LeakyReLU, as the
    official in-place activation leaves it; the ReLU of the way up then reads it as relu(x)) concatenated to the
    way up. Image to image of the same size."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, num_downs: int = 8, ngf: int = 64,
                 norm: str = "batch", use_dropout: bool = True):
        super().__init__()
        if num_downs < 2:
            raise ValueError("a U-Net needs at least 2 levels")
        bias = norm == "instance"  # as the official code: a bias unless a norm with its own shift follows
        last = num_downs - 1
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        drop = set(dropout_levels(num_downs)) if use_dropout else set()
        for k in range(num_downs):
            inner = level_channels(ngf, k)
            outer = in_channels if k == 0 else level_channels(ngf, k - 1)
            self.down.append(Down(outer, inner, norm, bias, outermost=k == 0, innermost=k == last))
            up_in = inner if k == last else 2 * inner
            up_out = out_channels if k == 0 else outer
            self.up.append(Up(up_in, up_out, norm, bias or k == 0, outermost=k == 0, dropout=k in drop))
        self.num_downs = num_downs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.down[0].conv(x)
        skips = []
        for unit in self.down[1:]:
            h = unit.act(h)
            skips.append(h)  # what the official block concatenates: its input after the in-place LeakyReLU
            h = unit.norm(unit.conv(h))
        for unit, skip in zip(reversed(self.up[1:]), reversed(skips)):
            h = torch.cat([skip, unit.dropout(unit.norm(unit.conv(unit.act(h))))], 1)
        top = self.up[0]
        return top.norm(top.conv(top.act(h)))


def auto_num_downs(h: int, w: int) -> int:
    """The most levels both sides allow: 8 at 256 px (unet_256), 7 at 128 px (unet_128), 4 at 16 or 48 px."""
    n = 0
    while h % 2 ** (n + 1) == 0 and w % 2 ** (n + 1) == 0:
        n += 1
    return n


class UnetGeneratorParams(Params):
    """Parameters of the ``unet_generator`` block."""
    num_downs: Optional[int] = Field(None, ge=2, description="stride-2 levels down to the bottleneck: 8 for "
                                     "unet_256, 7 for unet_128 (omitted: as many as the image size allows, a 1x1 "
                                     "bottleneck for a power-of-two size: 8 at 256 px)")
    ngf: PositiveInt = Field(64, description="channels of the first convolution (doubled per level up to 8 x ngf)")
    norm: Norm = Field("batch", description="normalization after each convolution but the outermost and innermost "
                                            "down ones (pix2pix: batch norm, with running statistics)")
    use_dropout: bool = Field(True, description="Dropout(0.5) on the way up of the 8 x ngf levels between level 4 "
                                                "and the innermost (pix2pix's noise; --no_dropout turns it off)")
    in_channels: Optional[PositiveInt] = Field(None, description="input channels (read from the data when omitted)")
    out_channels: Optional[PositiveInt] = Field(None, description="output channels (default: the input's)")


def unet_generator(p: UnetGeneratorParams, in_shape: tuple[int, ...]) -> nn.Module:
    """pix2pix's U-Net generator (Isola et al. 2017): skip connections between mirrored levels, tanh output. Image
    to image of the same size; the official unet_256 at num_downs = 8."""
    c, h, w = _image(in_shape, "unet_generator")
    if p.in_channels is not None and p.in_channels != c:
        raise RecipeError(f"expected {c} (the input has {c} channels), got {p.in_channels}", key=["in_channels"],
                          hint="remove in_channels to read it from the data")
    n = p.num_downs if p.num_downs is not None else auto_num_downs(h, w)
    if n < 2:
        raise RecipeError(f"a {h}x{w} image allows {n} halvings: a U-Net needs at least 2",
                          key=["num_downs"], hint="use an image size divisible by 4 (256 for unet_256)")
    if h % 2 ** n or w % 2 ** n:
        raise RecipeError(f"the image size {h}x{w} is not divisible by 2**{n} = {2 ** n}: the {n} levels of the "
                          "U-Net would not meet their skip connections", key=["num_downs"],
                          hint=f"use {auto_num_downs(h, w)} or less, leave num_downs out, or use an image size "
                               f"divisible by {2 ** n}")
    return UnetGenerator(c, p.out_channels or c, n, p.ngf, p.norm, p.use_dropout)


# ------------------------------------------------------------------------------------ the PatchGAN
class ConvNormAct(nn.Module):
    """conv -> norm -> LeakyReLU(0.2); its tensors are ``conv.*`` and ``norm.*``."""

    def __init__(self, cin: int, cout: int, stride: int, norm: str, bias: bool):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 4, stride, 1, bias=bias)
        self.norm = norm_layer(norm)(cout)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x):
        return self.act(self.norm(self.conv(x)))


class PairedPatchGAN(nn.Module):
    """The PatchGAN (``NLayerDiscriminator``) on the channels of a pair: it judges an image ``x`` (a real B or a
    generated one) together with the image it was translated from, ``condition`` (A), as the official
    ``netD(torch.cat((real_A, fake_B), 1))``. A map of logits, one per 70x70 patch at n_layers = 3, no sigmoid.
    Names as the cycle plugin's PatchGAN: ``stem``, ``down.i``, ``bridge``, ``head``.

    ``D(x, condition)``, or ``D(pair)`` with the pair already concatenated (condition channels first): the paired
    schedule declares the pair's shape as the network's input (``ScheduleParams.network_inputs``), so the block is
    built, checked and explained on the 6 channels of a pair. An image alone is refused, so the network cannot
    silently judge images without their A."""

    #: schedules read this to know the network takes the condition (gancompose_pix2pix.schedule)
    takes_condition = True

    def __init__(self, image_channels: int = 3, condition_channels: int = 3, ndf: int = 64, n_layers: int = 3,
                 norm: str = "batch"):
        super().__init__()
        self.image_channels, self.condition_channels = image_channels, condition_channels
        bias = norm == "instance"  # as the official code: a bias unless BatchNorm follows (none: no bias either)
        self.stem = nn.Sequential(nn.Conv2d(image_channels + condition_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2))
        mult = 1
        down = []
        for n in range(1, n_layers):
            prev, mult = mult, min(2 ** n, 8)
            down.append(ConvNormAct(ndf * prev, ndf * mult, 2, norm, bias))
        self.down = nn.Sequential(*down)
        prev, mult = mult, min(2 ** n_layers, 8)
        self.bridge = ConvNormAct(ndf * prev, ndf * mult, 1, norm, bias)
        self.head = nn.Conv2d(ndf * mult, 1, 4, 1, 1)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        if condition is not None:
            x = torch.cat([condition, x], 1)
        elif x.shape[1] != self.image_channels + self.condition_channels:
            raise RuntimeError(f"paired_patchgan judges (input, output) pairs: call it as D(image, condition) "
                               f"or on the {self.image_channels + self.condition_channels} channels of a pair "
                               "(train it with the paired schedule)")
        return self.head(self.bridge(self.down(self.stem(x))))


class PairedPatchGANParams(Params):
    """Parameters of the ``paired_patchgan`` block."""
    ndf: PositiveInt = Field(64, description="channels of the first convolution")
    n_layers: PositiveInt = Field(3, description="stride-2 convolutions: 3 gives the 70x70 PatchGAN (--netD basic)")
    norm: Norm = Field("batch", description="normalization after each convolution but the first and last "
                                            "(pix2pix: batch norm)")


def paired_patchgan(p: PairedPatchGANParams, in_shape: tuple[int, ...]) -> nn.Module:
    """PatchGAN on (input, output) pairs (Isola et al. 2017): one logit per patch of the pair. ``in_shape`` is the
    pair's, A's channels then B's (the paired schedule declares it)."""
    c, h, w = _image(in_shape, "paired_patchgan")
    if c % 2:
        raise RecipeError(f"paired_patchgan takes (A, B) pairs concatenated on the channels (twice an image's), but "
                          f"its input has {c} channel(s)", key=["type"],
                          hint="train it with the paired schedule (schedule.conditional = true), which feeds it pairs")
    condition = c // 2  # A's channels, then B's
    size = min(h, w)
    for _ in range(p.n_layers):  # each stride-2 conv (k4 p1) halves the size; the two stride-1 ones take 1 off each
        size //= 2
    if size - 2 < 1:
        raise RecipeError(f"a {h}x{w} image is too small for n_layers = {p.n_layers} (the output map would be "
                          "empty)", key=["n_layers"], hint="lower n_layers or use larger images")
    return PairedPatchGAN(c - condition, condition, p.ndf, p.n_layers, p.norm)


unet_generator.requires = ("data_input",)  # an image in
unet_generator.provides = ("image_to_image",)  # an image of the same size out
paired_patchgan.requires = ("data_input",)
paired_patchgan.provides = ("pair_discriminator",)  # takes the input image as a condition (the paired schedule)

BLOCKS = [("unet_generator", unet_generator, UnetGeneratorParams),
          ("paired_patchgan", paired_patchgan, PairedPatchGANParams)]
