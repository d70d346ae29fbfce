"""The Style family's commands, added through the ``register_commands`` hook: ``gancompose import stylegan2``
(an official StyleGAN2-ADA ``network-snapshot-*.pkl`` into a gancompose checkpoint)."""
from __future__ import annotations

import click
from rich.console import Console
from rich.markup import escape

err_console = Console(stderr=True, highlight=False)


@click.command("stylegan2")
@click.argument("source", type=click.Path(dir_okay=False))
@click.option("-o", "output", required=True, help="The checkpoint to write (.safetensors).")
@click.option("--name", help="The recipe name recorded in the checkpoint (default: the output file's stem).")
def import_stylegan2(source, output, name):
    """An official StyleGAN2-ADA snapshot (network-snapshot-*.pkl, NVlabs/stylegan2-ada-pytorch; StyleGAN3's
    stylegan2 configs too) into a checkpoint with G, D and G_ema: gancompose sample / explain / export and
    init_from read it. Read with a restricted unpickler: no code from the file runs."""
    from gancompose_style.importer import import_stylegan2 as convert
    r = convert(source, output, name=name)
    g = r.config.generator
    err_console.print(f"imported StyleGAN2 {g['image_size']}x{g['image_size']}, z {r.config.z_dim}, w {g['w_dim']}, "
                      f"{g['mapping_layers']} mapping layers, channel_base {g['channel_base']}, channel_max "
                      f"{g['channel_max']}, conv_clamp {g['conv_clamp']}"
                      + (f", {r.config.c_dim} classes" if r.config.c_dim else "")
                      + f": G {r.params['G']:,}, D {r.params['D']:,} parameters, {r.tensors} tensors", soft_wrap=True)
    err_console.print(f"wrote {escape(str(r.path))} (networks.generator, networks.discriminator, ema.generator); "
                      f"try: gancompose sample {escape(str(r.path))} --truncation 0.7", soft_wrap=True)


def add_commands(cli: click.Group) -> None:
    cli.commands["import"].add_command(import_stylegan2)
