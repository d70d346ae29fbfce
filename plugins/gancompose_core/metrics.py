"""Metrics that need no pretrained weights: mode coverage on 2-D Gaussian mixtures (PacGAN's protocol)."""
from __future__ import annotations

from pathlib import Path

import torch
from pydantic import Field, PositiveInt

from gancompose import Params, RecipeError


def histogram_reverse_kl(counts: torch.Tensor) -> float:
    """``KL(p || uniform)`` of the normalized histogram ``counts`` (0 log 0 = 0): 0 when every bin gets the
    same share, log(bins) when one bin gets everything; NaN for an empty histogram."""
    counts = counts.to(torch.float64)
    total = counts.sum()
    if total <= 0:
        return float("nan")
    p = counts / total
    return float(torch.special.xlogy(p, p * len(counts)).sum())


def mode_statistics(points: torch.Tensor, centers: torch.Tensor, std: float, std_radius: float = 3.0) -> dict:
    """PacGAN's measures (Lin et al. 2018, sec. 5.1) for generated ``points`` on a mixture of Gaussians with
    ``centers`` and standard deviation ``std``: a sample is high quality when within ``std_radius`` standard
    deviations of its nearest mode; a mode is captured when at least one high-quality sample is assigned to
    it; reverse KL is ``KL(p || uniform)`` of the histogram of high-quality samples over the modes."""
    points = points.reshape(len(points), -1).to(torch.float32)
    dist = torch.cdist(points, centers.to(points))
    nearest, which = dist.min(dim=1)
    good = nearest <= std_radius * float(std)
    counts = torch.bincount(which[good], minlength=len(centers))
    return {"modes": int((counts > 0).sum()), "high_quality": float(good.float().mean()),
            "reverse_kl": histogram_reverse_kl(counts), "counts": counts, "good": good}


def mode_scatter_image(points: torch.Tensor, centers: torch.Tensor, std: float, std_radius: float = 3.0,
                       good: torch.Tensor | None = None, size: int = 512, title: str = ""):
    """A PIL image: the modes' high-quality discs (radius ``std_radius`` std, red), high-quality samples in
    blue, the others in grey."""
    from PIL import Image, ImageDraw, ImageFont
    pts = points.reshape(len(points), -1).float()
    extent = float(centers.abs().max()) * 1.35 + 3 * std_radius * float(std)
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)

    def xy(p):
        return ((float(p[0]) / extent + 1) / 2 * (size - 1), (1 - (float(p[1]) / extent + 1) / 2) * (size - 1))

    draw.line([(size // 2, 0), (size // 2, size)], fill=(225, 225, 225))
    draw.line([(0, size // 2), (size, size // 2)], fill=(225, 225, 225))
    r = max(3.0, std_radius * float(std) / extent * (size - 1) / 2)
    for c in centers:
        cx, cy = xy(c)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=(210, 40, 40), width=2)
    good = torch.ones(len(pts), dtype=torch.bool) if good is None else good
    for p, g in zip(pts.tolist(), good.tolist()):
        if abs(p[0]) < extent and abs(p[1]) < extent:
            x, y = xy(p)
            draw.rectangle([x - 1, y - 1, x, y], fill=(30, 60, 200) if g else (150, 150, 150))
    if title:
        draw.text((8, 6), title, fill=(0, 0, 0), font=ImageFont.load_default(size=14))
    return img


class ModeCoverageParams(Params):
    samples: PositiveInt = Field(2500, description="generated points to classify (PacGAN: 2,500)")
    std_radius: float = Field(3.0, gt=0, description="a point is high quality within this many std of its "
                                                     "nearest mode (PacGAN: 3)")
    plot: bool = Field(True, description="write a scatter plot of the samples over the modes to "
                                         "RUN/samples/modes_step_NNNNNNN.png")


class ModeCoverage:
    """Modes captured, share of high-quality samples and reverse KL on a Gaussian mixture (PacGAN's protocol)."""

    def __init__(self, p: ModeCoverageParams):
        self.p = p

    @torch.no_grad()
    def __call__(self, run) -> dict[str, float]:
        centers = getattr(run.dataset, "centers", None)
        std = getattr(run.dataset, "std", None)
        if centers is None or std is None:
            raise RecipeError("mode_coverage needs a dataset with known modes (centers, std), such as "
                              "gaussian_mixture", key=["metrics"])
        from gancompose.sampling import generate
        points = generate(run, self.p.samples, seed=run.recipe.train.seed)
        s = mode_statistics(points, centers, std, self.p.std_radius)
        folder = getattr(run, "run_dir", None)
        if self.p.plot and folder is not None:
            step = getattr(getattr(run, "state", None), "step", 0)
            path = Path(folder) / "samples" / f"modes_step_{step:07d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            title = (f"step {step}: {s['modes']}/{len(centers)} modes, {100 * s['high_quality']:.1f}% high quality, "
                     f"reverse KL {s['reverse_kl']:.3f}")
            mode_scatter_image(points, centers, std, self.p.std_radius, s["good"], title=title).save(path)
        return {"modes": s["modes"], "high_quality": s["high_quality"], "reverse_kl": s["reverse_kl"]}


METRICS = [("mode_coverage", ModeCoverage, ModeCoverageParams)]
