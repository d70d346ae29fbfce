"""``gancompose inspect`` and ``gancompose export``: weights files, read and written."""
from __future__ import annotations

import json

import click
from rich.markup import escape

from gancompose.commands.context import err_console, load, out_console, registry


def inspect(checkpoint, other, overrides, network, all_tensors, as_json):
    from gancompose.portable.inspect import diff_with_recipe, inspect_file
    reg = registry()
    if other is None:
        report = inspect_file(checkpoint, registry=reg)
        if as_json:
            click.echo(json.dumps(report.to_json(), indent=2))
        else:
            report.render(out_console, all_tensors=all_tensors)
        return
    diff = diff_with_recipe(checkpoint, load(other, overrides), registry=reg, network=network)
    if as_json:
        click.echo(json.dumps(diff.to_json(), indent=2))
    else:
        diff.render(out_console)


def export(checkpoint, output, network, ema, half):
    from gancompose.portable.export import export_network
    path, info = export_network(checkpoint, output, network=network, ema=ema, half=half, registry=registry())
    err_console.print(f"wrote {info.name} ({info.spec.get('type')}, {info.weights} weights, {info.dtype}) to "
                      f"{escape(str(path))}", soft_wrap=True)
