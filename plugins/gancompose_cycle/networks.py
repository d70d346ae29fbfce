"""CycleGAN's networks as blocks: the ResNet generator and the PatchGAN discriminator.

Layer for layer those of the official code (junyanz/pytorch-CycleGAN-and-pix2pix, models/networks.py,
``ResnetGenerator`` and ``NLayerDiscriminator``): at ngf = ndf = 64 with instance norm, ResNet-9 has
11,378,179 parameters, ResNet-6 7,837,699, the 70x70 PatchGAN (n_layers = 3) 2,764,737. The generator's
module tree is :class:`gancompose_cycle.reference.ResnetGenerator`, the layout ``gancompose import cyclegan``
(gancompose_cycle/importer.py, a command this plugin adds) converts official files to, so an imported file
loads here.
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, PositiveInt
from torch import nn

from gancompose import Params, RecipeError
from gancompose_cycle.reference import N_DOWN, ResnetGenerator, norm_layer

Norm = Literal["instance", "batch", "none"]


def _image(in_shape: tuple[int, ...], what: str) -> None:
    if len(in_shape) != 3:
        raise RecipeError(f"{what} takes images (C, H, W), but its input has shape {tuple(in_shape)}",
                          hint="give the network input = 'data' and image data")


class ResnetGeneratorParams(Params):
    """Parameters of the ``resnet_generator`` block."""
    ngf: PositiveInt = Field(64, description="channels of the first convolution (doubled at each of the 2 "
                                             "downsampling stages)")
    n_blocks: PositiveInt = Field(9, description="residual blocks at the bottleneck: 9 for 256 px, 6 for 128 px")
    norm: Norm = Field("instance", description="normalization after each convolution (CycleGAN: instance, "
                                               "without affine parameters)")
    use_dropout: bool = Field(False, description="dropout 0.5 inside each residual block (off in CycleGAN)")
    padding: Literal["reflect", "replicate"] = Field("reflect", description="padding of the stride-1 convolutions")
    in_channels: Optional[PositiveInt] = Field(None, description="input channels (read from the data when omitted)")
    out_channels: Optional[PositiveInt] = Field(None, description="output channels (default: the input's)")


def resnet_generator(p: ResnetGeneratorParams, in_shape: tuple[int, ...]) -> nn.Module:
    """CycleGAN's ResNet generator (Johnson et al. 2016): 7x7 stem, 2 stride-2 downsamplings, n residual
    blocks, 2 transposed-conv upsamplings, 7x7 head with tanh. Image to image of the same size."""
    _image(in_shape, "resnet_generator")
    c, h, w = in_shape
    if p.in_channels is not None and p.in_channels != c:
        raise RecipeError(f"expected {c} (the input has {c} channels), got {p.in_channels}", key=["in_channels"],
                          hint="remove in_channels to read it from the data")
    if h % 2 ** N_DOWN or w % 2 ** N_DOWN:
        raise RecipeError(f"the image size {h}x{w} is not divisible by {2 ** N_DOWN}: the generator would not "
                          "give back its input size", hint="use an image size divisible by 4")
    return ResnetGenerator(c, p.out_channels or c, p.ngf, p.norm, p.use_dropout, p.n_blocks, p.padding)


class PatchGANParams(Params):
    """Parameters of the ``patchgan_discriminator`` block."""
    ndf: PositiveInt = Field(64, description="channels of the first convolution")
    n_layers: PositiveInt = Field(3, description="stride-2 convolutions: 3 gives the 70x70 PatchGAN")
    norm: Norm = Field("instance", description="normalization after each convolution but the first and last")


class ConvNormAct(nn.Module):
    """conv -> norm -> LeakyReLU(0.2); its tensors are ``conv.*`` and ``norm.*``."""

    def __init__(self, cin: int, cout: int, stride: int, norm: str, bias: bool):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 4, stride, 1, bias=bias)
        self.norm = norm_layer(norm)(cout)
        self.act = nn.LeakyReLU(0.2, True)

    def forward(self, x):
        return self.act(self.norm(self.conv(x)))


class PatchGANDiscriminator(nn.Module):
    """The PatchGAN of pix2pix/CycleGAN (``NLayerDiscriminator``): a map of logits, one per overlapping patch
    (70x70 pixels at n_layers = 3), no sigmoid. Names: ``stem``, ``down.i``, ``bridge``, ``head``."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "instance"):
        super().__init__()
        bias = norm != "batch"  # as the official code: a bias unless BatchNorm follows
        self.stem = nn.Sequential(nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True))
        mult = 1
        down = []
        for n in range(1, n_layers):
            prev, mult = mult, min(2 ** n, 8)
            down.append(ConvNormAct(ndf * prev, ndf * mult, 2, norm, bias))
        self.down = nn.Sequential(*down)
        prev, mult = mult, min(2 ** n_layers, 8)
        self.bridge = ConvNormAct(ndf * prev, ndf * mult, 1, norm, bias)
        self.head = nn.Conv2d(ndf * mult, 1, 4, 1, 1)

    def forward(self, x):
        return self.head(self.bridge(self.down(self.stem(x))))


def patchgan_discriminator(p: PatchGANParams, in_shape: tuple[int, ...]) -> nn.Module:
    """PatchGAN discriminator (Isola et al. 2017): one logit per image patch."""
    _image(in_shape, "patchgan_discriminator")
    c, h, w = in_shape
    # each stride-2 conv (k4 p1) halves the size; the two stride-1 convs (k4 p1) each take 1 off
    size = min(h, w)
    for _ in range(p.n_layers):
        size //= 2
    if size - 2 < 1:
        raise RecipeError(f"a {h}x{w} image is too small for n_layers = {p.n_layers} (the output map would be "
                          "empty)", key=["n_layers"], hint="lower n_layers or use larger images")
    return PatchGANDiscriminator(c, p.ndf, p.n_layers, p.norm)


resnet_generator.requires = ("data_input",)  # an image in
resnet_generator.provides = ("image_to_image",)  # an image of the same size out

BLOCKS = [("resnet_generator", resnet_generator, ResnetGeneratorParams),
          ("patchgan_discriminator", patchgan_discriminator, PatchGANParams)]
