"""The StyleGAN2 generator (Karras et al. 2020): mapping network + synthesis network of modulated convolutions.

Layer for layer StyleGAN2-ADA's ``training/networks.py`` (NVlabs/stylegan2-ada-pytorch), with the same
module names (``mapping.fc0``, ``synthesis.b4.const``, ``synthesis.b8.conv0.affine``, ``...torgb``), so
parameter counts match the official networks exactly at every configuration:

* a learned 4x4 constant; per resolution a block of two modulated 3x3 convolutions (the first upsampling),
  each with per-pixel noise times a learned strength, bias and leaky ReLU (gain sqrt(2));
* ``architecture = "skip"`` (the default, config F): a toRGB layer per resolution, the image summed over
  resolutions through 2x upsampling; ``"orig"``: toRGB at the last resolution only; ``"resnet"``: residual
  blocks with a 1x1 upsampling skip, each branch scaled by sqrt(0.5);
* channels ``min(channel_base / resolution, channel_max)``;
* the mapping network (``mapping.py``) with ``w_avg`` for truncation; style mixing in training mode.

Not kept: fp16 layers (they change no parameter), the custom CUDA ops (plain PyTorch, ``ops.py``). Conv
clamping is the ``conv_clamp`` parameter (default None; 256 in official snapshots): the synthesis layers and
toRGBs clamp their outputs as the official ``bias_act`` does, so imported snapshots (``gancompose import
stylegan2``, snapshot.py / importer.py) give the official outputs. Differences of detail: the 2x upsampling of the 3x3 convolution filters after a transposed
convolution as the official code does, but the kernel is not flipped (the weights are random, so this is
a relabelling of the same function class).
"""
from __future__ import annotations

import math
from typing import Literal, Optional

import torch
from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt
from torch import nn

from gancompose import Params, RecipeError
from gancompose.protocols import TakesLabels
from gancompose_style.mapping import MappingNetwork
from gancompose_style.modulated import Conv2dLayer, SynthesisLayer, ToRGBLayer
from gancompose_style.ops import make_filter, upsample2d

NoiseMode = Literal["random", "const", "none"]


