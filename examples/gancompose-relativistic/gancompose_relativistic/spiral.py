"""A procedural 2-D spiral dataset and a metric of how well generated points fit it.

``spiral``: ``arms`` arms; arm ``a`` is the curve ``r(t) (cos phi(t), sin phi(t))`` for ``t`` in [0, 1] with
``r(t) = r_min + (r_max - r_min) t`` and ``phi(t) = 2 pi (turns t + a / arms)``; a sample draws ``t``
uniformly and adds isotropic Gaussian noise of standard deviation ``noise``. Labels are the arm indices.
A thin curve is a harder target than a ring of Gaussians: a generator must follow it, not just find
modes. Coordinates are raw (within about ``r_max + 3 noise``), so the generator ends without a tanh.

``spiral_fit``: generated points against the noise-free curve. ``distance`` is the mean distance to the
curve, ``precision`` the share of points within ``tolerance`` of it, ``coverage`` the share of the
curve's segments (``segments`` per arm, of equal length in t) that have such a point nearest to them.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from pydantic import Field, PositiveInt

from gancompose import Params, RecipeError
from gancompose.protocols import Dataset


class SpiralParams(Params):
    arms: PositiveInt = Field(2, le=16, description="number of arms")
    turns: float = Field(1.0, gt=0, le=10, description="turns of each arm from the inside out")
    r_min: float = Field(0.2, ge=0, description="radius where the arms start")
    r_max: float = Field(2.0, gt=0, description="radius where the arms end")
    noise: float = Field(0.02, ge=0, description="standard deviation of the Gaussian noise added to each point")
    size: PositiveInt = Field(10_000, description="number of samples")
    seed: int = Field(0, description="seed of the samples (same seed, same data)")


def spiral_curve(arms: int, turns: float, r_min: float, r_max: float, points: int) -> torch.Tensor:
    """The noise-free arms, ``[arms, points, 2]``, at ``t = 0 .. 1`` evenly spaced."""
    t = torch.linspace(0.0, 1.0, points, dtype=torch.float64)
    return torch.stack([_at(t, a, arms, turns, r_min, r_max) for a in range(arms)]).to(torch.float32)


def _at(t: torch.Tensor, arm, arms: int, turns: float, r_min: float, r_max: float) -> torch.Tensor:
    r = r_min + (r_max - r_min) * t
    phi = 2 * math.pi * (turns * t + arm / arms)
    return torch.stack([r * torch.cos(phi), r * torch.sin(phi)], dim=-1)


class SpiralDataset(Dataset):
    """A 2-D spiral with any number of arms, procedural (no download); labels are the arms."""

    def __init__(self, p: SpiralParams):
        if p.r_max <= p.r_min:
            raise RecipeError(f"r_max ({p.r_max}) must be larger than r_min ({p.r_min})", key=["r_max"])
        self.params = p
        g = torch.Generator().manual_seed(p.seed)
        self.labels = torch.randint(p.arms, (p.size,), generator=g, dtype=torch.int64)
        t = torch.rand(p.size, generator=g, dtype=torch.float64)
        points = _at(t, self.labels.to(torch.float64), p.arms, p.turns, p.r_min, p.r_max)
        noise = torch.randn(p.size, 2, generator=g, dtype=torch.float64) * p.noise
        self.data = (points + noise).to(torch.float32)
        self.sample_shape: tuple[int, ...] = (2,)
        self.num_classes: int | None = p.arms

    def curve(self, points: int = 2000) -> torch.Tensor:
        """The noise-free arms, ``[arms, points, 2]``."""
        p = self.params
        return spiral_curve(p.arms, p.turns, p.r_min, p.r_max, points)

    def __len__(self) -> int:
        return self.data.shape[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"image": self.data[index], "label": self.labels[index]}

    def get_batch(self, indices: Sequence[int] | torch.Tensor) -> dict[str, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return {"image": self.data.index_select(0, idx), "label": self.labels.index_select(0, idx)}


def curve_fit(points: torch.Tensor, curve: torch.Tensor, tolerance: float, segments: int) -> dict[str, float]:
    """Distance, precision and coverage of ``points`` ``[N, 2]`` against ``curve`` ``[arms, P, 2]`` (see the
    module's doc); each arm is cut into ``segments`` runs of consecutive curve points."""
    arms, per_arm, _ = curve.shape
    flat = curve.reshape(-1, 2).to(points)
    dist, nearest = torch.cdist(points.reshape(len(points), -1)[:, :2].float(), flat.float()).min(dim=1)
    close = dist <= tolerance
    arm, pos = nearest // per_arm, nearest % per_arm
    segment = arm * segments + torch.clamp(pos * segments // per_arm, max=segments - 1)
    hit = torch.zeros(arms * segments, dtype=torch.bool)
    hit[segment[close].cpu()] = True
    return {"distance": float(dist.mean()), "precision": float(close.float().mean()),
            "coverage": float(hit.float().mean())}


class SpiralFitParams(Params):
    samples: PositiveInt = Field(2000, description="generated points to measure")
    tolerance: float = Field(0.1, gt=0, description="a point fits when within this distance of the curve")
    segments: PositiveInt = Field(20, description="segments per arm for coverage")
    seed: int = Field(0, description="seed of the latents")


class SpiralFit:
    """Fit of generated points to the spiral: mean distance, precision and coverage (dataset 'spiral' only)."""

    def __init__(self, p: SpiralFitParams):
        self.p = p

    @torch.no_grad()
    def __call__(self, run) -> dict[str, float]:
        from gancompose.sampling import generate
        curve = getattr(run.dataset, "curve", None)
        if curve is None:
            raise RecipeError("the spiral_fit metric measures samples against the spiral: use [data] type = 'spiral'",
                              key=["metrics"])
        points = generate(run, self.p.samples, seed=self.p.seed)
        return curve_fit(points, curve(), self.p.tolerance, self.p.segments)


DATASETS = [("spiral", SpiralDataset, SpiralParams)]
METRICS = [("spiral_fit", SpiralFit, SpiralFitParams)]
