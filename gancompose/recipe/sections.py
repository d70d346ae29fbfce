"""The fixed sections of a recipe: everything that is not a pluggable component."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, NonNegativeInt


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LatentSpec(Section):
    """The generator's latent input."""
    dim: PositiveInt = Field(100, description="length of the latent vector z")
    distribution: Literal["normal", "uniform"] = Field("normal", description="N(0, 1) or U(-1, 1)")


class EMASpec(Section):
    """An exponential moving average of a network's weights, used for sampling when present."""
    network: str = Field("generator", description="the network to average")
    decay: float = Field(0.999, gt=0.0, lt=1.0, description="weight of the old average per step")
    start_step: NonNegativeInt = Field(0, description="copy the weights until this step, then average")


class TrainSpec(Section):
    """How long and how the one training loop runs."""
    steps: PositiveInt = Field(1000, description="training steps (one step = one pass over the schedule's phases)")
    batch_size: PositiveInt = Field(64, description="images per batch")
    device: str = Field("auto", description="'auto' (CUDA when present), 'cpu', 'cuda', 'cuda:1', ...")
    seed: int = Field(0, description="seeds torch and the data order; a CPU run is reproducible")
    num_workers: NonNegativeInt = Field(0, description="DataLoader worker processes")
    log_every: PositiveInt = Field(10, description="steps between metrics.jsonl lines")
    sample_every: NonNegativeInt = Field(500, description="steps between sample grids (0: only at the end)")
    samples: PositiveInt = Field(64, description="images in a sample grid")
    checkpoint_every: NonNegativeInt = Field(1000, description="steps between checkpoints (0: only at the end)")
    keep_checkpoints: PositiveInt = Field(3, description="step checkpoints kept besides last.safetensors")
    output_dir: str = Field("runs", description="run folders go to OUTPUT_DIR/RECIPE_NAME/")
    ema: EMASpec | None = Field(None, description="keep an EMA copy of a network")
