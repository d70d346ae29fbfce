"""``gancompose recipes`` and ``gancompose recipes copy``: the shipped recipes, their data, editable copies."""
from __future__ import annotations

import json
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from gancompose.commands.context import out_console, registry
from gancompose.errors import GancomposeError


def list_recipes(ctx, as_json):
    if ctx.invoked_subcommand is not None:
        return
    from gancompose.data import DatasetParams
    from gancompose.recipe import load_recipe
    from gancompose.recipe.shipped import describe, shipped_recipes
    reg = registry()
    rows = []
    for name, shipped in shipped_recipes(reg).items():
        try:
            recipe = load_recipe(shipped.path, registry=reg)
        except GancomposeError as exc:
            rows.append((name, shipped.package, describe(shipped.path), "-", f"invalid here: {exc.message}"))
            continue
        if isinstance(recipe.data, DatasetParams):  # data on disk: is it there?
            missing = recipe.data.missing()
            status = "ready" if missing is None else f"needs data: {missing}"
        else:
            status = "generated (no download)"
        data = recipe.data
        rows.append((name, shipped.package, describe(shipped.path), data.type, status))
    if as_json:
        click.echo(json.dumps([dict(zip(("name", "package", "description", "data", "status"), r)) for r in rows],
                              indent=2))
        return
    from rich.table import Table
    table = Table(title="recipes (gancompose run NAME; gancompose recipes copy NAME to edit one)")
    for col in ("name", "what it trains", "data", "status"):
        table.add_column(col, overflow="fold")
    for name, package, text, data, status in rows:
        table.add_row(name + ("" if package == "gancompose_recipes" else f" ({package})"), text, data, status)
    out_console.print(table)


def copy_recipe(name, dest, force):
    from pathlib import Path
    from gancompose.errors import did_you_mean
    from gancompose.recipe.load import load_raw
    from gancompose.recipe.shipped import shipped_recipes
    shipped = shipped_recipes(registry())
    if name not in shipped:
        raise GancomposeError(f"no shipped recipe named {name!r}", hint=did_you_mean(name, list(shipped)))
    target = Path(dest) if dest else Path(f"{name}.toml")
    if target.is_dir() or (dest and dest.endswith(("/", "\\"))):
        target = target / f"{name}.toml"
    load_raw(shipped[name].path)  # readable, extends resolved
    copies = [(shipped[name].path, target)]
    source, text = shipped[name].path, shipped[name].path.read_text(encoding="utf-8")
    from gancompose.recipe.load import tomllib
    parent = tomllib.loads(text).get("extends")
    while isinstance(parent, str):  # the recipes it extends, as files beside it, so the copy stands alone
        source = (source.parent / parent)
        copies.append((source, target.parent / parent))
        parent = tomllib.loads(source.read_text(encoding="utf-8")).get("extends")
    for src, dst in copies:
        if dst.exists() and not force:
            raise GancomposeError(f"{dst} exists", hint="pass --force to overwrite it, or give another DEST")
    for src, dst in copies:
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".tmp")
        tmp.write_bytes(src.read_bytes())
        tmp.replace(dst)
        out_console.print(f"wrote {escape(str(dst))}" + ("" if src == copies[0][0] else " (extended by it)"))
    out_console.print(f"edit it, then: gancompose run {escape(str(target))}", soft_wrap=True)
