"""Evaluating a checkpoint after training: ``gancompose eval CKPT --metric NAME ...``.

The run is rebuilt from the checkpoint alone (its recipe is in the metadata), its training data rebuilt
from the recipe's ``[data]`` (metrics that compare with real samples need it; one that does not, such as
the Inception Score, still runs when the data is absent), and each metric is built exactly as a
``[[metrics]]`` entry would be: the recipe's own entry of that type gives the defaults, ``NAME:key=value``
and the command's options override them. Results are appended to ``RUN_DIR/eval.jsonl`` when the checkpoint
lives in a run folder.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import torch
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from gancompose.commands.context import out_console, registry
from gancompose.errors import GancomposeError, RecipeError
from gancompose.registry import Registry, default_registry


@dataclass
class EvalResult:
    checkpoint: Path
    step: int
    results: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    run_dir: Path | None = None

    def to_json(self) -> dict[str, Any]:
        return {"checkpoint": str(self.checkpoint), "step": self.step, "metrics": self.results,
                "seconds": self.seconds}


def parse_metric(text: str) -> tuple[str, dict[str, Any]]:
    """``"fid"`` or ``"fid:features='classifier',samples=2000"`` (TOML values) -> (name, overrides)."""
    name, _, rest = text.partition(":")
    name = name.strip()
    if not rest.strip():
        return name, {}
    try:
        return name, tomllib.loads(f"x = {{{rest}}}")["x"]
    except tomllib.TOMLDecodeError as exc:
        raise GancomposeError(f"cannot read the metric's parameters {rest!r}: {exc}",
                              hint="write NAME:key=value,key=value with TOML values, e.g. "
                                   "fid:features=\"classifier\",samples=2000") from None


def build_metric(run, registry: Registry, name: str, overrides: dict[str, Any], *, samples: int | None = None,
                 feature_weights: str | None = None):
    """The metric object: the recipe's ``[[metrics]]`` entry of this type (if any), then ``overrides``, then
    ``samples`` / ``feature_weights`` where the metric has such a parameter."""
    comp = registry.get("metric", name)
    base: dict[str, Any] = {}
    for spec in run.recipe.metrics:
        if spec.type == name:
            base = spec.model_dump(exclude={"type", "every"}, exclude_unset=True)
    fields = comp.params.model_fields
    if samples is not None and "samples" in fields:
        base["samples"] = samples
    if feature_weights is not None and "feature_weights" in fields:
        base["feature_weights"] = str(feature_weights)
    base.update(overrides)
    try:
        params = comp.params.model_validate(base)
    except ValidationError as exc:
        e = exc.errors()[0]
        raise RecipeError(f"metric {name!r}: {e['msg']}", key=[name, *e["loc"]],
                          hint=f"parameters: {', '.join(fields)}") from None
    try:
        return comp.factory(params)
    except RecipeError as exc:
        raise exc.under([name]) from None


def attach_data(run, registry: Registry) -> None:
    """Give a run rebuilt for sampling its training data, when it can be built here; else its stand-in keeps
    the reason (``run.dataset.missing``), which a metric that needs the data raises."""
    from gancompose.builder.run import build_dataset
    try:
        run.dataset = build_dataset(run.recipe, registry)
    except GancomposeError as exc:
        run.dataset.missing = exc


def evaluate_checkpoint(path: str | Path, metrics: list[str], *, samples: int | None = None,
                        feature_weights: str | None = None, device: str = "cpu",
                        registry: Registry | None = None, log: bool = True) -> EvalResult:
    from gancompose.checkpoint import Checkpoint, require_finite
    from gancompose.rundir import run_dir_of_checkpoint
    from gancompose.runner import load_for_sampling
    if not metrics:
        raise GancomposeError("no metric asked for", hint="give --metric NAME (gancompose list-components "
                                                          "--kind metric lists them)")
    registry = registry or default_registry()
    path = Path(path)
    run = load_for_sampling(path, device=device, registry=registry)
    require_finite({f"{prefix}.{name}.{k}": v for prefix, nets in (("networks", run.networks), ("ema", run.ema))
                    for name, net in nets.items() for k, v in net.state_dict().items()}, path,
                   "its measures would be NaN", hint="evaluate an earlier checkpoint of the run")
    run.state.step = int(Checkpoint(path).counters()[0])
    run.run_dir = run_dir_of_checkpoint(path)
    attach_data(run, registry)
    built = [(text, build_metric(run, registry, *parse_metric(text), samples=samples,
                                 feature_weights=feature_weights)) for text in metrics]
    result = EvalResult(path, run.state.step, run_dir=run.run_dir)
    for text, fn in built:
        name = parse_metric(text)[0]
        t = time.perf_counter()
        with torch.random.fork_rng(devices=[run.device] if run.device.type == "cuda" else []):
            result.results[name] = {k: float(v) for k, v in fn(run).items()}
        result.seconds[name] = time.perf_counter() - t
    if log and run.run_dir is not None:
        with (run.run_dir / "eval.jsonl").open("a") as fh:
            fh.write(json.dumps({**result.to_json(), "time": time.strftime("%Y-%m-%d %H:%M:%S")}) + "\n")
    return result


__all__ = ["evaluate_checkpoint", "EvalResult", "parse_metric", "build_metric"]


def eval_command(checkpoint, metrics, feature_weights, samples, device, as_json):
    """``gancompose eval``: the metrics as a table, or JSON."""
    result = evaluate_checkpoint(checkpoint, list(metrics), samples=samples, feature_weights=feature_weights,
                                 device=device, registry=registry())
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    table = Table(title=f"{escape(str(checkpoint))} (step {result.step})")
    for col in ("metric", "value", "seconds"):
        table.add_column(col)
    for name, values in result.results.items():
        for k, v in values.items():
            table.add_row(f"{name}/{k}", f"{v:.6g}", f"{result.seconds[name]:.1f}")
    out_console.print(table)
