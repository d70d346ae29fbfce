"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

The policies of the official DiffAugment-pytorch code (mit-han-lab/data-efficient-gans,
``DiffAugment_pytorch.py``), with its constants, as batched tensor ops:

- ``color``: brightness ``x + U(-0.5, 0.5)``; saturation ``(x - mean_c) * U(0, 2) + mean_c`` (mean over
  channels); contrast ``(x - mean_chw) * U(0.5, 1.5) + mean_chw`` (mean over the image); one draw per image.
- ``translation``: shift by an integer in ``[-H/8, H/8]`` x ``[-W/8, W/8]`` (``size // 8``), zero fill.
- ``cutout``: a zero square of half the image size (``size // 2``) at a uniform position (clipped at the border).

The random numbers are drawn from torch's global generator in the official order, so a run is
deterministic under ``--seed``. Every operation is differentiable in the images.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from gancompose import Params, RecipeError
from gancompose.errors import did_you_mean
from gancompose.protocols import Augmentation


def brightness(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) - 0.5)


def saturation(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) * 2) + mean


def contrast(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) + 0.5) + mean


def translation(x: torch.Tensor) -> torch.Tensor:
    b, _, h, w = x.shape
    sh, sw = h // 8, w // 8
    ty = torch.randint(-sh, sh + 1, size=[b, 1, 1], device=x.device)
    tx = torch.randint(-sw, sw + 1, size=[b, 1, 1], device=x.device)
    # output pixel (i, j) reads input pixel (i + ty, j + tx) of the zero-padded image (index 0 and h+1 are zeros)
    rows = torch.clamp(torch.arange(h, device=x.device).view(1, h, 1) + ty + 1, 0, h + 1)  # [b, h, 1]
    cols = torch.clamp(torch.arange(w, device=x.device).view(1, 1, w) + tx + 1, 0, w + 1)  # [b, 1, w]
    padded = F.pad(x, [1, 1, 1, 1])
    batch = torch.arange(b, device=x.device).view(b, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = h // 2, w // 2
    oy = torch.randint(0, h + (1 - ch % 2), size=[b, 1, 1], device=x.device)
    ox = torch.randint(0, w + (1 - cw % 2), size=[b, 1, 1], device=x.device)
    # the square covers rows [oy - ch//2, oy - ch//2 + ch) and columns likewise, clipped to the image
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    y0, x0 = oy - ch // 2, ox - cw // 2
    inside = (rows >= y0) & (rows < y0 + ch) & (cols >= x0) & (cols < x0 + cw)
    return x * (~inside).to(x.dtype).unsqueeze(1)


POLICIES = {"color": (brightness, saturation, contrast), "translation": (translation,), "cutout": (cutout,)}


class DiffAugmentParams(Params):
    policy: str = Field("color,translation,cutout",
                        description="comma-separated policies applied in order: color, translation, cutout "
                                    "(the official recommendation for small data is all three)")


class DiffAugment(Augmentation):
    """DiffAugment (Zhao et al. 2020): color, translation and cutout on every image D sees."""

    def __init__(self, p: DiffAugmentParams, in_shape: tuple[int, ...]):
        super().__init__()
        names = [s.strip() for s in p.policy.split(",") if s.strip()]
        for name in names:
            if name not in POLICIES:
                raise RecipeError(f"unknown DiffAugment policy {name!r}", key=["policy"],
                                  hint=did_you_mean(name, POLICIES) or f"use any of {', '.join(POLICIES)}")
        if names and len(in_shape) != 3:
            raise RecipeError(f"DiffAugment works on images [C, H, W]; this network takes {tuple(in_shape)}",
                              key=["type"])
        self.policy = tuple(names)
        self.fns = tuple(f for name in names for f in POLICIES[name])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for f in self.fns:
            x = f(x)
        return x

    def extra_repr(self) -> str:
        return f"policy={','.join(self.policy)!r}"


def diffaugment(p: DiffAugmentParams, in_shape) -> DiffAugment:
    """DiffAugment (Zhao et al. 2020): color, translation and cutout on every image D sees."""
    return DiffAugment(p, in_shape)
