"""``unpaired_shapes``: an offline two-domain dataset for image-to-image translation.

The same kinds of scenes (one shape of six kinds, random colour, size, position and rotation) rendered in
two styles: domain A, *paper*, a filled shape on a light background; domain B, *neon*, the outline of the
shape glowing on a dark background. The two domains are drawn from independent random scenes, so no
image of A has a counterpart in B: the pairing must be learnt, as in monet2photo. Translating A to B
means darkening the background and hollowing the shape while keeping its kind, place and hue; both
facts are measurable (background luminance separates the domains; the shape label is known).
"""
from __future__ import annotations

import colorsys
import math

import numpy as np
import torch
from PIL import Image, ImageDraw
from pydantic import Field, PositiveInt

from gancompose import Params
from gancompose_data.shapes import SHAPE_CLASSES, polygon

from gancompose_cycle.unpaired import UnpairedTensors

STYLES = ("paper", "neon")


class UnpairedShapesParams(Params):
    """Parameters of the ``unpaired_shapes`` dataset."""
    image_size: int = Field(32, ge=16, le=256, description="height and width of the images, in pixels")
    size: PositiveInt = Field(2000, description="images per domain")
    seed: int = Field(0, description="seed of the scenes (same seed, same data)")


def _rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
    return tuple(int(round(c * 255)) for c in colorsys.hsv_to_rgb(h, s, v))  # type: ignore[return-value]


def render(style: str, n: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` scenes in ``style``: uint8 images ``[n, 3, size, size]`` and shape labels ``[n]``."""
    ss = 4 if size <= 32 else 2
    big = size * ss
    rng = np.random.default_rng([seed, STYLES.index(style), 0xC7C1E])
    labels = rng.permutation(np.arange(n) % len(SHAPE_CLASSES))
    radius = rng.uniform(0.22, 0.4, n) * size
    cx = radius + 1 + rng.random(n) * (size - 2 * radius - 2)
    cy = radius + 1 + rng.random(n) * (size - 2 * radius - 2)
    angle = rng.uniform(0, 2 * math.pi, n)
    hue = rng.random(n)
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        if style == "paper":
            bg = _rgb(rng.uniform(0.08, 0.16), rng.uniform(0.05, 0.2), rng.uniform(0.88, 1.0))  # warm off-white
            fg = _rgb(hue[i], rng.uniform(0.6, 1.0), rng.uniform(0.45, 0.75))
        else:
            bg = _rgb(rng.uniform(0.6, 0.7), rng.uniform(0.5, 0.9), rng.uniform(0.04, 0.14))  # night blue
            fg = _rgb(hue[i], rng.uniform(0.35, 0.6), 1.0)
        img = Image.new("RGB", (big, big), bg)
        draw = ImageDraw.Draw(img)
        kind = SHAPE_CLASSES[labels[i]]
        x, y, r = cx[i] * ss, cy[i] * ss, radius[i] * ss
        width = max(ss, int(round(0.2 * r)))
        if kind in ("circle", "ring"):
            r *= 0.85 if kind == "circle" else 1.0
            box = (x - r, y - r, x + r, y + r)
            if style == "paper" and kind == "circle":
                draw.ellipse(box, fill=fg)
            else:  # a ring is an outline in both styles (thicker on paper)
                draw.ellipse(box, outline=fg, width=width * (2 if style == "paper" else 1))
        else:
            pts = polygon(kind, x, y, r, angle[i])
            if style == "paper":
                draw.polygon(pts, fill=fg)
            else:
                draw.line(pts + pts[:1], fill=fg, width=width, joint="curve")
        out[i] = np.asarray(img.reduce(ss))
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels).to(torch.int64)


class UnpairedShapesDataset(UnpairedTensors):
    """Two unpaired domains of procedural scenes: A = filled shapes on paper, B = neon outlines at night."""
    styles = STYLES
    classes = SHAPE_CLASSES

    def __init__(self, params: UnpairedShapesParams):
        self.params = params
        a, la = render("paper", params.size, params.image_size, params.seed)
        b, lb = render("neon", params.size, params.image_size, params.seed)
        super().__init__(a, b, la, lb)
