"""The pix2pix family's command, added to the CLI through the ``register_commands`` hook:
``gancompose import pix2pix`` (an official ``latest_net_G.pth`` into a gancompose network file). Translating a
folder with it is the core's ``gancompose translate``, which takes any image-to-image network."""
from __future__ import annotations

import click
from rich.console import Console
from rich.markup import escape

err_console = Console(stderr=True, highlight=False)


@click.command("pix2pix")
@click.argument("source", type=click.Path(dir_okay=False))
@click.option("-o", "output", required=True, help="The network file to write (.safetensors).")
@click.option("--name", default="generator", show_default=True, help="The network's name in the file.")
@click.option("--image-size", default=256, show_default=True, type=click.IntRange(min=4),
              help="Image size recorded as the network's input (a multiple of 2**levels: 256 for unet_256).")
@click.option("--no-dropout", is_flag=True, help="The generator was trained with --no_dropout (dropout leaves no "
                                                 "trace in the weights; it only acts in training mode).")
def import_pix2pix(source, output, name, image_size, no_dropout):
    """An official pix2pix UnetGenerator (latest_net_G.pth, junyanz/pytorch-CycleGAN-and-pix2pix).
    Read with torch.load(weights_only=True): no code from the file runs."""
    from gancompose_pix2pix.importer import import_pix2pix as convert
    r = convert(source, output, name=name, image_size=image_size, use_dropout=not no_dropout)
    c = r.config
    err_console.print(r.summary("UnetGenerator", f"num_downs={c.num_downs}, ngf={c.ngf}, norm={c.norm}, "
                                                 f"dropout={c.use_dropout}"), soft_wrap=True)
    err_console.print(f"wrote {escape(str(r.path))} (block 'unet_generator'); translate with: gancompose translate "
                      f"{escape(str(r.path))} --input DIR --output DIR", soft_wrap=True)


def add_commands(cli: click.Group) -> None:
    cli.commands["import"].add_command(import_pix2pix)
