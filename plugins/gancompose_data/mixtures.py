"""2-D Gaussian mixtures: the ring and grid benchmarks of the mode-collapse literature
(VEEGAN, PacGAN, Unrolled GAN)."""
from __future__ import annotations

import math
from typing import Literal, Optional, Sequence

import torch
from pydantic import Field, model_validator

from gancompose import Params
from gancompose.protocols import Dataset

GRID_COORDS = (-4.0, -2.0, 0.0, 2.0, 4.0)
DEFAULT_STD = {"ring": 0.01, "grid": 0.05}


class GaussianMixtureParams(Params):
    """Parameters of the ``gaussian_mixture`` dataset."""

    layout: Literal["ring", "grid"] = Field(
        "ring", description="'ring': n_modes modes on a circle; 'grid': 25 modes at {-4,-2,0,2,4}^2")
    n_modes: Optional[int] = Field(None, ge=1, le=10_000, description="number of modes on the ring (default 8; "
                                                                      "ring only: the grid has 25)")
    radius: Optional[float] = Field(None, gt=0, description="radius of the ring (default 1.0; ring only)")
    std: Optional[float] = Field(None, gt=0, description="standard deviation of every mode "
                                                       "(default: 0.01 for the ring, 0.05 for the grid)")
    size: int = Field(10_000, ge=1, description="number of samples")
    seed: int = Field(0, description="seed of the samples (same seed, same data)")

    @model_validator(mode="after")
    def _grid_is_fixed(self):
        if self.layout == "grid":
            if self.n_modes is not None and self.n_modes != 25:
                raise ValueError("n_modes applies to layout='ring' only; the grid always has 25 modes")
            if self.radius is not None:
                raise ValueError("radius applies to layout='ring' only")
        return self


def mixture_centers(layout: str, n_modes: int = 8, radius: float = 1.0) -> torch.Tensor:
    """Mode centres ``[n_modes, 2]``: evenly spaced on the circle (first at angle 0), or the 5x5 grid
    in row-major order (x varies fastest)."""
    if layout == "ring":
        angles = torch.arange(n_modes, dtype=torch.float64) * (2 * math.pi / n_modes)
        return (torch.stack([angles.cos(), angles.sin()], dim=1) * radius).to(torch.float32)
    if layout == "grid":
        g = torch.tensor(GRID_COORDS, dtype=torch.float32)
        ys, xs = torch.meshgrid(g, g, indexing="ij")
        return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)
    raise ValueError(f"unknown layout {layout!r}")


class GaussianMixtureDataset(Dataset):
    """2-D Gaussian mixture (ring or 5x5 grid) for mode-collapse studies; raw coordinates, not [-1, 1].

    Each sample is ``{"image": float32 [2], "label": int64 mode index}``, the mode drawn uniformly.
    Values are the raw coordinates (the grid spans about [-4.2, 4.2]); they are *not* scaled to
    ``[-1, 1]``, so a generator for it should end without a tanh. ``centers`` ``[n_modes, 2]`` and
    ``std`` describe the true distribution (used by mode-coverage metrics).
    """

    def __init__(self, params: GaussianMixtureParams):
        self.params = params
        self.layout = params.layout
        self.centers = mixture_centers(params.layout, params.n_modes or 8, params.radius or 1.0)
        self.std = float(params.std if params.std is not None else DEFAULT_STD[params.layout])
        n_modes = self.centers.shape[0]
        g = torch.Generator().manual_seed(params.seed)
        self.labels = torch.randint(n_modes, (params.size,), generator=g, dtype=torch.int64)
        noise = torch.randn(params.size, 2, generator=g, dtype=torch.float32)
        self.data = self.centers[self.labels] + self.std * noise
        self.sample_shape: tuple[int, ...] = (2,)
        self.num_classes: int | None = n_modes

    def __len__(self) -> int:
        return self.data.shape[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"image": self.data[index], "label": self.labels[index]}

    def stage(self, device: torch.device) -> bool:
        """Keep a copy on ``device``: :meth:`get_batch` gathers there (a few MB at most)."""
        self._staged = (self.data.to(device), self.labels.to(device))
        return True

    def get_batch(self, indices: Sequence[int] | torch.Tensor) -> dict[str, torch.Tensor]:
        data, labels = getattr(self, "_staged", None) or (self.data, self.labels)
        idx = torch.as_tensor(indices, dtype=torch.long).to(data.device, non_blocking=True)
        return {"image": data.index_select(0, idx), "label": labels.index_select(0, idx)}

    def __repr__(self) -> str:
        return (f"GaussianMixtureDataset(layout={self.layout!r}, n={len(self)}, modes={self.num_classes}, "
                f"std={self.std})")