# ------------------------------------------------------------------------------ shared generator API
class StyleGenerator(TakesLabels, nn.Module):
    """What StyleGAN and StyleGAN2 generators share: ``mapping`` -> ``ws`` -> ``synthesis``, style mixing in
    training mode, truncation at sampling time, and the path-length regularizer's running mean.

    Subclasses set ``self.mapping``, ``self.synthesis`` (``synthesis(ws, noise_mode=...)``), ``self.num_ws``,
    ``self.z_dim``, ``self.c_dim`` and ``self.style_mixing_prob``.
    """

    #: style layers a truncation applies to when the caller gives no cutoff (None: all)
    default_truncation_cutoff: int | None = None

    def _init_common(self, c_dim: int, style_mixing_prob: float) -> None:
        self.c_dim = c_dim
        self.conditional = c_dim > 0
        self.style_mixing_prob = style_mixing_prob
        # the path-length regularizer's running mean of |J^T y| (terms.PathLength), here so checkpoints keep it
        self.register_buffer("pl_mean", torch.zeros([]))

    def mapped(self, z: torch.Tensor, labels: torch.Tensor | None = None, truncation_psi: float = 1.0,
               truncation_cutoff: int | None = None) -> torch.Tensor:
        """``ws`` for ``z``; in training mode with probability ``style_mixing_prob`` the layers from a random
        cutoff in ``[1, num_ws)`` on take the ``w`` of a second latent (style mixing regularization). The
        draws use torch's global generator, the same number of them on every call."""
        if truncation_cutoff is None:
            truncation_cutoff = self.default_truncation_cutoff
        ws = self.mapping(z, labels, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        if self.training and self.style_mixing_prob > 0:
            cutoff = torch.randint(1, self.num_ws, (), device=ws.device)
            cutoff = torch.where(torch.rand((), device=ws.device) < self.style_mixing_prob, cutoff,
                                 torch.full_like(cutoff, self.num_ws))
            ws2 = self.mapping(torch.randn_like(z), labels, update_w_avg=False)
            layer = torch.arange(self.num_ws, device=ws.device).reshape(1, -1, 1)
            ws = torch.where(layer < cutoff, ws, ws2)
        return ws

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, noise_mode: NoiseMode = "random", return_ws: bool = False):
        """Images for ``z``; with ``return_ws`` also the ``ws`` they came from (with their graph: the
        path-length term differentiates through them; a forward call, so torchrun's replica sees it)."""
        ws = self.mapped(z, labels, truncation_psi, truncation_cutoff)
        img = self.synthesis(ws, noise_mode=noise_mode)
        return (img, ws) if return_ws else img

    def generate_with_ws(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``self(z, labels, return_ws=True)``."""
        return self(z, labels, return_ws=True)

    def style_mix(self, z_coarse: torch.Tensor, z_fine: torch.Tensor, cutoff: int, labels: torch.Tensor | None = None,
                  truncation_psi: float = 1.0, noise_mode: NoiseMode = "const") -> torch.Tensor:
        """Images whose style layers ``[0, cutoff)`` come from ``z_coarse`` and ``[cutoff, num_ws)`` from
        ``z_fine`` (no random mixing, no w_avg update)."""
        if not 0 <= cutoff <= self.num_ws:
            raise ValueError(f"the mixing cutoff must be in [0, {self.num_ws}], got {cutoff}")
        cut = self.default_truncation_cutoff
        ws_c = self.mapping(z_coarse, labels, truncation_psi, cut, update_w_avg=False)
        ws_f = self.mapping(z_fine, labels, truncation_psi, cut, update_w_avg=False)
        ws = torch.cat([ws_c[:, :cutoff], ws_f[:, cutoff:]], dim=1)
        return self.synthesis(ws, noise_mode=noise_mode)


# ------------------------------------------------------------------------------------ StyleGAN2 synthesis
class SynthesisBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 is_last: bool, architecture: str = "skip", conv_clamp: float | None = None):
        super().__init__()
        self.in_channels, self.resolution, self.is_last, self.architecture = in_channels, resolution, is_last, architecture
        self.register_buffer("resample_filter", make_filter(), persistent=False)
        self.num_conv = self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, conv_clamp=conv_clamp)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, 1, bias=False, up=2)

    def forward(self, x, img, ws, noise_mode="random"):
        w = iter(ws.unbind(dim=1))
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
            x = self.conv1(x, next(w), noise_mode)
        elif self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv0(x, next(w), noise_mode)
            x = y + self.conv1(x, next(w), noise_mode, gain=math.sqrt(0.5))
        else:
            x = self.conv0(x, next(w), noise_mode)
            x = self.conv1(x, next(w), noise_mode)
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w))
            img = y if img is None else img + y
        return x, img


def channels_for(resolution: int, channel_base: int, channel_max: int) -> int:
    return min(channel_base // resolution, channel_max)


class SynthesisNetwork(nn.Module):
    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, architecture: str = "skip", conv_clamp: float | None = None):
        super().__init__()
        self.w_dim, self.img_resolution = w_dim, img_resolution
        self.block_resolutions = [2 ** i for i in range(2, int(math.log2(img_resolution)) + 1)]
        self.num_ws = 0
        for res in self.block_resolutions:
            cin = channels_for(res // 2, channel_base, channel_max) if res > 4 else 0
            block = SynthesisBlock(cin, channels_for(res, channel_base, channel_max), w_dim, res, img_channels,
                                   is_last=res == img_resolution, architecture=architecture,
                                   conv_clamp=conv_clamp)
            self.num_ws += block.num_conv + (block.num_torgb if res == img_resolution else 0)
            setattr(self, f"b{res}", block)

    def forward(self, ws: torch.Tensor, noise_mode: NoiseMode = "random") -> torch.Tensor:
        x = img = None
        idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            x, img = block(x, img, ws.narrow(1, idx, block.num_conv + block.num_torgb), noise_mode)
            idx += block.num_conv
        return img


class StyleGAN2Generator(StyleGenerator):
    """StyleGAN2 generator: mapping network, synthesis network of modulated convolutions."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int, *,
                 channel_base: int = 32768, channel_max: int = 512, architecture: str = "skip",
                 mapping_layers: int = 8, mapping_lr_multiplier: float = 0.01, w_avg_beta: float = 0.995,
                 style_mixing_prob: float = 0.9, conv_clamp: float | None = None):
        super().__init__()
        self.z_dim, self.w_dim, self.img_resolution = z_dim, w_dim, img_resolution
        self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels, channel_base, channel_max, architecture,
                                          conv_clamp)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, num_layers=mapping_layers,
                                      lr_multiplier=mapping_lr_multiplier, w_avg_beta=w_avg_beta)
        self._init_common(c_dim, style_mixing_prob)


