"""The CycleGAN family's commands, added to the CLI through the ``register_commands`` hook:
``gancompose translate`` (a folder of images through a trained image-to-image generator) and
``gancompose import cyclegan`` (an official ``latest_net_G_A.pth`` into a gancompose network file)."""
from __future__ import annotations

import click
from rich.console import Console
from rich.markup import escape

err_console = Console(stderr=True, highlight=False)


@click.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--direction", help="AtoB or BtoA for a cycle pair (or the name of an image-to-image network of the "
                                  "recipe); not needed for a single-network file.")
@click.option("--input", "input_dir", required=True, type=click.Path(file_okay=False), help="Folder of images.")
@click.option("--output", "output_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for the translated PNGs (same relative names).")
@click.option("--size", type=click.IntRange(min=1), help="Resize inputs to SIZE x SIZE (default: the recipe's).")
@click.option("--side-by-side", is_flag=True, help="Write each input next to its translation.")
@click.option("--device", default="cpu", show_default=True, help="Device to translate on.")
def translate(checkpoint, direction, input_dir, output_dir, size, side_by_side, device):
    """Translate a folder of images with a trained image-to-image generator: a CycleGAN run's checkpoint, or a
    network file (gancompose export, gancompose import cyclegan latest_net_G_A.pth)."""
    from gancompose_cycle.translate_folder import translate_folder
    result = translate_folder(checkpoint, direction, input_dir, output_dir, size=size, device=device,
                              side_by_side=side_by_side)
    err_console.print(f"wrote {len(result.written)} images translated by {result.network} to {escape(output_dir)}, "
                      f"at {result.size}x{result.size}", soft_wrap=True)
    if result.resized:
        err_console.print(f"[yellow]note:[/] {result.resized} of the {len(result.written)} inputs were not "
                          f"{result.size}x{result.size} and were resized to it"
                          + ("" if size else " (the size the network was trained at)")
                          + "; --size N translates at another size (a ResNet generator takes any multiple of 4)",
                          soft_wrap=True)


@click.command("cyclegan")
@click.argument("source", type=click.Path(dir_okay=False))
@click.option("-o", "output", required=True, help="The network file to write (.safetensors).")
@click.option("--name", default="generator", show_default=True, help="The network's name in the file.")
@click.option("--image-size", default=256, show_default=True, type=click.IntRange(min=4),
              help="Image size recorded as the network's input (the generator is fully convolutional).")
def import_cyclegan(source, output, name, image_size):
    """An official CycleGAN ResnetGenerator (latest_net_G_A.pth, junyanz/pytorch-CycleGAN-and-pix2pix).
    Read with torch.load(weights_only=True): no code from the file runs."""
    from gancompose_cycle.importer import import_cyclegan as convert
    r = convert(source, output, name=name, image_size=image_size)
    c = r.config
    err_console.print(f"imported ResnetGenerator (ngf={c.ngf}, n_blocks={c.n_blocks}, norm={c.norm}, "
                      f"dropout={c.use_dropout}): {r.params:,} parameters, {r.tensors} tensors"
                      + (f", dropped {len(r.dropped)} stale InstanceNorm statistics" if r.dropped else "")
                      + (f"; same outputs as the official layout (max diff {r.max_abs_diff:.1e})"
                         if r.max_abs_diff is not None else ""), soft_wrap=True)
    err_console.print(f"wrote {escape(str(r.path))} (block 'resnet_generator')", soft_wrap=True)


def add_commands(cli: click.Group) -> None:
    cli.add_command(translate)
    cli.commands["import"].add_command(import_cyclegan)
