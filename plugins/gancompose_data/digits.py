"""A labelled MNIST-like digit dataset rendered procedurally from Pillow's bundled font (no files)."""
from __future__ import annotations

import functools
import math

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from pydantic import Field

from gancompose import Params
from gancompose_data._base import RenderedImages

CANVAS = 96        # side of the canvas a digit is drawn and deformed on
FONT_SIZE = 55     # Pillow's bundled font at this size gives glyphs of about 32x40 px
STROKES = (0, 1, 2, 3, 4)   # extra stroke widths (px at FONT_SIZE) drawn around the glyph
FRAME, BOX = 28, 20          # MNIST framing: the digit fits a BOX x BOX box inside a FRAME x FRAME image
FIT = 19.0                   # the ink's outline is scaled to this; resampling blur adds about one pixel
INK_THRESHOLD = 24           # canvas values below this count as background (anti-aliasing fringe)
FINAL_THRESHOLD = 16         # output values below this are set to 0 (a clean black background, as MNIST)


class DigitsParams(Params):
    """Parameters of the ``digits`` dataset."""

    size: int = Field(10_000, ge=1, description="number of images")
    seed: int = Field(0, description="seed of the images (same seed, same data)")


@functools.lru_cache(maxsize=None)
def _glyph(digit: int, stroke: int) -> Image.Image:
    """The digit drawn white on black, centred on the canvas."""
    font = ImageFont.load_default(size=FONT_SIZE)
    img = Image.new("L", (CANVAS, CANVAS), 0)
    ImageDraw.Draw(img).text((CANVAS / 2, CANVAS / 2), str(digit), font=font, fill=255, anchor="mm",
                             stroke_width=stroke, stroke_fill=255)
    return img


_CLEAN = [0 if v < INK_THRESHOLD else v for v in range(256)]
_FINAL_CLEAN = [0 if v < FINAL_THRESHOLD else v for v in range(256)]


def _render_one(digit: int, stroke: int, angle: float, shear: float, xscale: float) -> np.ndarray:
    glyph = _glyph(digit, stroke)
    # forward map about the canvas centre: rotate . shear . scale-x; PIL wants the inverse
    c, s = math.cos(angle), math.sin(angle)
    fwd = np.array([[c, -s], [s, c]]) @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.array([[xscale, 0.0], [0.0, 1.0]])
    inv = np.linalg.inv(fwd)
    h = CANVAS / 2
    off = np.array([h, h]) - inv @ np.array([h, h])
    img = glyph.transform((CANVAS, CANVAS), Image.Transform.AFFINE,
                          (inv[0, 0], inv[0, 1], off[0], inv[1, 0], inv[1, 1], off[1]),
                          resample=Image.Resampling.BILINEAR).point(_CLEAN)
    x0, y0, x1, y1 = img.getbbox()
    fit = FIT
    # centre of mass (continuous coordinates: pixel i covers [i, i+1))
    a = np.asarray(img, dtype=np.float32)[y0:y1, x0:x1]
    total = a.sum()
    gx = x0 + 0.5 + float(a.sum(0) @ np.arange(x1 - x0, dtype=np.float32)) / total
    gy = y0 + 0.5 + float(a.sum(1) @ np.arange(y1 - y0, dtype=np.float32)) / total
    while True:
        # the source region that lands on the FRAME x FRAME output with the centre of mass at its centre
        span = FRAME * max(x1 - x0, y1 - y0) / fit
        bx, by = gx - span / 2, gy - span / 2
        ix, iy = math.floor(bx), math.floor(by)
        w = math.ceil(span) + 2
        region = img.crop((ix, iy, ix + w, iy + w))  # zero-filled where it leaves the canvas
        out = region.resize((FRAME, FRAME), Image.Resampling.BICUBIC,
                            box=(bx - ix, by - iy, bx - ix + span, by - iy + span)).point(_FINAL_CLEAN)
        ox0, oy0, ox1, oy1 = out.getbbox() or (0, 0, 0, 0)
        if max(ox1 - ox0, oy1 - oy0) <= BOX or fit < BOX / 2:  # rarely the fringe overflows: shrink a bit
            return np.asarray(out)
        fit -= 0.5


def render_digits(size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` digits: uint8 ``[N, 1, 28, 28]`` and int64 labels ``[N]`` (balanced, random order)."""
    rng = np.random.default_rng([seed, 0xD161])
    labels = rng.permutation(np.arange(size) % 10)
    strokes = rng.choice(np.array(STROKES), size=size, p=[0.15, 0.25, 0.25, 0.2, 0.15])
    angles = np.deg2rad(rng.uniform(-15, 15, size))
    shears = rng.uniform(-0.3, 0.3, size)
    xscales = rng.uniform(0.6, 1.1, size)
    out = np.empty((size, 1, FRAME, FRAME), dtype=np.uint8)
    for i in range(size):
        out[i, 0] = _render_one(int(labels[i]), int(strokes[i]), float(angles[i]), float(shears[i]),
                                float(xscales[i]))
    return torch.from_numpy(out), torch.from_numpy(labels).to(torch.int64)


@functools.lru_cache(maxsize=4)
def _cached(size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    return render_digits(size, seed)


class DigitsDataset(RenderedImages):
    """MNIST-like procedural digits, 1x28x28, 10 classes, rendered offline from Pillow's bundled font.

    Each digit is drawn large with a random stroke width, then rotated (+-15 deg), sheared and
    narrowed at random, cropped to its ink, scaled to fit a 20x20 box (keeping its aspect) and placed
    in a 28x28 frame with its centre of mass at the centre, as MNIST was framed. White on black,
    scaled to [-1, 1]; the classes are balanced. Rendering takes about 0.1 ms per digit, when the images are
    first read, and is cached per ``(size, seed)`` within a process.
    """

    def __init__(self, params: DigitsParams):
        self.params = params
        super().__init__(params.size, (1, FRAME, FRAME), 10)

    def render(self) -> tuple[torch.Tensor, torch.Tensor]:
        return _cached(self.params.size, self.params.seed)
