"""Generating images from a run's generator: a fixed-latent grid for training, any count for ``sample``."""
from __future__ import annotations

from pathlib import Path

import torch
import torchvision.utils as vutils

from gancompose.engine.context import call, is_conditional
from gancompose.errors import GancomposeError


def class_labels(num_classes: int, per_class: int, only: int | None = None) -> torch.Tensor:
    """Labels for a class grid: ``per_class`` of each class in order (one row each), or of one class."""
    if only is not None:
        return torch.full((per_class,), only, dtype=torch.long)
    return torch.arange(num_classes).repeat_interleave(per_class)


@torch.no_grad()
def generate(run, n: int, *, seed: int = 0, use_ema: bool = True, batch_size: int = 256,
             labels: torch.Tensor | None = None) -> torch.Tensor:
    """``n`` samples from the generator (its EMA copy when there is one), in eval mode, on the CPU.
    The latents come from their own generator seeded by ``seed``, so the training RNG is untouched.
    A conditional generator gets ``labels`` (default: classes in turn, 0, 1, 2, ...)."""
    name = run.generator_name()
    net = run.sampling_network(name, use_ema)
    conditional = is_conditional(net)
    if conditional and labels is None:
        labels = torch.arange(n) % run.num_classes
    if labels is not None and not conditional:
        raise GancomposeError("this generator is not class-conditional: it takes no class")
    was_training = net.training
    net.eval()
    g = torch.Generator(device="cpu").manual_seed(seed)
    out = []
    try:
        for start in range(0, n, batch_size):
            z = run.sample_latent(min(batch_size, n - start), generator=g)
            y = None if labels is None else labels[start:start + len(z)].to(run.device)
            out.append(call(net, z, y).float().cpu())
    finally:
        net.train(was_training)
    return torch.cat(out)


def to_grid_image(samples: torch.Tensor, nrow: int | None = None) -> torch.Tensor:
    """Images in [-1, 1] to one grid in [0, 1]; 2-D points to a scatter plot rendered as an image."""
    if samples.dim() == 2 and samples.shape[1] == 2:
        return scatter_image(samples)
    if samples.dim() == 2:  # flat vectors: show as square single-channel images if possible
        side = int(samples.shape[1] ** 0.5)
        samples = samples.view(-1, 1, side, side) if side * side == samples.shape[1] else samples[:, None, None, :]
    nrow = nrow or max(1, int(len(samples) ** 0.5))
    return vutils.make_grid(samples, nrow=nrow, normalize=True, value_range=(-1, 1), padding=2)


def scatter_image(points: torch.Tensor, size: int = 256, extent: float | None = None) -> torch.Tensor:
    """A white image with the 2-D points drawn black, axes centred on the origin."""
    extent = extent or max(1.0, float(points.abs().max()) * 1.1)
    img = torch.ones(3, size, size)
    xy = ((points / extent + 1) / 2 * (size - 1)).round().long()
    keep = ((xy >= 0) & (xy < size)).all(dim=1)
    xy = xy[keep]
    img[:, size // 2, :] = 0.85
    img[:, :, size // 2] = 0.85
    img[:, size - 1 - xy[:, 1], xy[:, 0]] = torch.tensor([0.1, 0.2, 0.7])[:, None]
    return img


def save_grid(samples: torch.Tensor, path: str | Path, nrow: int | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    vutils.save_image(to_grid_image(samples, nrow), str(path))
    return path
