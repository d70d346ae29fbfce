"""Procedural coloured shapes: a small labelled image dataset that needs no files."""
from __future__ import annotations

import colorsys
import math
from typing import Literal

import numpy as np
import torch
from PIL import Image, ImageDraw
from pydantic import Field

from gancompose import Params
from gancompose_data._base import RenderedImages

#: The classes, in label order.
SHAPE_CLASSES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "ring")


class ShapesParams(Params):
    """Parameters of the ``shapes`` dataset."""

    image_size: int = Field(64, ge=16, le=256, description="height and width of the images, in pixels")
    size: int = Field(4096, ge=1, description="number of images")
    channels: Literal[1, 3] = Field(3, description="3 for RGB, 1 for grayscale")
    background: Literal["black", "dark", "random"] = Field(
        "dark", description="'black'; 'dark': a random dark plain colour; 'random': any plain colour")
    seed: int = Field(0, description="seed of the images (same seed, same data)")


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114])


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.array([colorsys.hsv_to_rgb(*hsv) for hsv in zip(h, s, v)], dtype=np.float64).reshape(-1, 3)


def _colours(rng: np.random.Generator, n: int, background: str) -> tuple[np.ndarray, np.ndarray]:
    """Shape and background colours in [0, 1], ``[n, 3]`` each, with a luminance gap of >= 0.35
    so the shape also stands out in grayscale."""
    fg = _hsv_to_rgb(rng.random(n), rng.uniform(0.45, 1.0, n), rng.uniform(0.7, 1.0, n))
    if background == "black":
        bg = np.zeros((n, 3))
    elif background == "dark":
        bg = _hsv_to_rgb(rng.random(n), rng.uniform(0.2, 0.8, n), rng.uniform(0.0, 0.25, n))
    else:
        bg = _hsv_to_rgb(rng.random(n), rng.uniform(0.0, 1.0, n), rng.uniform(0.0, 1.0, n))
    y_fg, y_bg = _luminance(fg), _luminance(bg)
    # a light background gets a darkened shape, a dark one a lightened shape
    light = y_bg > 0.5
    target = np.where(light, y_bg - 0.35, y_bg + 0.35)
    darken = light & (y_fg > target)
    fg[darken] *= (target[darken] / y_fg[darken])[:, None]
    lighten = ~light & (y_fg < target)
    t = (target[lighten] - y_fg[lighten]) / (1.0 - y_fg[lighten])  # blend toward white
    fg[lighten] += (1.0 - fg[lighten]) * t[:, None]
    return np.clip(fg, 0, 1), bg


def polygon(kind: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    if kind == "square":
        pts = [(math.cos(a), math.sin(a)) for a in (math.pi / 4 + k * math.pi / 2 for k in range(4))]
    elif kind == "triangle":
        pts = [(math.cos(a), math.sin(a)) for a in (-math.pi / 2 + k * 2 * math.pi / 3 for k in range(3))]
    elif kind == "star":
        pts = [((1.0 if k % 2 == 0 else 0.42) * math.cos(a), (1.0 if k % 2 == 0 else 0.42) * math.sin(a))
               for k, a in ((k, -math.pi / 2 + k * math.pi / 5) for k in range(10))]
    elif kind == "cross":
        w = 0.34
        pts = [(w, 1), (w, w), (1, w), (1, -w), (w, -w), (w, -1), (-w, -1), (-w, -w), (-1, -w), (-1, w), (-w, w),
               (-w, 1)]
        s = 1 / math.hypot(1, w)  # circumradius 1
        pts = [(x * s, y * s) for x, y in pts]
    else:
        raise ValueError(kind)
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + r * (c * x - s * y), cy + r * (s * x + c * y)) for x, y in pts]


def render_shapes(params: ShapesParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Render ``params.size`` images: uint8 ``[N, C, S, S]`` and int64 labels ``[N]``."""
    n, size = params.size, params.image_size
    ss = 4 if size <= 32 else 2  # supersampling factor: shapes are drawn large, then box-filtered
    big = size * ss
    rng = np.random.default_rng([params.seed, 0x5A4E5])
    k = len(SHAPE_CLASSES)
    labels = rng.permutation(np.arange(n) % k)  # balanced classes in random order
    radius = rng.uniform(0.2, 0.4, n) * size  # circumradius, pixels
    cx = radius + 1 + rng.random(n) * (size - 2 * radius - 2)
    cy = radius + 1 + rng.random(n) * (size - 2 * radius - 2)
    angle = rng.uniform(0, 2 * math.pi, n)
    fg, bg = _colours(rng, n, params.background)

    mode = "RGB" if params.channels == 3 else "L"
    if params.channels == 3:
        fg_c = [tuple(int(round(v * 255)) for v in c) for c in fg]
        bg_c = [tuple(int(round(v * 255)) for v in c) for c in bg]
    else:
        fg_c = [int(round(v * 255)) for v in _luminance(fg)]
        bg_c = [int(round(v * 255)) for v in _luminance(bg)]
    out = np.empty((n, size, size, params.channels), dtype=np.uint8)
    view = out[..., 0] if params.channels == 1 else out
    for i in range(n):
        img = Image.new(mode, (big, big), bg_c[i])
        draw = ImageDraw.Draw(img)
        kind = SHAPE_CLASSES[labels[i]]
        x, y, r = cx[i] * ss, cy[i] * ss, radius[i] * ss
        if kind == "circle":
            r *= 0.85
            draw.ellipse((x - r, y - r, x + r, y + r), fill=fg_c[i])
        elif kind == "ring":
            draw.ellipse((x - r, y - r, x + r, y + r), outline=fg_c[i], width=max(ss, int(round(0.38 * r))))
        else:
            draw.polygon(polygon(kind, x, y, r, angle[i]), fill=fg_c[i])
        view[i] = np.asarray(img.reduce(ss))
    images = torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()
    return images, torch.from_numpy(labels).to(torch.int64)


class ShapesDataset(RenderedImages):
    """Procedural coloured shapes (circle, square, triangle, star, cross, ring), labelled by shape.

    Each image shows one filled shape of random colour, size, position and rotation on a plain
    background, drawn with Pillow at 2-4x resolution and box-filtered down (anti-aliased). The shape
    keeps a luminance gap of at least 0.35 to the background, so grayscale images work too. All
    images are rendered when first read (about 0.3 ms each at 64 px); the labels are balanced.
    """

    classes = SHAPE_CLASSES

    def __init__(self, params: ShapesParams):
        self.params = params
        super().__init__(params.size, (params.channels, params.image_size, params.image_size), len(SHAPE_CLASSES))

    def render(self) -> tuple[torch.Tensor, torch.Tensor]:
        return render_shapes(self.params)