# --------------------------------------------------------------------------------------- block factory
Resolution = Literal[4, 8, 16, 32, 64, 128, 256, 512, 1024]


class StyleParams(Params):
    """Parameters the StyleGAN and StyleGAN2 generators share."""
    image_size: Resolution = Field(32, description="output resolution (a power of 2, 4 to 1024)")
    nc: PositiveInt = Field(3, description="image channels")
    w_dim: PositiveInt = Field(512, description="size of w, the intermediate latent (512 in the papers)")
    channel_base: PositiveInt = Field(32768, description="channels at resolution r = min(channel_base / r, "
                                                         "channel_max); official: 32768 (configs stylegan2, cifar, "
                                                         "paper512/1024), 16384 (paper256)")
    channel_max: PositiveInt = Field(512, description="most channels of any layer")
    mapping_layers: PositiveInt = Field(8, description="fully connected layers of the mapping network (8; the "
                                                       "official cifar config uses 2)")
    mapping_lr_multiplier: PositiveFloat = Field(0.01, description="learning-rate multiplier of the mapping "
                                                                   "layers (equalized LR)")
    w_avg_beta: float = Field(0.995, gt=0, lt=1, description="decay of the tracked mean w used by truncation")
    style_mixing_prob: float = Field(0.9, ge=0, le=1, description="probability of style mixing regularization "
                                                                  "per forward pass in training (0.9; 0 in the "
                                                                  "official cifar config)")
    num_classes: NonNegativeInt = Field(0, description="0: unconditional; K: class-conditional on K classes (the "
                                                        "label's embedding joins z in the mapping network, as "
                                                        "the official c_dim); must match the data's classes")
    nz: Optional[PositiveInt] = Field(None, description="latent size z_dim (inferred from [latent] when omitted)")


class StyleGAN2GeneratorParams(StyleParams):
    architecture: Literal["skip", "orig", "resnet"] = Field(
        "skip", description="'skip': toRGB at every resolution, summed (config F); 'orig': toRGB at the end only; "
                            "'resnet': residual blocks")
    conv_clamp: Optional[PositiveFloat] = Field(
        None, description="clamp every convolution's output to +-conv_clamp after bias and activation (official "
                          "StyleGAN2-ADA: 256, with fp16; `gancompose import stylegan2` takes it from the snapshot); "
                          "none: no clamping")


def check_latent(p, in_shape) -> int:
    nz = math.prod(in_shape)
    if p.nz is not None and p.nz != nz:
        raise RecipeError(f"expected {nz} (the latent size, latent.dim), got {p.nz}", key=["nz"],
                          hint="remove nz to infer it from [latent]")
    if getattr(p, "init", None) is not None:
        raise RecipeError("this block initializes its own weights (N(0, 1) scaled at run time: equalized "
                          "learning rate)", key=["init"], hint="remove init")
    return nz


def stylegan2_generator(p: StyleGAN2GeneratorParams, in_shape: tuple[int, ...]) -> nn.Module:
    """StyleGAN2 generator (Karras et al. 2020): mapping network, modulated convolutions with demodulation, skip toRGBs."""
    nz = check_latent(p, in_shape)
    return StyleGAN2Generator(nz, p.num_classes, p.w_dim, p.image_size, p.nc, channel_base=p.channel_base,
                              channel_max=p.channel_max, architecture=p.architecture,
                              mapping_layers=p.mapping_layers, mapping_lr_multiplier=p.mapping_lr_multiplier,
                              w_avg_beta=p.w_avg_beta, style_mixing_prob=p.style_mixing_prob, conv_clamp=p.conv_clamp)


stylegan2_generator.provides = ("style_generator",)  # what path_length needs (mapping, synthesis, pl_mean)
