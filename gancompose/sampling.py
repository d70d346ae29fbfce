"""Generating images from a run's generator: a fixed-latent grid for training, any count for ``sample``, and the
base of the options a plugin adds to ``gancompose sample`` (:class:`SampleOption`)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from gancompose.engine.context import call, is_conditional
from gancompose.errors import GancomposeError


def class_labels(num_classes: int, per_class: int, only: int | None = None) -> torch.Tensor:
    """Labels for a class grid: ``per_class`` of each class in order (one row each), or of one class."""
    if only is not None:
        return torch.full((per_class,), only, dtype=torch.long)
    return torch.arange(num_classes).repeat_interleave(per_class)


@dataclass
class Grid:
    """A grid a :class:`SampleOption` writes instead of the ``-n`` samples: the images, in rows of ``nrow``, and
    what the CLI says it wrote (``"a 2x3 style-mixing grid"``)."""
    images: torch.Tensor
    nrow: int
    what: str


class SampleOption:
    """An option a plugin adds to ``gancompose sample`` (the ``register_sample_options`` hook).

    ``options`` are its click options (``click.Option(["--my-option"], ...)``); the values of every plugin's
    options reach :meth:`forward_kwargs` and :meth:`grid` as ``values``, keyed by the options' parameter names
    (None where not given). Both methods have defaults that do nothing, so an option overrides what it needs.
    """
    #: the click options added to ``gancompose sample``
    options: tuple = ()

    def forward_kwargs(self, net, values: dict) -> dict:
        """Keyword arguments every forward of the generator ``net`` gets while sampling (e.g. a truncation).
        Raise :class:`gancompose.GancomposeError` for a generator the given values cannot act on."""
        return {}

    def grid(self, run, values: dict, *, seed: int, use_ema: bool, label: int | None, per_class: int | None,
             forward_kwargs: dict) -> Grid | None:
        """A grid of its own written instead of the ``-n`` samples (e.g. a style-mixing grid), or None when its
        options were not given. ``forward_kwargs``: what every option's :meth:`forward_kwargs` returned."""
        return None


@torch.no_grad()
def generate(run, n: int, *, seed: int = 0, use_ema: bool = True, batch_size: int = 256,
             labels: torch.Tensor | None = None, forward_kwargs: dict | None = None) -> torch.Tensor:
    """``n`` samples from the generator (its EMA copy when there is one), in eval mode, on the CPU.
    The latents come from their own generator seeded by ``seed``, so the training RNG is untouched.
    A conditional generator gets ``labels`` (default: classes in turn, 0, 1, 2, ...).
    ``forward_kwargs``: keyword arguments of every forward (what a plugin's :class:`SampleOption` asks for)."""
    name = run.generator_name()
    net = run.sampling_network(name, use_ema)
    conditional = is_conditional(net)
    extra = dict(forward_kwargs or {})
    if conditional and labels is None:
        labels = torch.arange(n) % run.num_classes
    if labels is not None and not conditional:
        raise GancomposeError("this generator is not class-conditional: it takes no class")
    was_training = net.training
    net.eval()
    g = torch.Generator(device="cpu").manual_seed(seed)
    out = []
    # a generator that draws inside its forward (StyleGAN's noise inputs) must not move the training RNG:
    # those draws come from a forked RNG seeded by ``seed`` too
    try:
        with torch.random.fork_rng(devices=[run.device] if run.device.type == "cuda" else []):
            torch.manual_seed(seed)
            for start in range(0, n, batch_size):
                z = run.sample_latent(min(batch_size, n - start), generator=g)
                y = None if labels is None else labels[start:start + len(z)].to(run.device)
                x = (net(z, y, **extra) if y is not None else net(z, **extra)) if extra else call(net, z, y)
                out.append(x.float().cpu())
    finally:
        net.train(was_training)
    return torch.cat(out)


@torch.no_grad()
def translate_images(net: torch.nn.Module, images: torch.Tensor, device: torch.device,
                     batch_size: int = 8) -> torch.Tensor:
    """An image-to-image ``net`` applied to ``images`` (in [-1, 1]) in eval mode, batch by batch; the result on the
    CPU (the translation grids and metrics of image-to-image families)."""
    was_training = net.training
    net.eval()
    try:
        return torch.cat([net(images[i:i + batch_size].to(device)).float().cpu()
                          for i in range(0, len(images), batch_size)])
    finally:
        net.train(was_training)


def to_grid_image(samples: torch.Tensor, nrow: int | None = None) -> torch.Tensor:
    """Images in [-1, 1] to one grid in [0, 1]; 2-D points to a scatter plot rendered as an image."""
    if samples.dim() == 2 and samples.shape[1] == 2:
        return scatter_image(samples)
    if samples.dim() == 2:  # flat vectors: show as square single-channel images if possible
        side = int(samples.shape[1] ** 0.5)
        samples = samples.view(-1, 1, side, side) if side * side == samples.shape[1] else samples[:, None, None, :]
    nrow = nrow or max(1, int(len(samples) ** 0.5))
    import torchvision.utils as vutils  # here, not at import: torchvision's import costs seconds (dynamo)
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


#: the image files a grid can be written as
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def grid_path(output: str | Path, default_name: str = "samples.png") -> Path:
    """Where ``-o OUTPUT`` writes a grid: a folder (existing, or written with a trailing slash) gets
    ``samples.png`` inside it; a file must end in a supported image extension."""
    text = str(output)
    path = Path(output)
    if text.endswith(("/", "\\")) or path.is_dir():
        return path / default_name
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise GancomposeError(f"-o {text}: {'unknown image extension ' + repr(path.suffix) if path.suffix else 'no image extension'}",
                              hint=f"supported: {', '.join(IMAGE_EXTENSIONS)} (or a folder, which gets {default_name})")
    return path


def check_finite_samples(samples: torch.Tensor, run=None, use_ema: bool = True) -> None:
    """Refuse to write samples holding NaN or Inf (an all-NaN grid is no result), naming the generator's
    non-finite weights when there are any."""
    if bool(torch.isfinite(samples).all()):
        return
    where = ""
    if run is not None:
        from gancompose.checkpoint import describe_nonfinite, nonfinite
        net = run.sampling_network(run.generator_name(), use_ema)
        bad = nonfinite(dict(net.state_dict()))
        if bad:
            where = f"; the generator's weights hold NaN/Inf: {describe_nonfinite(bad)}"
    raise GancomposeError(f"the generated samples hold NaN or Inf values{where}; nothing was written",
                          hint="this checkpoint's generator is broken (a diverged run): sample an earlier checkpoint")


def save_grid(samples: torch.Tensor, path: str | Path, nrow: int | None = None) -> Path:
    path = Path(path)
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise GancomposeError(f"{path}: unknown image extension {path.suffix!r}",
                              hint=f"supported: {', '.join(IMAGE_EXTENSIONS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    import torchvision.utils as vutils
    vutils.save_image(to_grid_image(samples, nrow), str(path))
    return path
