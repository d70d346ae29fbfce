"""Generating images from a run's generator: a fixed-latent grid for training, any count for ``sample``."""
from __future__ import annotations

from pathlib import Path

import torch

from gancompose.engine.context import call, is_conditional
from gancompose.errors import GancomposeError


def class_labels(num_classes: int, per_class: int, only: int | None = None) -> torch.Tensor:
    """Labels for a class grid: ``per_class`` of each class in order (one row each), or of one class."""
    if only is not None:
        return torch.full((per_class,), only, dtype=torch.long)
    return torch.arange(num_classes).repeat_interleave(per_class)


def _truncation_kwargs(net, truncation_psi: float | None) -> dict:
    """``{"truncation_psi": psi}`` for a generator that supports the truncation trick (it sets
    ``supports_truncation = True`` and takes a ``truncation_psi`` keyword); an error for others."""
    if truncation_psi is None:
        return {}
    if not getattr(net, "supports_truncation", False):
        raise GancomposeError(f"this generator ({type(net).__name__}) does not support truncation: it keeps no "
                              f"mean latent", hint="--truncation works with style-based generators "
                                                   "(stylegan_generator, stylegan2_generator)")
    return {"truncation_psi": float(truncation_psi)}


@torch.no_grad()
def generate(run, n: int, *, seed: int = 0, use_ema: bool = True, batch_size: int = 256,
             labels: torch.Tensor | None = None, truncation_psi: float | None = None) -> torch.Tensor:
    """``n`` samples from the generator (its EMA copy when there is one), in eval mode, on the CPU.
    The latents come from their own generator seeded by ``seed``, so the training RNG is untouched.
    A conditional generator gets ``labels`` (default: classes in turn, 0, 1, 2, ...).
    ``truncation_psi`` (style-based generators only): pull w towards its tracked mean."""
    name = run.generator_name()
    net = run.sampling_network(name, use_ema)
    conditional = is_conditional(net)
    extra = _truncation_kwargs(net, truncation_psi)
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
def style_mixing_grid(run, rows: int, cols: int, *, cutoff: int | None = None, seed: int = 0, use_ema: bool = True,
                      label: int | None = None, truncation_psi: float | None = None) -> tuple[torch.Tensor, int]:
    """A style-mixing grid: the first row shows ``cols`` column sources, the first column ``rows`` row sources,
    and cell (i, j) takes the coarse styles (layers below ``cutoff``, default half of them) from row source i
    and the fine styles from column source j. Returns the images (the top-left cell blank) and the grid's
    width, ``cols + 1``. Latents: the rows' then the columns', from a generator seeded by ``seed``."""
    net = run.sampling_network(run.generator_name(), use_ema)
    if not getattr(net, "supports_style_mixing", False):
        raise GancomposeError(f"this generator ({type(net).__name__}) does not mix styles",
                              hint="--mixing works with style-based generators (stylegan_generator, "
                                   "stylegan2_generator)")
    cutoff = net.num_ws // 2 if cutoff is None else cutoff
    if not 0 <= cutoff <= net.num_ws:
        raise GancomposeError(f"--mixing-cutoff {cutoff} is out of range: this generator has {net.num_ws} style "
                              f"layers (0 to {net.num_ws})")
    psi = 1.0 if truncation_psi is None else float(truncation_psi)
    g = torch.Generator(device="cpu").manual_seed(seed)
    z_rows, z_cols = run.sample_latent(rows, generator=g), run.sample_latent(cols, generator=g)
    y = None
    if is_conditional(net):
        y = torch.full((max(rows, cols),), 0 if label is None else label, dtype=torch.long, device=run.device)
    was_training = net.training
    net.eval()
    try:
        col_imgs = net.style_mix(z_cols, z_cols, 0, None if y is None else y[:cols], psi).float().cpu()
        cells = [torch.ones_like(col_imgs[:1]), col_imgs]  # blank (white) corner
        for i in range(rows):
            zr = z_rows[i:i + 1]
            row_src = net.style_mix(zr, zr, 0, None if y is None else y[:1], psi).float().cpu()
            mixed = net.style_mix(zr.expand(cols, -1), z_cols, cutoff, None if y is None else y[:cols], psi)
            cells += [row_src, mixed.float().cpu()]
    finally:
        net.train(was_training)
    return torch.cat(cells), cols + 1


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
