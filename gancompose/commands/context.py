"""What every command shares: the two consoles, the registry (its plugin failures and warnings printed once per
command) and a recipe argument loaded with its ``--set`` overrides."""
from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from gancompose.registry import default_registry

#: messages, progress and errors go to stderr; tables and JSON (what a script reads) to stdout
err_console = Console(stderr=True, highlight=False)
out_console = Console(highlight=False)


def registry():
    """The registry of the installed plugins, after saying which failed to load and what loading worked around."""
    reg = default_registry()
    for f in reg.failures:
        err_console.print(f"[yellow]warning:[/] plugin {f.plugin!r} failed ({f.stage}): {escape(f.error)}")
    for line in reg.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(line)}", soft_wrap=True)
    return reg


def load(recipe: str, overrides: tuple[str, ...]):
    """The recipe a command argument names (a file or a shipped recipe's name), with ``--set`` overrides."""
    from gancompose.recipe import load_recipe
    return load_recipe(recipe, overrides, registry=registry())
