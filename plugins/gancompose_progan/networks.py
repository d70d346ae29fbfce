"""ProGAN's growing generator and discriminator (Karras et al. 2018), after the official ``G_paper`` and
``D_paper`` (tkarras/progressive_growing_of_gans, ``networks.py``).

Both networks are built whole, every resolution from 4x4 to ``image_size``, so the optimizers hold every
parameter from the start; what grows is the pair (resolution, alpha) that :meth:`set_growth` sets (the
``progressive`` schedule sets it from the images seen). The generator always returns ``image_size`` images
and the discriminator always takes them, as the official networks do: below full resolution the generator's
image is upsampled by nearest neighbour and the discriminator average-pools its input down first (the reals
are prepared the same way, :func:`fade_reals`), so shapes, sample grids, the EMA copy and the gradient
penalty are the same at every stage. Only the blocks up to the current resolution are computed (the
official "recursive" structure).

Generator, per resolution ``2^k`` with ``nf(s) = min(fmap_base / 2^(s * fmap_decay), fmap_max)`` channels:

* 4x4: pixel norm of the latent, dense to ``nf(1) x 4 x 4`` (gain sqrt(2)/4, as the official code), leaky
  ReLU(0.2), pixel norm; 3x3 conv, leaky ReLU, pixel norm;
* 8x8 and up: 2x nearest upsampling, 3x3 conv to ``nf(k-1)``, leaky ReLU, pixel norm; 3x3 conv, leaky ReLU,
  pixel norm;
* toRGB: 1x1 conv to the image channels, gain 1, linear output.
* During a fade-in to ``2^k``: ``alpha * toRGB_k(block_k(h)) + (1 - alpha) * upsample(toRGB_{k-1}(h))``.

Discriminator, mirrored:

* fromRGB: 1x1 conv to ``nf(k-1)``, leaky ReLU;
* 8x8 and up: 3x3 conv to ``nf(k-1)``, leaky ReLU; 3x3 conv to ``nf(k-2)``, 2x2 average pooling, leaky ReLU
  (the official default ``fused_scale``: pooling before the activation);
* 4x4: minibatch stddev (group 4), 3x3 conv to ``nf(1)``, leaky ReLU, dense to ``nf(0)``, leaky ReLU, dense to 1
  (gain 1): one score per image, shape ``[N, 1]``.
* During a fade-in: ``alpha * block_k(fromRGB_k(x)) + (1 - alpha) * fromRGB_{k-1}(avgpool(x))``.
* ``features(x)`` (the ``nf(0)`` features before the last dense layer) and ``head`` (that layer) let the
  projection and auxiliary-classifier conditioners attach to it (the official code's class outputs are
  the AC-GAN form); a conditioned network still grows: the conditioner's wrapper passes ``set_growth``
  through.

Every conv and dense layer has an equalized learning rate (``gancompose_core.equalized``: weights N(0, 1)
scaled at run time by ``gain / sqrt(fan_in)``, gain sqrt(2) but where noted), biases start at 0.
Departures, none changing a function or a shape: the official fused upscale+conv of the generator (a
transposed conv with the summed kernel) is written as upsample then conv, which computes the same thing;
the official code takes a latent of ``nf(0)`` values, here its size comes from ``[latent]``.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveFloat, PositiveInt
from torch import nn

from gancompose import Params, RecipeError
from gancompose_core.equalized import EqualizedConv2d, EqualizedLinear
from gancompose_progan.layers import MinibatchStddev, PixelNorm, pixel_norm

SQRT2 = math.sqrt(2.0)


def upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Nearest-neighbour upsampling by an integer factor (the official ``upscale2d``)."""
    return x if factor == 1 else F.interpolate(x, scale_factor=factor, mode="nearest")


def downsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Average pooling by an integer factor (the official ``downscale2d``)."""
    return x if factor == 1 else F.avg_pool2d(x, factor)


def fade_reals(x: torch.Tensor, resolution: int, alpha: float) -> torch.Tensor:
    """Real images as the networks see them at (resolution, alpha): average-pooled to ``resolution``,
    blended during a fade-in with their own 2x coarser version (``alpha * x + (1 - alpha) * up(down(x))``),
    then upsampled back to full size by nearest neighbour (the official ``process_reals``: FadeLOD, UpscaleLOD)."""
    factor = x.shape[-1] // resolution
    pooled = downsample(x, factor)
    if alpha < 1.0:  # the coarser version pooled from the full image, as the previous stage saw it
        pooled = torch.lerp(upsample(downsample(x, 2 * factor), 2), pooled, alpha)
    return upsample(pooled, factor)


def nf_table(fmap_base: int, fmap_decay: float, fmap_max: int):
    """The official ``nf(stage)``: feature maps of a stage, ``min(fmap_base / 2^(stage * decay), fmap_max)``."""
    def nf(stage: int) -> int:
        return min(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_max)
    return nf


def _log2(size: int, what: str, key: list) -> int:
    k = int(round(math.log2(size))) if size > 0 else 0
    if size < 4 or 2 ** k != size:
        raise RecipeError(f"{what} must be a power of two, at least 4; got {size}", key=key)
    return k


class Growing(nn.Module):
    """What both networks share: the current (resolution, alpha), kept as Python numbers for the forward pass
    and mirrored in the buffer ``growth`` so that checkpoints, the EMA copy and exported files carry it."""

    image_size: int

    def _init_growth(self) -> None:
        self.resolution, self.alpha = self.image_size, 1.0
        self.register_buffer("growth", torch.tensor([float(self.image_size), 1.0]))
        self.register_load_state_dict_post_hook(lambda module, incompatible: module._sync_growth())

    def _sync_growth(self) -> None:
        res, alpha = self.growth.tolist()
        self.resolution, self.alpha = int(round(res)), float(alpha)

    def set_growth(self, resolution: int, alpha: float = 1.0) -> None:
        """Compute images at ``resolution``, fading in its block with weight ``alpha`` (1: fully in)."""
        resolution, alpha = int(resolution), float(alpha)
        if resolution == self.resolution and alpha == self.alpha:
            return
        if resolution < 4 or resolution > self.image_size or resolution & (resolution - 1):
            raise ValueError(f"resolution must be a power of two in [4, {self.image_size}], got {resolution}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        if resolution == 4:
            alpha = 1.0  # nothing to fade from below 4x4
        self.resolution, self.alpha = resolution, alpha
        with torch.no_grad():
            self.growth.copy_(torch.tensor([float(resolution), alpha]))

    def fade_weight(self, like: torch.Tensor) -> torch.Tensor:
        """alpha as a tensor read from the ``growth`` buffer: a compiled forward takes it as an input, where a
        Python float would be a constant compiled anew at every step of a fade-in."""
        return self.growth[1].to(like.dtype)

    @property
    def stage(self) -> int:
        """Index of the current resolution's block: 0 for 4x4, 1 for 8x8..."""
        return int(math.log2(self.resolution)) - 2


# ------------------------------------------------------------------------------------- generator
class GeneratorParams(Params):
    image_size: PositiveInt = Field(description="final resolution (height = width, a power of two >= 4); "
                                                "the data's image size")
    channels: PositiveInt = Field(3, description="image channels (3 RGB, 1 grayscale)")
    fmap_base: PositiveInt = Field(8192, description="feature maps: nf(s) = min(fmap_base / 2^(s * fmap_decay), "
                                                     "fmap_max) at the stage of resolution 2^(s+1) (official 8192)")
    fmap_decay: float = Field(1.0, ge=0, description="log2 reduction of feature maps per doubling (official 1.0)")
    fmap_max: PositiveInt = Field(512, description="most feature maps in any layer (official 512)")
    normalize_latents: bool = Field(True, description="pixel-normalize the latent first (official True)")
    pixel_norm: bool = Field(True, description="pixel norm after every conv (official True)")
    pixel_norm_eps: PositiveFloat = Field(1e-8, description="pixel norm epsilon (official 1e-8)")
    negative_slope: float = Field(0.2, ge=0, description="leaky ReLU slope (official 0.2)")


