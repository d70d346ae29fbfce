"""``gancompose data download`` and ``gancompose data prepare``: a dataset's own download or preparation."""
from __future__ import annotations

from pathlib import Path

from rich.markup import escape

from gancompose.commands.context import err_console, registry


def dataset_that_can(name: str, action: str, missing: str):
    """The dataset factory ``name`` if it has the method ``action`` (download, prepare); else one clear error
    listing the datasets that have it."""
    from gancompose.errors import DataError, did_you_mean
    reg = registry()
    from gancompose.protocols import Dataset, implements

    def can(factory) -> bool:
        return isinstance(factory, type) and issubclass(factory, Dataset) and implements(factory, action, Dataset)
    comp = reg.get("dataset", name)
    if not can(comp.factory):
        able = [c.name for c in reg.of_kind("dataset") if can(c.factory)]
        raise DataError(f"dataset {name!r} {missing}", hint=did_you_mean(name, able))
    return comp.factory


def download(name, root, mirror):
    dataset_that_can(name, "download", "has nothing to download").download(Path(root), mirror=mirror)
    err_console.print(f"[green]ok[/]: {name} is in {escape(root)}", soft_wrap=True)


def prepare(name, archive, root):
    folder = dataset_that_can(name, "prepare", "has no archive to prepare").prepare(Path(root), Path(archive))
    err_console.print(f"[green]ok[/]: {name} is in {escape(str(folder))}", soft_wrap=True)
