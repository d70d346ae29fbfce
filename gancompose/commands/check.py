"""``gancompose validate`` and ``gancompose explain``: a recipe built on the CPU without a data stream."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

from rich.markup import escape

from gancompose.commands.context import err_console, load, out_console


def build_for_inspection(recipe: str, overrides: tuple[str, ...]):
    """Load and build a recipe on the CPU without a data stream: what validate and explain look at."""
    import torch
    from gancompose.builder import build_run
    with optimizers_without_dynamo():
        return build_run(load(recipe, overrides), with_data=False, device=torch.device("cpu"), stand_in=True)


@contextmanager
def optimizers_without_dynamo() -> Iterator[None]:
    """Build optimizers without importing ``torch._dynamo``, about a second of CPU time, most of what validate
    costs beyond importing torch. Torch wraps ``Optimizer.add_param_group`` in a shim that imports dynamo on its
    first call, to keep dynamo from tracing it; a recipe built to be inspected is never compiled, so while it is
    built the shim calls the function directly. Afterwards the shim is as torch left it: the next optimizer built
    for training imports dynamo as usual. Where torch's shim is not the one expected, nothing is changed."""
    import torch
    fn = vars(torch.optim.Optimizer.add_param_group).get("__wrapped__")  # (functools.wraps puts it there)
    if "torch._dynamo" in sys.modules or fn is None or "__dynamo_disable" in vars(fn):
        yield
        return
    fn.__dynamo_disable = fn
    try:
        yield
    finally:
        del fn.__dynamo_disable


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
