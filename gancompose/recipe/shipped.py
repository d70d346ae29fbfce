"""Recipes that ship with the installed packages, found by name.

gancompose's own recipes (the repository's ``recipes/`` folder) install as the package ``gancompose_recipes``; a
plugin package ships its recipes in a ``recipes/`` folder inside its module (``gancompose_relativistic/recipes/``,
declared as package data). ``gancompose run NAME`` and ``gancompose explain NAME`` take such a name where a path is
expected, and ``gancompose recipes`` lists them. A path that exists always wins over a shipped name.
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

#: the package that holds gancompose's own recipes
OWN = "gancompose_recipes"


@dataclass(frozen=True)
class Shipped:
    name: str
    path: Path
    package: str  # the module that ships it


def _folder(module: str, sub: str | None) -> Path | None:
    """The folder of an importable package (``gancompose_recipes`` is a folder without ``__init__.py``), or its
    ``sub`` folder; None when there is none."""
    try:
        mod = importlib.import_module(module)
    except Exception:  # a plugin that fails to import is reported by the registry, not here
        return None
    for entry in list(getattr(mod, "__path__", None) or []):
        folder = Path(entry) / sub if sub else Path(entry)
        if folder.is_dir():
            return folder
    return None


def shipped_recipes(registry=None) -> dict[str, Shipped]:
    """Name -> recipe, gancompose's own first, then each loaded plugin's ``recipes/`` folder (a name taken
    already keeps its first owner)."""
    from gancompose.registry import default_registry
    found: dict[str, Shipped] = {}
    sources = [(OWN, None)]
    registry = registry or default_registry()
    sources += [(module, "recipes") for module in registry.modules]
    for module, sub in sources:
        folder = _folder(module, sub)
        if folder is None:
            continue
        for path in sorted(folder.glob("*.toml")):
            found.setdefault(path.stem, Shipped(path.stem, path, module))
    return found


def resolve(arg: str | Path, registry=None) -> Path:
    """The file a recipe argument names: the path itself when it exists; else a shipped recipe whose name is the
    argument (``vanilla_gan_ring``) or the argument's file stem (``recipes/vanilla_gan_ring.toml`` after a
    wheel install, where no recipes/ folder is beside you); else the path as given (which then reads as
    "recipe file not found", with the shipped names to pick from)."""
    path = Path(arg)
    if path.exists():
        return path
    text = str(arg)
    name = path.stem if text.endswith(".toml") else text
    if "/" in name or "\\" in name:
        return path
    recipe = shipped_recipes(registry).get(name)
    return recipe.path if recipe is not None else path


def describe(path: Path) -> str:
    """A recipe's one-line description (its ``description`` key, else its first comment line)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return ""
    if isinstance(raw.get("description"), str) and raw["description"]:
        return raw["description"]
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""
