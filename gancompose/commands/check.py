"""``gancompose validate`` and ``gancompose explain``: a recipe built on the CPU without a data stream."""
from __future__ import annotations

import sys
import types
from contextlib import contextmanager
from typing import Iterator

from rich.markup import escape

from gancompose.commands.context import err_console, load, out_console


def build_for_inspection(recipe: str, overrides: tuple[str, ...]):
    """Load and build a recipe on the CPU without a data stream: what validate and explain look at."""
    import torch
    from gancompose.builder import build_run
    with without_dynamo():
        return build_run(load(recipe, overrides), with_data=False, device=torch.device("cpu"), stand_in=True)


@contextmanager
def without_dynamo() -> Iterator[None]:
    """Build a recipe to be inspected without importing ``torch._dynamo``: about a second of CPU, which was most of
    what validate cost beyond importing torch. Torch wraps some of its functions in a shim that imports dynamo on
    their first call only to mark them as never to be traced by it: ``Optimizer.add_param_group``, and the Python
    meta kernels that building a network on the meta device runs (the size check before a network is built:
    gancompose/builder/networks.py). A recipe built to be inspected is never compiled. While it is built,
    ``import torch._dynamo`` finds a stand-in whose ``disable(fn)`` is ``fn`` itself, which each shim keeps on its
    function; afterwards the stand-in and what the shims kept are removed, so the next call imports dynamo as torch
    means it to. Anything else asked of the stand-in imports the real module (nothing is faked beyond ``disable``)."""
    import torch
    if "torch._dynamo" in sys.modules:
        yield
        return
    stand_in = _DynamoStandIn()
    sys.modules["torch._dynamo"] = torch._dynamo = stand_in  # type: ignore[attr-defined]
    try:
        yield
    finally:
        stand_in.withdraw()
        for fn in stand_in.disabled:
            try:
                kept = vars(fn)
            except TypeError:  # a builtin: nothing was kept on it
                continue
            if kept.get("__dynamo_disable") is fn:
                del kept["__dynamo_disable"]


class _DynamoStandIn(types.ModuleType):
    """``torch._dynamo`` while :func:`without_dynamo` builds: ``disable`` only, the real module for the rest."""

    def __init__(self) -> None:
        super().__init__("torch._dynamo")
        self.disabled: list = []

    def disable(self, fn=None, recursive: bool = True, **_):
        if fn is None:  # @disable(recursive=...)
            return self.disable
        self.disabled.append(fn)
        return fn

    def withdraw(self) -> None:
        """Out of ``sys.modules`` and off ``torch`` (where it is still there): the next import is the real one."""
        import torch
        if sys.modules.get("torch._dynamo") is self:
            del sys.modules["torch._dynamo"]
        if vars(torch).get("_dynamo") is self:
            del torch._dynamo  # type: ignore[attr-defined]

    def __getattr__(self, name: str):
        import importlib
        self.withdraw()
        return getattr(importlib.import_module("torch._dynamo"), name)


def say_what_is_missing(run_) -> None:
    """One line when the networks were built on the data's declared shape because its files are not there yet."""
    from gancompose.data import DataStandIn
    if isinstance(run_.dataset, DataStandIn) and run_.dataset.missing is not None:
        missing = run_.dataset.missing
        err_console.print(f"[yellow]data not there yet[/] (built on the shape its parameters declare): "
                          f"{escape(missing.message)}" + (f"; {escape(missing.hint)}" if missing.hint else ""),
                          soft_wrap=True)
    for error in run_.missing_weights.values():  # init_from files to make first: shown, run refuses them
        err_console.print(f"[yellow]weights not there yet[/] (the network keeps its initial weights here): "
                          f"{escape(error.key)}: {escape(error.message)}"
                          + (f"; {escape(error.hint)}" if error.hint else ""), soft_wrap=True)


def validate(recipe, overrides):
    run_ = build_for_inspection(recipe, overrides)
    nets = ", ".join(f"{n} ({rep.params:,} params)" for n, rep in run_.reports.items())
    out_console.print(f"[green]ok[/]: {escape(recipe)}: {nets}", soft_wrap=True)
    say_what_is_missing(run_)
    if run_.init_reports:  # networks with init_from: what would load
        from gancompose.builder.init_from import print_reports
        print_reports(run_.init_reports, err_console)


def explain(recipe, overrides):
    from gancompose.commands.explain import render_explanation
    run_ = build_for_inspection(recipe, overrides)
    render_explanation(run_, out_console)
    say_what_is_missing(run_)
