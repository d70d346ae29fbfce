"""The CycleGAN family's command, added to the CLI through the ``register_commands`` hook:
``gancompose import cyclegan`` (an official ``latest_net_G_A.pth`` into a gancompose network file). Translating a
folder with a pair or an imported generator is the core's ``gancompose translate``: the ``cycle`` schedule declares
its directions (``CycleParams.translations``)."""
from __future__ import annotations

import click
from rich.console import Console
from rich.markup import escape

err_console = Console(stderr=True, highlight=False)


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
    err_console.print(r.summary("ResnetGenerator", f"ngf={c.ngf}, n_blocks={c.n_blocks}, norm={c.norm}, "
                                                   f"dropout={c.use_dropout}"), soft_wrap=True)
    err_console.print(f"wrote {escape(str(r.path))} (block 'resnet_generator'); translate with: gancompose translate "
                      f"{escape(str(r.path))} --input DIR --output DIR", soft_wrap=True)


def add_commands(cli: click.Group) -> None:
    cli.commands["import"].add_command(import_cyclegan)
