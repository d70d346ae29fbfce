"""``gancompose translate``: run a trained image-to-image generator over a folder of images.

The checkpoint's recipe says which generator goes which way: a schedule's parameters declare their directions
(:meth:`gancompose.engine.ScheduleParams.translations`, e.g. ``{"AtoB": "G_AB", "BtoA": "G_BA"}`` for a pair of
generators); any network that takes images (``input = "data"``) and returns images of the same shape can also be
named directly. A single-network file (``gancompose export``, or a plugin's ``gancompose import``) translates with
its one network. Images are resized to the recipe's image size (or ``size``), translated in eval mode (or, with
``train_mode``, one at a time in training mode, batch statistics and dropout active, as some reference test
scripts run) and written as PNG files named as their inputs.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from gancompose.data.images import IMAGE_EXTENSIONS, load_image, scan_images, to_unit_range
from gancompose.engine.phases import translations
from gancompose.errors import GancomposeError, did_you_mean


def translate(checkpoint, direction, input_dir, output_dir, size, side_by_side, train_mode, seed, device) -> None:
    """The command: translate, then say what was written (and how many inputs were resized)."""
    from rich.markup import escape

    from gancompose.commands.context import err_console
    result = translate_folder(checkpoint, direction, input_dir, output_dir, size=size, device=device,
                              side_by_side=side_by_side, train_mode=train_mode, seed=seed)
    mode = " in training mode" if train_mode else ""
    err_console.print(f"wrote {len(result.written)} images translated by {result.network}{mode} to "
                      f"{escape(str(output_dir))}, at {result.size}x{result.size}", soft_wrap=True)
    if result.resized:
        err_console.print(f"[yellow]note:[/] {result.resized} of the {len(result.written)} inputs were not "
                          f"{result.size}x{result.size} and were resized to it"
                          + ("" if size else " (the size the network was trained at)")
                          + "; --size N translates at another size", soft_wrap=True)


def pick_network(run, direction: str) -> str:
    named = translations(run.recipe.schedule)
    if direction in named:
        return named[direction]
    image_nets = [n for n, s in run.recipe.networks.items() if s.input == "data"
                  and tuple(run.reports[n].out_shape) == tuple(run.reports[n].in_shape)]
    if direction in image_nets:
        return direction
    if not named and not image_nets:
        raise GancomposeError("this checkpoint has no image-to-image network to translate with (its generator "
                              "takes latents: use gancompose sample)")
    raise GancomposeError(f"unknown direction {direction!r}", hint=did_you_mean(direction, [*named, *image_nets]))


def image_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise GancomposeError(f"input folder not found: {folder}")
    files = scan_images(folder)
    if not files:
        raise GancomposeError(f"no images ({' '.join(IMAGE_EXTENSIONS)}) under {folder}")
    return files


@dataclass
class TranslateResult:
    network: str
    written: list[Path]
    #: the square size the images were translated at, and how many inputs had another size (resized to it)
    size: int = 0
    resized: int = 0


def _network(checkpoint: str | Path, direction: str | None, device: str) -> tuple[str, torch.nn.Module, tuple]:
    """(name, module in eval mode, input shape) of the translating network of a run checkpoint or of a
    single-network file (``gancompose export`` / a plugin's ``gancompose import``)."""
    from gancompose.weights_file import WeightsFile
    if WeightsFile(checkpoint).kind == "network":
        from gancompose.portable.load import load_generator
        net = load_generator(checkpoint, device=device)
        info = net.gancompose
        if direction not in (None, info.name):
            raise GancomposeError(f"{checkpoint} holds one network, {info.name!r}: it translates one way only",
                                  hint="leave out --direction")
        if info.latent is not None:
            raise GancomposeError(f"network {info.name!r} takes latents, not images: use gancompose sample")
        return info.name, net, tuple(info.input_shape)
    from gancompose.runner import load_for_sampling
    run = load_for_sampling(checkpoint, device=device)
    if direction is None:
        names = translations(run.recipe.schedule)
        raise GancomposeError("--direction is needed for a run checkpoint",
                              hint=f"use {' or '.join(names)}" if names else None)
    name = pick_network(run, direction)
    return name, run.sampling_network(name).eval(), tuple(run.reports[name].in_shape)


@torch.no_grad()
def translate_folder(checkpoint: str | Path, direction: str | None, input_dir: str | Path, output_dir: str | Path, *,
                     size: int | None = None, device: str = "cpu", batch_size: int = 8,
                     side_by_side: bool = False, train_mode: bool = False, seed: int = 0) -> TranslateResult:
    """Translate every image under ``input_dir`` with the checkpoint's ``direction`` generator and write
    ``output_dir/<relative path>.png`` (with ``side_by_side``: input and output next to each other).

    ``train_mode`` runs the network as a training step would, one image at a time: batch normalization uses the
    image's own statistics and dropout is active (drawn from ``seed``), as reference image-to-image test
    scripts do unless given ``--eval``."""
    name, net, in_shape = _network(checkpoint, direction, device)
    if train_mode:
        net.train()
        batch_size = 1  # a batch's statistics would mix the images: one at a time, as the reference test scripts
    device_ = next(net.parameters()).device
    with torch.random.fork_rng(devices=[device_] if device_.type == "cuda" else []):
        torch.manual_seed(seed)
        return _translate_files(name, net, in_shape, device_, input_dir, output_dir, size, batch_size, side_by_side)


def _translate_files(name, net, in_shape, device_, input_dir, output_dir, size, batch_size,
                     side_by_side) -> TranslateResult:
    channels, height = in_shape[0], in_shape[1]
    size = size or height
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    files = image_files(input_dir)
    import torchvision.utils as vutils  # here: torchvision's import costs seconds
    written: list[Path] = []
    resized = 0
    for start in range(0, len(files), batch_size):
        chunk = files[start:start + batch_size]
        resized += sum(_size_of(f) != (size, size) for f in chunk)
        x = to_unit_range(torch.stack([load_image(f, channels, (size, size)) for f in chunk])).to(device_)
        try:
            y = net(x).float().cpu()
        except RuntimeError as exc:
            raise GancomposeError(f"the {name!r} network cannot take {size}x{size} images: {str(exc).splitlines()[0]}",
                                  hint="pass --size with a size it takes (a fully convolutional generator takes "
                                       "multiples of its downsampling factor)") from None
        for f, src, out in zip(chunk, x.cpu(), y):
            dest = (output_dir / f.relative_to(input_dir)).with_suffix(".png")
            dest.parent.mkdir(parents=True, exist_ok=True)
            img = torch.stack([src, out]) if side_by_side else out[None]
            vutils.save_image(img, dest, nrow=2, padding=0, normalize=True, value_range=(-1, 1))
            written.append(dest)
    return TranslateResult(name, written, size, resized)


def _size_of(path: Path) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding it."""
    from PIL import Image
    with Image.open(path) as img:
        return img.size