def _act(slope: float) -> nn.Module:
    return nn.LeakyReLU(slope)


class LatentTo4x4(nn.Module):
    """Dense layer from the latent to ``channels x 4 x 4`` (no bias), then one bias per channel, as the
    official ``Dense`` + ``apply_bias`` after the reshape."""

    def __init__(self, latent_dim: int, channels: int):
        super().__init__()
        self.channels = channels
        self.dense = EqualizedLinear(latent_dim, channels * 16, bias=False, gain=SQRT2 / 4)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.dense(z).reshape(-1, self.channels, 4, 4) + self.bias.reshape(1, -1, 1, 1)


class ProGANGenerator(Growing):
    def __init__(self, latent_dim: int, p: GeneratorParams):
        super().__init__()
        self.image_size, self.channels = p.image_size, p.channels
        self.normalize_latents, self.eps = p.normalize_latents, p.pixel_norm_eps
        nf = nf_table(p.fmap_base, p.fmap_decay, p.fmap_max)
        top = int(math.log2(p.image_size))

        def norm() -> list[nn.Module]:
            return [PixelNorm(p.pixel_norm_eps)] if p.pixel_norm else []

        c = nf(1)
        blocks = [nn.Sequential(LatentTo4x4(latent_dim, c), _act(p.negative_slope), *norm(),
                                 EqualizedConv2d(c, c, 3, gain=SQRT2), _act(p.negative_slope), *norm())]
        to_rgb = [EqualizedConv2d(c, p.channels, 1, gain=1.0)]
        for k in range(3, top + 1):
            cin, cout = nf(k - 2), nf(k - 1)
            blocks.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                         EqualizedConv2d(cin, cout, 3, gain=SQRT2), _act(p.negative_slope), *norm(),
                                         EqualizedConv2d(cout, cout, 3, gain=SQRT2), _act(p.negative_slope), *norm()))
            to_rgb.append(EqualizedConv2d(cout, p.channels, 1, gain=1.0))
        self.blocks, self.to_rgb = nn.ModuleList(blocks), nn.ModuleList(to_rgb)
        self._init_growth()

    def synthesize(self, z: torch.Tensor) -> torch.Tensor:
        """Images at the current resolution (not upsampled), faded in with ``alpha``."""
        x = pixel_norm(z, self.eps) if self.normalize_latents else z
        x = self.blocks[0](x)
        stage = self.stage
        for i in range(1, stage):
            x = self.blocks[i](x)
        if stage == 0:
            return self.to_rgb[0](x)
        new = self.to_rgb[stage](self.blocks[stage](x))
        if self.alpha >= 1.0:
            return new
        old = upsample(self.to_rgb[stage - 1](x), 2)
        return torch.lerp(old, new, self.fade_weight(new))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return upsample(self.synthesize(z), self.image_size // self.resolution)


def generator(p: GeneratorParams, in_shape: tuple[int, ...]) -> nn.Module:
    """ProGAN generator: grows from 4x4 to image_size (pixel norm, equalized LR, nearest upsampling, toRGB)."""
    _log2(p.image_size, "image_size", ["image_size"])
    if len(in_shape) != 1:
        raise RecipeError(f"the generator takes a latent vector, got input shape {tuple(in_shape)}",
                          hint="set input = 'latent'")
    return ProGANGenerator(in_shape[0], p)


# --------------------------------------------------------------------------------- discriminator
class DiscriminatorParams(Params):
    fmap_base: PositiveInt = Field(8192, description="feature maps: nf(s) = min(fmap_base / 2^(s * fmap_decay), "
                                                     "fmap_max) (official 8192)")
    fmap_decay: float = Field(1.0, ge=0, description="log2 reduction of feature maps per doubling (official 1.0)")
    fmap_max: PositiveInt = Field(512, description="most feature maps in any layer (official 512)")
    mbstd_group_size: int = Field(4, ge=0, description="minibatch stddev group size, 0 or 1 to leave the layer out "
                                                       "(official 4)")
    negative_slope: float = Field(0.2, ge=0, description="leaky ReLU slope (official 0.2)")


class ProGANDiscriminator(Growing):
    def __init__(self, in_shape: tuple[int, int, int], p: DiscriminatorParams):
        super().__init__()
        channels, self.image_size = in_shape[0], in_shape[-1]
        nf = nf_table(p.fmap_base, p.fmap_decay, p.fmap_max)
        top = int(math.log2(self.image_size))
        slope = p.negative_slope
        mbstd = [MinibatchStddev(p.mbstd_group_size)] if p.mbstd_group_size > 1 else []
        c1, c0 = nf(1), nf(0)
        blocks = [nn.Sequential(*mbstd, EqualizedConv2d(c1 + (1 if mbstd else 0), c1, 3, gain=SQRT2), _act(slope),
                                nn.Flatten(), EqualizedLinear(c1 * 16, c0, gain=SQRT2), _act(slope),
                                EqualizedLinear(c0, 1, gain=1.0))]
        from_rgb = [nn.Sequential(EqualizedConv2d(channels, c1, 1, gain=SQRT2), _act(slope))]
        for k in range(3, top + 1):
            cin, cout = nf(k - 1), nf(k - 2)
            blocks.append(nn.Sequential(EqualizedConv2d(cin, cin, 3, gain=SQRT2), _act(slope),
                                        EqualizedConv2d(cin, cout, 3, gain=SQRT2), nn.AvgPool2d(2), _act(slope)))
            from_rgb.append(nn.Sequential(EqualizedConv2d(channels, cin, 1, gain=SQRT2), _act(slope)))
        self.blocks, self.from_rgb = nn.ModuleList(blocks), nn.ModuleList(from_rgb)
        self._init_growth()

    def _to_4x4(self, x: torch.Tensor) -> torch.Tensor:
        """The input of the 4x4 block at the current resolution and alpha."""
        factor = self.image_size // self.resolution
        stage = self.stage
        h = self.from_rgb[stage](downsample(x, factor))
        if stage > 0:
            h = self.blocks[stage](h)
            if self.alpha < 1.0:  # the previous stage's path, its input pooled from x as that stage pooled it
                h = torch.lerp(self.from_rgb[stage - 1](downsample(x, 2 * factor)), h, self.fade_weight(h))
            for i in range(stage - 1, 0, -1):
                h = self.blocks[i](h)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks[0](self._to_4x4(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Everything but the last dense layer: ``[N, nf(0)]`` (class conditioners read it; it grows too)."""
        return self.blocks[0][:-1](self._to_4x4(x))

    @property
    def head(self) -> nn.Module:
        """The last dense layer (``nf(0)`` -> 1): projection and auxiliary-classifier conditioners attach to it."""
        return self.blocks[0][-1]


def discriminator(p: DiscriminatorParams, in_shape: tuple[int, ...]) -> nn.Module:
    """ProGAN discriminator: fromRGB, conv blocks with average pooling, minibatch stddev, one score per image."""
    if len(in_shape) != 3 or in_shape[1] != in_shape[2]:
        raise RecipeError(f"the discriminator takes square images [C, H, W], got shape {tuple(in_shape)}")
    _log2(in_shape[-1], "the data's image size", [])
    return ProGANDiscriminator(tuple(in_shape), p)


generator.provides = ("growing",)  # set_growth(resolution, alpha): the progressive schedule
generator.requires = ("latent_input",)  # a latent vector in, an image out
discriminator.provides = ("growing", "feature_head")  # and features() + a linear head: projection, aux classifier


BLOCKS = [("progan_generator", generator, GeneratorParams),
          ("progan_discriminator", discriminator, DiscriminatorParams)]
