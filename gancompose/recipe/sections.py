"""The fixed sections of a recipe: everything that is not a pluggable component."""
from __future__ import annotations

from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, NonNegativeInt


#: the largest batch a recipe may ask for (2**20: far beyond any GPU's memory for an image batch)
MAX_BATCH = 2 ** 20
#: the most images in a sample grid or points in a scatter plot (``train.samples``, ``gancompose sample -n``)
MAX_SAMPLES = 65_536


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
    half_life_images: float | None = Field(None, gt=0, description="instead of decay: the average's half-life "
                                           "in images, decay = 0.5 ** (batch_size / half_life_images) "
                                           "(a half-life in thousands of images is x 1000)")
    rampup: float | None = Field(None, gt=0, description="with half_life_images: use at most rampup x images "
                                 "seen as the half-life (a ramp-up of the average early in training, e.g. 0.05)")


class TrainSpec(Section):
    """How long and how the one training loop runs."""
    steps: PositiveInt = Field(1000, description="training steps (one step = one pass over the schedule's phases)")
    epochs: PositiveInt | None = Field(None, description="train for this many passes over the data instead of a "
                                                         "number of steps: steps = epochs x batches per epoch, "
                                                         "and train.steps is ignored")
    batch_size: PositiveInt = Field(64, le=MAX_BATCH, description=f"images per batch (at most {MAX_BATCH:,})")
    device: str = Field("auto", description="'auto' (CUDA when present), 'cpu', 'cuda', 'cuda:1', ...")
    seed: int = Field(0, description="seeds torch and the data order; a CPU run is reproducible")
    num_workers: NonNegativeInt = Field(0, description="DataLoader worker processes")
    log_every: PositiveInt = Field(10, description="steps between metrics.jsonl lines")
    sample_every: NonNegativeInt = Field(500, description="steps between sample grids (0: only at the end)")
    samples: PositiveInt = Field(64, le=MAX_SAMPLES, description=f"images in a sample grid (at most {MAX_SAMPLES:,})")
    checkpoint_every: NonNegativeInt = Field(1000, description="steps between checkpoints (0: only at the end)")
    keep_checkpoints: PositiveInt = Field(3, description="step checkpoints kept besides last.safetensors")
    output_dir: str = Field("runs", description="run folders go to OUTPUT_DIR/RECIPE_NAME/")
    ema: EMASpec | None = Field(None, description="keep an EMA copy of a network")
    tensorboard: bool = Field(False, description="also log losses, learning rates, metrics and sample grids to "
                                                 "TensorBoard event files in RUN/tensorboard/ (needs "
                                                 "pip install \"gancompose[tensorboard]\"; or gancompose run "
                                                 "--tensorboard)")
    on_nan: Literal["stop", "skip", "rollback"] = Field(
        "stop", description="a non-finite (NaN/Inf) loss or gradient: 'stop' (keep the last good checkpoint and "
                            "exit naming the step and the loss; checked every log_every steps, on the device), "
                            "'skip' (drop that optimizer step and count it; checked every step, one host sync "
                            "each) or 'rollback' (reload the last good checkpoint with the rates x rollback_lr_factor)")
    rollback_lr_factor: float = Field(0.5, gt=0.0, le=1.0, description="with on_nan = 'rollback': multiply the "
                                      "learning rates by this at each rollback")
    max_rollbacks: PositiveInt = Field(3, description="with on_nan = 'rollback': stop after this many rollbacks")
    max_loss: float = Field(1e9, ge=0, description="a step whose total loss is larger than this in absolute value "
                            "is a numerical fault, handled as on_nan says, like a NaN (a diverging run whose "
                            "losses stay finite); 0: no bound")


class PerformanceSpec(Section):
    """How the loop runs on the device: numeric precision, memory layout, optimizer kernels, compilation.
    Nothing here changes what is trained, only how fast; ``"auto"`` picks per device (docs/performance.md):
    on CUDA TF32 matmuls and convolutions, bf16 autocast, channels_last and fused Adam; on the CPU plain fp32."""
    precision: Literal["auto", "fp32", "tf32", "bf16"] = Field(
        "auto", description="'fp32' (exact float32), 'tf32' (float32 storage, TF32 tensor-core matmuls and "
                            "convolutions on CUDA), 'bf16' (TF32 plus bfloat16 autocast of the forward passes), "
                            "'auto' (bf16 on CUDA, fp32 on the CPU)")
    channels_last: Union[Literal["auto"], bool] = Field(
        "auto", description="store 4-D weights and images channels-last (NHWC); 'auto': on CUDA")
    fused_optimizers: Union[Literal["auto"], bool] = Field(
        "auto", description="fused optimizer kernels (Adam, AdamW, SGD: one kernel for all parameters); "
                            "'auto': on CUDA, for the optimizers that have them")
    cudnn_benchmark: Union[Literal["auto"], bool] = Field(
        "auto", description="let cuDNN time its convolution algorithms for each new shape and keep the fastest; "
                            "'auto': on CUDA")
    compile: bool = Field(False, description="torch.compile each network; a penalty's call (input a leaf that "
                                             "requires grad) runs eager, and a network that fails to compile or "
                                             "to differentiate compiled runs eager again, with one logged line")
    compile_mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] = Field(
        "default", description="torch.compile's mode")
    compile_backend: str = Field("inductor", description="torch.compile's backend (torch._dynamo.list_backends())")
    cuda_graphs: bool = Field(False, description="replay each compiled network's kernels as CUDA graphs "
                                                 "(compile mode 'reduce-overhead'; implies compile on CUDA, no "
                                                 "effect elsewhere): for small, launch-bound steps with static "
                                                 "shapes, e.g. image-to-image training at batch 1")
