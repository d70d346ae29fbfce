"""Running a recipe end to end: build, make or reopen the run folder, resume, train, checkpoint."""
from __future__ import annotations

import json
import signal
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from gancompose.builder import Run, build_run, resolve_device
from gancompose.builder.run import build_networks, ema_copy
from gancompose.callbacks import Checkpointer, Evaluation, MetricsLog, Progress, QuietLog, SampleGrid
from gancompose.callbacks.nan_guard import NaNGuard, NonFiniteError
from gancompose.callbacks.stages import StageGrid
from gancompose.callbacks.tensorboard import TensorBoard, summary_writer_class
from gancompose.checkpoint import Checkpoint, load_networks, restore_run
from gancompose.engine import train
from gancompose.errors import CheckpointError, GancomposeError
from gancompose.performance.distributed import Distributed, check_supported
from gancompose.portable.init_from import print_reports
from gancompose.recipe import validate_recipe
from gancompose.registry import Registry, default_registry
from gancompose.rundir import new_run_dir, run_dir_of_checkpoint, write_recipe


@dataclass
class RunResult:
    run: object
    run_dir: Path
    last_checkpoint: Path | None
    stopped_early: bool


class _StopOnInterrupt:
    """First Ctrl-C or SIGTERM: finish the current step, checkpoint, stop. A second one: stop at once
    (KeyboardInterrupt; checkpoint writes are atomic, so the last checkpoint stays whole)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = False
        self._old: dict = {}

    def __enter__(self):
        for sig in self.SIGNALS:
            try:
                old = signal.getsignal(sig)
                signal.signal(sig, self._handle)
                self._old[sig] = old
            except ValueError:  # not in the main thread
                pass
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        what = "SIGTERM" if signum == signal.SIGTERM else "interrupted"
        Console(stderr=True).print(f"[yellow]{what}: finishing this step and writing a checkpoint "
                                   "(Ctrl-C again to stop at once)[/]")

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


class _StopCheck:
    def __init__(self, flag: _StopOnInterrupt):
        self.flag = flag

    def on_train_start(self, run): pass
    def on_train_end(self, run): pass

    def on_step_end(self, run, logs):
        if self.flag.requested:
            run.stop_requested = True


def run_recipe(recipe, *, resume: str | Path | None = None, max_steps: int | None = None, quiet: bool = False,
               device: str | None = None, progress: bool = True, console: Console | None = None) -> RunResult:
    """Train ``recipe`` (resuming from a checkpoint if given) and return where it wrote its files."""
    # an optional extra that is missing fails now, before anything is built or written
    writer_class = summary_writer_class(recipe._source) if recipe.train.tensorboard else None
    dist = Distributed.from_env()  # launched by torchrun with several processes
    if dist is None:
        return _run(recipe, resume, max_steps, quiet, device, progress, console, writer_class, None)
    check_supported(recipe)
    dist.start(dist.device(resolve_device(device or recipe.train.device)))
    try:
        return _run(recipe, resume, max_steps, quiet, device, progress and dist.is_main, console, writer_class, dist)
    finally:
        dist.stop()


def _run(recipe, resume, max_steps, quiet, device, progress, console, writer_class, dist) -> RunResult:
    ckpt = Checkpoint(resume) if resume is not None else None
    main = dist is None or dist.is_main
    target = resolve_device(device or recipe.train.device)
    run = build_run(recipe, device=dist.device(target) if dist is not None else target, init_weights=ckpt is None,
                    dist=dist)
    if main:
        say = (console or Console(stderr=True)).print
        if run.init_reports:
            print_reports(run.init_reports, console)
        if progress:
            say(f"[dim]performance: {run.performance.describe()}"
                + (f"; {dist.world} processes (torchrun)" if dist is not None else "") + "[/]", soft_wrap=True)
        if run.compiled is not None:
            run.compiled.report = lambda line: say(f"[yellow]{line}[/]", soft_wrap=True)
    if ckpt is not None:
        _check_same_networks(recipe, ckpt)
        restore_run(run, ckpt)
    if not main:  # process 0 writes the run folder; the others train and agree on when to stop
        run_dir = dist.from_main(None)
        with _StopOnInterrupt() as flag:
            train(run, until=_until(run, max_steps), callbacks=[_StopCheck(flag)])
        return RunResult(run, run_dir, None, run.state.step < _until(run, max_steps))
    if ckpt is not None:
        run_dir = run_dir_of_checkpoint(ckpt.path) or new_run_dir(recipe.train.output_dir, recipe.name)
    else:
        run_dir = new_run_dir(recipe.train.output_dir, recipe.name)
    if dist is not None:
        dist.from_main(run_dir)
    write_recipe(run_dir, recipe)

    t = recipe.train
    until = _until(run, max_steps)
    metrics = MetricsLog(run_dir / "metrics.jsonl", t.log_every)
    checkpoints = Checkpointer(run_dir / "checkpoints", t.checkpoint_every, t.keep_checkpoints)
    # first: reads the non-finite flag before the metrics log resets it and before any checkpoint is written
    guard = NaNGuard(t.log_every, t.checkpoint_every, until, console=console,
                     last_good=lambda: checkpoints.last or (ckpt.path if ckpt is not None else None),
                     on_rollback=[metrics.on_train_start])
    samples = SampleGrid(run_dir / "samples", t.sample_every, t.samples, t.seed)
    callbacks: list = [guard, metrics, samples,
                       StageGrid(run_dir / "samples", t.samples, t.seed)]  # a grid per stage (progressive growing)
    evaluation = None
    if recipe.metrics:
        evaluation = Evaluation(run_dir / "metrics.jsonl", [
            (spec.type, spec.every, run.registry.get("metric", spec.type).factory(spec)) for spec in recipe.metrics])
        callbacks.append(evaluation)
    if t.tensorboard:  # after the callbacks whose losses, metrics and grids it forwards
        callbacks.append(TensorBoard(run_dir / "tensorboard", metrics, samples, evaluation, writer_class))
    callbacks.append(checkpoints)
    if progress:
        callbacks.append((QuietLog if quiet else Progress)(metrics, until, console))
    with _StopOnInterrupt() as flag:
        callbacks.append(_StopCheck(flag))
        train(run, until=until, callbacks=callbacks)
    if run.fault is not None:
        last = checkpoints.last or (ckpt.path if ckpt is not None else None)
        raise NonFiniteError(
            f"{run.fault.describe()}; stopped (train.on_nan = {t.on_nan!r}). "
            + (f"The last good checkpoint is {last}: {resume_command(run_dir, last)}" if last else
               "No checkpoint was written before it."),
            hint="lower the learning rate, or set train.on_nan = 'rollback' or 'skip'")
    return RunResult(run, run_dir, checkpoints.last, run.state.step < until)


def _until(run, max_steps: int | None) -> int:
    return run.total_steps if max_steps is None else min(run.total_steps, max_steps)


def resume_command(run_dir: Path, checkpoint: str | Path) -> str:
    """The command that continues a run from ``checkpoint`` (with the run's resolved recipe)."""
    import shlex
    return (f"gancompose run {shlex.quote(str(Path(run_dir) / 'recipe.toml'))} "
            f"--resume {shlex.quote(str(checkpoint))}")


def _check_same_networks(recipe, ckpt: Checkpoint) -> None:
    theirs = _comparable_networks(ckpt.recipe)
    ours = _comparable_networks(json.loads(json.dumps(recipe.model_dump(mode="json"))))
    if theirs != ours:
        raise CheckpointError(f"{ckpt.path} was written by a recipe with other networks; --resume continues the "
                              "same run", hint="to start a new run from these weights, give the networks "
                                               "init_from = { path = \"...\" } (see docs/recipes.md)")


def _comparable_networks(raw: dict) -> dict:
    """The [networks] tables with the current defaults filled in (a checkpoint written before a key existed
    still resumes) and without ``init_from`` (a resumed run does not read it)."""
    try:
        nets = validate_recipe(raw).model_dump(mode="json")["networks"]
    except GancomposeError:
        nets = raw.get("networks") or {}
    return {name: {k: v for k, v in spec.items() if k != "init_from"} for name, spec in nets.items()}


def load_for_sampling(path: str | Path, *, device: str = "cpu", registry: Registry | None = None) -> Run:
    """A run rebuilt from a checkpoint alone (its recipe is in the metadata), weights loaded, no data."""
    registry = registry or default_registry()
    ckpt = Checkpoint(path)
    recipe = validate_recipe(ckpt.recipe, file=str(path), registry=registry)
    shapes = _ShapeOnly(ckpt)
    networks, reports = build_networks(recipe, registry, shapes)
    networks.to(resolve_device(device))
    run = Run(recipe=recipe, registry=registry, device=resolve_device(device), dataset=shapes, networks=networks,
              reports=reports)
    if recipe.train.ema is not None:
        name = recipe.train.ema.network
        run.ema[name] = ema_copy(networks[name])
    load_networks(run, ckpt)
    return run


class _ShapeOnly:
    """Stands in for the dataset when only its sample shape is needed (recorded in the checkpoint)."""

    def __init__(self, ckpt: Checkpoint):
        self.sample_shape = tuple(json.loads(ckpt.metadata.get("sample_shape", "null")) or ())
        self.num_classes = json.loads(ckpt.metadata.get("num_classes", "null"))
        if not self.sample_shape:
            raise CheckpointError(f"{ckpt.path} does not record the data's sample shape")


__all__ = ["run_recipe", "load_for_sampling", "RunResult"]
