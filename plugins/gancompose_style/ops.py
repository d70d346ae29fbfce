"""Plain-PyTorch stand-ins for StyleGAN2's custom CUDA ops (upfirdn2d, bias_act, conv2d_resample).

Everything here is ordinary ``torch`` ops (pad, depthwise ``conv2d``, ``conv_transpose2d``, ``leaky_relu``)
that ``torch.compile`` can fuse; speed is left to the performance work. The resampling filter is the
official ``[1, 3, 3, 1]`` (outer product, normalized to sum 1), and the paddings reproduce the official
``upfirdn2d.upsample2d`` / ``downsample2d`` and ``conv2d_resample`` output sizes:

* ``upsample2d``: zero-insertion by 2, pad (2, 1), filter with gain 4: ``H -> 2H``;
* ``downsample2d``: pad (1, 1), filter, keep every other pixel: ``H -> H/2``;
* a 3x3 convolution with ``up=2``: transposed convolution with stride 2 (``H -> 2H+1``), then the filter
  with pad (1, 1) and gain 4 (``-> 2H``); with ``down=2``: the filter with pad (2, 2) (``H -> H+1``), then a
  stride-2 convolution (``-> H/2``); a 1x1 convolution with ``down=2`` filters and subsamples first.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SQRT2 = math.sqrt(2.0)


def make_filter(taps=(1, 3, 3, 1)) -> torch.Tensor:
    """A separable 2-D low-pass filter from 1-D taps, normalized to sum 1."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = f[:, None] * f[None, :]
    return f / f.sum()


def lrelu(x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """bias_act's 'lrelu': leaky ReLU (slope 0.2) times its default gain sqrt(2), times ``gain``."""
    return F.leaky_relu(x, 0.2) * (SQRT2 * gain)


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """``x / sqrt(mean(x^2) + eps)`` along ``dim`` (StyleGAN's pixel norm of z and of the label embedding)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def filter2d(x: torch.Tensor, f: torch.Tensor, pad: tuple[int, int, int, int], gain: float = 1.0,
             stride: int = 1) -> torch.Tensor:
    """Pad ``x`` by (left, right, top, bottom), filter every channel with ``f`` (times ``gain``), subsample."""
    c = x.shape[1]
    x = F.pad(x, pad)
    w = (f * gain).to(x.dtype).flip([0, 1])[None, None].expand(c, 1, *f.shape)
    return F.conv2d(x, w, stride=stride, groups=c)


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """2x upsampling: zero insertion, then the low-pass filter (gain 4). ``[N, C, H, W] -> [N, C, 2H, 2W]``."""
    n, c, h, w = x.shape
    up = x.new_zeros(n, c, h, 2, w, 2)
    up[:, :, :, 0, :, 0] = x
    up = up.reshape(n, c, 2 * h, 2 * w)
    p0, p1 = (f.shape[0] + 1) // 2, (f.shape[0] - 2) // 2  # (2, 1) for 4 taps
    return filter2d(up, f, (p0, p1, p0, p1), gain=4.0)


def downsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """2x downsampling: the low-pass filter, then every other pixel. ``[N, C, H, W] -> [N, C, H/2, W/2]``."""
    p0, p1 = (f.shape[0] - 1) // 2, (f.shape[0] - 2) // 2  # (1, 1) for 4 taps
    return filter2d(x, f, (p0, p1, p0, p1), stride=2)


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor | None, up: int = 1, down: int = 1,
                    groups: int = 1) -> torch.Tensor:
    """``conv2d`` with 'same' padding, optionally with 2x up- or downsampling through the filter ``f``.

    ``w`` is ``[out, in / groups, k, k]``. With ``up = 2`` the convolution is a stride-2 transposed
    convolution followed by the filter; with ``down = 2`` the filter comes first.
    """
    k = w.shape[-1]
    if up == 1 and down == 1:
        return F.conv2d(x, w, padding=k // 2, groups=groups)
    if up == 2:
        if k == 1:
            return F.conv2d(upsample2d(x, f), w, groups=groups)
        # conv_transpose2d takes [in, out / groups, k, k]
        o, i = w.shape[0] // groups, w.shape[1]
        wt = w.reshape(groups, o, i, k, k).transpose(1, 2).reshape(groups * i, o, k, k)
        x = F.conv_transpose2d(x, wt, stride=2, groups=groups)  # H -> 2H + k - 2
        p = (f.shape[0] + 2 - k) // 2  # 4 taps, 3x3: (1, 1) -> 2H
        return filter2d(x, f, (p, p, p, p), gain=4.0)
    if down == 2:
        if k == 1:
            return F.conv2d(downsample2d(x, f), w, groups=groups)
        p = (f.shape[0] - 2 + k - 1) // 2  # 4 taps, 3x3: (2, 2) -> H + 1
        x = filter2d(x, f, (p, p, p, p))
        return F.conv2d(x, w, stride=2, groups=groups)
    raise ValueError(f"only up=2 or down=2 resampling is supported, got up={up}, down={down}")
