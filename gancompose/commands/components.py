"""``gancompose list-components``: the registered components as a table or JSON, and how each goes with one."""
from __future__ import annotations

import json

import click
from rich.table import Table

from gancompose.commands.context import out_console, registry
from gancompose.errors import GancomposeError


def list_components(kind, as_json, target):
    reg = registry()
    comps = [c for c in reg if kind is None or c.kind == kind]
    with_ = None
    if target is not None:
        from gancompose.compatibility import relation
        from gancompose.errors import GancomposeError, did_you_mean
        t_kind, _, t_name = target.rpartition(":")
        found = [c for c in reg if c.name == t_name and (not t_kind or c.kind == t_kind)]
        if len(found) != 1:
            names = sorted({f"{c.kind}:{c.name}" for c in reg})
            raise GancomposeError(f"{target!r} names {len(found)} components" + (
                f" ({', '.join(f'{c.kind}:{c.name}' for c in found)}): give KIND:NAME" if found else ""),
                hint=did_you_mean(target, names) if not found else None)
        with_ = found[0]
        comps = [c for c in comps if c is not with_]
    if as_json:
        rows = [{**c.to_json(), **({"with": relation(c, with_, reg)} if with_ else {})} for c in comps]
        click.echo(json.dumps({"components": rows, "failures": [f.__dict__ for f in reg.failures]}, indent=2))
        return
    title = f"gancompose components ({len(comps)})" + (
        f" with {with_.kind} {with_.name!r} (requires: {', '.join(with_.requires) or 'nothing'}; "
        f"provides: {', '.join(with_.provides) or 'nothing'})" if with_ else "")
    table = Table(title=title)
    for col in ("kind", "name", "plugin", *(("with it",) if with_ else ()), "doc"):
        table.add_column(col, overflow="fold")
    for c in comps:
        table.add_row(c.kind, c.name, c.plugin, *((relation(c, with_, reg),) if with_ else ()), c.doc)
    out_console.print(table)
