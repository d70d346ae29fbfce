"""Metrics that need no pretrained weights."""
from __future__ import annotations

import torch
from pydantic import Field, PositiveInt

from gancompose import Params, RecipeError


class ModeCoverageParams(Params):
    samples: PositiveInt = Field(2500, description="generated points to classify")
    std_radius: float = Field(3.0, gt=0, description="a point is high quality within this many std of a mode")
    min_share: float = Field(0.25, ge=0, description="a mode counts as covered when it receives this share "
                                                     "of its expected count (samples / modes)")


class ModeCoverage:
    """Modes covered and share of high-quality samples on a Gaussian mixture (Unrolled GAN / VEEGAN / PacGAN)."""

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
        dist = torch.cdist(points, centers.to(points))
        nearest, which = dist.min(dim=1)
        good = nearest < self.p.std_radius * float(std)
        counts = torch.bincount(which[good], minlength=len(centers))
        expected = self.p.samples / len(centers)
        return {"modes": int((counts >= self.p.min_share * expected).sum()),
                "high_quality": float(good.float().mean())}


METRICS = [("mode_coverage", ModeCoverage, ModeCoverageParams)]
