"""``paired_shapes``: an offline paired dataset for image-to-image translation (edges -> rendering).

Each scene (one shape of six kinds, random size, position and rotation) is drawn twice: A, its *edges*, white
outlines on black (a ring has two, an inner and an outer circle); B, its *rendering*, the shape filled with the
colour of its kind, a darker rim and a shadow, on warm paper lit from the top. Everything B adds is a function of
what A shows (the kind fixes the colour), so the pairs can be learnt pixel for pixel, as edges2shoes or facades;
generated in memory from the seed, no download.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw
from pydantic import Field, PositiveInt

from gancompose import Params
from gancompose_data.shapes import SHAPE_CLASSES, polygon

from gancompose_pix2pix.paired import PairedTensors

#: the colour of each kind of shape in the rendering (the edges do not show it: the kind does)
KIND_COLOURS = {"circle": (214, 64, 52), "square": (52, 110, 204), "triangle": (62, 160, 84),
                "star": (232, 178, 40), "cross": (150, 70, 180), "ring": (32, 150, 160)}
PAPER = np.array([240, 232, 214], dtype=np.float32)


class PairedShapesParams(Params):
    """Parameters of the ``paired_shapes`` dataset."""
    image_size: int = Field(32, ge=16, le=256, description="height and width of the images, in pixels")
    size: PositiveInt = Field(2000, le=200_000, description="number of pairs")
    hflip: bool = Field(True, description="flip each pair (both sides together) with probability 0.5")
    seed: int = Field(0, description="seed of the scenes (same seed, same data)")


def _shade(rgb: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(int(round(min(255.0, c * factor))) for c in rgb)  # type: ignore[return-value]


def render(n: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` scenes: edges A and renderings B, uint8 ``[n, 3, size, size]``, and the kinds ``[n]``."""
    ss = 4 if size <= 64 else 2  # drawn large, then reduced: smooth edges
    big = size * ss
    rng = np.random.default_rng([seed, 0x9A125])
    kinds = rng.permutation(np.arange(n) % len(SHAPE_CLASSES))
    radius = rng.uniform(0.24, 0.4, n) * size
    cx = radius + 2 + rng.random(n) * (size - 2 * radius - 4)
    cy = radius + 2 + rng.random(n) * (size - 2 * radius - 4)
    angle = rng.uniform(0, 2 * math.pi, n)
    light = rng.uniform(0.85, 1.1, n)  # how brightly each scene is lit
    ramp = np.linspace(1.04, 0.9, big, dtype=np.float32)[:, None, None]  # paper lit from the top
    a_out = np.empty((n, size, size, 3), dtype=np.uint8)
    b_out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        kind = SHAPE_CLASSES[kinds[i]]
        x, y, r = cx[i] * ss, cy[i] * ss, radius[i] * ss
        edge = max(ss, int(round(0.06 * r)))
        fill = _shade(KIND_COLOURS[kind], light[i])
        rim = _shade(fill, 0.55)
        paper = np.clip(PAPER * light[i] * ramp, 0, 255).astype(np.uint8)
        a = Image.new("RGB", (big, big), (0, 0, 0))
        b = Image.fromarray(np.broadcast_to(paper, (big, big, 3)).copy())
        da, db = ImageDraw.Draw(a), ImageDraw.Draw(b)
        off = 0.12 * r  # the shadow falls down and to the right
        if kind in ("circle", "ring"):
            r_out = r * (0.85 if kind == "circle" else 1.0)
            box = (x - r_out, y - r_out, x + r_out, y + r_out)
            da.ellipse(box, outline=(255, 255, 255), width=edge)
            db.ellipse(tuple(v + off for v in box), fill=_shade(tuple(int(c) for c in paper[-1, 0]), 0.72))
            db.ellipse(box, fill=fill, outline=rim, width=edge)
            if kind == "ring":
                r_in = 0.55 * r
                hole = (x - r_in, y - r_in, x + r_in, y + r_in)
                da.ellipse(hole, outline=(255, 255, 255), width=edge)
                db.ellipse(hole, fill=tuple(int(c) for c in paper[int(y), 0]), outline=rim, width=edge)
        else:
            pts = polygon(kind, x, y, r, angle[i])
            da.line(pts + pts[:1], fill=(255, 255, 255), width=edge, joint="curve")
            db.polygon([(px + off, py + off) for px, py in pts],
                       fill=_shade(tuple(int(c) for c in paper[-1, 0]), 0.72))
            db.polygon(pts, fill=fill)
            db.line(pts + pts[:1], fill=rim, width=edge, joint="curve")
        a_out[i] = np.asarray(a.reduce(ss))
        b_out[i] = np.asarray(b.reduce(ss))
    to_t = lambda arr: torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()  # noqa: E731
    return to_t(a_out), to_t(b_out), torch.from_numpy(kinds).to(torch.int64)


class PairedShapesDataset(PairedTensors):
    """Pairs of procedural scenes: A = the edges of a shape, B = its rendering (colour of its kind, rim, shadow)."""
    classes = SHAPE_CLASSES

    def __init__(self, params: PairedShapesParams):
        self.params = params
        a, b, kinds = render(params.size, params.image_size, params.seed)
        super().__init__(a, b, kinds, hflip=params.hflip)
