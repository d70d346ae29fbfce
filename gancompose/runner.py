"""Running a recipe end to end: build, make or reopen the run folder, resume, train, checkpoint."""
from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from rich.console import Console
from rich.markup import escape

from gancompose.builder import build_run, resolve_device
from gancompose.builder.init_from import print_reports
from gancompose.callbacks import Checkpointer, Evaluation, MetricsLog, Progress, QuietLog, SampleGrid
from gancompose.callbacks.nan_guard import NaNGuard, NonFiniteError, state_tensors
from gancompose.callbacks.tensorboard import TensorBoard, summary_writer_class
from gancompose.checkpoint import Checkpoint, require_finite, restore_run
import gancompose.resume as resume_mod
from gancompose.engine import train
from gancompose.errors import CheckpointError
from gancompose.performance.distributed import Distributed, check_supported
from gancompose.portable.load import load_for_sampling  # noqa: F401  (the loader; re-exported)
from gancompose.rundir import clean_orphans, new_run_dir, run_dir_of_checkpoint, write_recipe


@dataclass
class RunResult:
    run: object
    run_dir: Path
    last_checkpoint: Path | None
    stopped_early: bool
    #: the signal (SIGINT, SIGTERM) that stopped the run after a checkpoint, or None
    interrupted: int | None = None


def exit_code(signum: int) -> int:
    """The shell's convention for a process ended by a signal: 128 + its number (130 SIGINT, 143 SIGTERM)."""
    return 128 + int(signum)


class RunInterrupted(KeyboardInterrupt):
    """A second Ctrl-C/SIGTERM (or one after the final checkpoint) stopped the run at once. The message says
    what is on disk: the last checkpoint and its step, or that none was written."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.message, self.signum = message, signum

    def __str__(self) -> str:
        return self.message


def _last_on_disk(run_dir: Path) -> tuple[Path, int] | None:
    """``RUN/checkpoints/last.safetensors`` and its step, if it exists and reads (it is replaced atomically)."""
    last = Path(run_dir) / "checkpoints" / "last.safetensors"
    try:
        return last, Checkpoint(last).counters()[0]
    except (CheckpointError, OSError, KeyError, ValueError):
        return None


def _interrupted(run, run_dir: Path, signum: int, resumed: Path | None) -> RunInterrupted:
    name = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
    head = f"stopped at once ({name}) at step {run.state.step}"
    found = _last_on_disk(run_dir)
    if found is not None:
        last, step = found
        text = (f"{head}; the last checkpoint is {last} (step {step}), whole: "
                f"{resume_command(run_dir, last)}")
    elif resumed is not None:
        text = f"{head}; no checkpoint was written; the one resumed from, {resumed}, is unchanged"
    else:
        text = f"{head}; no checkpoint was written, so there is nothing to resume"
    return RunInterrupted(text, signum)


class _StopOnInterrupt:
    """First Ctrl-C or SIGTERM: finish the current step, write the checkpoint (before any end-of-run samples or
    metrics), stop. A second one, or one after that checkpoint: stop at once (KeyboardInterrupt; checkpoint writes
    are atomic, so the last checkpoint stays whole). The previous handlers come back on exit, however it exits."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = False
        self.signum: int | None = None  # the first signal
        self.last_signum: int | None = None  # the latest one
        self.checkpointed = False  # the run's final checkpoint step is done: what is left is optional
        self.console: Console | None = None
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
        self.last_signum = signum
        if self.requested or self.checkpointed:
            raise KeyboardInterrupt
        self.requested, self.signum = True, signum
        what = "SIGTERM" if signum == signal.SIGTERM else "interrupted"
        (self.console or Console(stderr=True)).print(
            f"[yellow]{what}: finishing this step and writing a checkpoint (Ctrl-C again to stop at once)[/]")

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


class _Checkpointed:
    """Right after the checkpointer: from here on, the end-of-run work (sample grids, metrics) is optional, and
    a signal stops it at once."""

    def __init__(self, flag: _StopOnInterrupt, checkpoints: Checkpointer, optional_work: bool):
        self.flag, self.checkpoints, self.optional_work = flag, checkpoints, optional_work

    def on_train_start(self, run): pass
    def on_step_end(self, run, logs): pass

    def on_train_end(self, run):
        self.flag.checkpointed = True
        if self.flag.requested and self.optional_work and self.checkpoints.last is not None:
            (self.flag.console or Console(stderr=True)).print(
                f"[yellow]checkpoint written: {escape(str(self.checkpoints.last))}; now the end-of-run samples and "
                "metrics (Ctrl-C again to skip them)[/]", soft_wrap=True)


def run_recipe(recipe, *, resume: str | Path | None = None, max_steps: int | None = None, quiet: bool = False,
               device: str | None = None, progress: bool = True, console: Console | None = None,
               allow_changes: Sequence[str] = ()) -> RunResult:
    """Train ``recipe`` (resuming from a checkpoint if given) and return where it wrote its files.

    ``resume``: a checkpoint file, a run folder (its ``checkpoints/last.safetensors``) or ``"latest"`` (the newest
    run of this recipe). The recipe must be the one the checkpoint was trained with, except for the keys that
    cannot change what is trained (gancompose/resume.py) and the keys named in ``allow_changes`` (dotted key
    paths or their prefixes), which are applied and recorded in ``RUN/changes.jsonl``."""
    if resume is not None:
        from gancompose.resume import resolve_resume
        resume = resolve_resume(str(resume), recipe)
    allow_changes = tuple(allow_changes)
    # an optional extra that is missing fails now, before anything is built or written
    writer_class = summary_writer_class(recipe._source) if recipe.train.tensorboard else None
    dist = Distributed.from_env()  # launched by torchrun with several processes
    if dist is None:
        return _run(recipe, resume, max_steps, quiet, device, progress, console, writer_class, None, allow_changes)
    check_supported(recipe)
    dist.start(dist.device(resolve_device(device or recipe.train.device)))
    result = None
    try:
        result = _run(recipe, resume, max_steps, quiet, device, progress and dist.is_main, console, writer_class,
                      dist, allow_changes)
        return result
    finally:
        dist.stop(result.run if result is not None else None, finished=result is not None)


def _run(recipe, resume, max_steps, quiet, device, progress, console, writer_class, dist,
         allow_changes=()) -> RunResult:
    ckpt = Checkpoint(resume) if resume is not None else None
    changes, theirs = [], None
    if ckpt is not None:  # refused before anything is built or written
        changes, theirs = resume_mod.compare(recipe, ckpt, allow_changes)
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
        fresh = {name: resume_mod.hyper_parameters(opt) for name, opt in run.optimizers.items()}
        restore_run(run, ckpt, fresh_optimizers=resume_mod.optimizers_changed(changes))
        require_finite(state_tensors(run), ckpt.path, "a run cannot continue from it",
                       hint="resume from an earlier checkpoint of the run (its checkpoints/ folder), or start a new "
                            "run from good weights with init_from")
        if changes:  # accepted with --allow-change: the recipe's values win over the saved ones
            resume_mod.apply_optimizer_changes(run, changes, theirs, fresh)
    if not main:  # process 0 writes the run folder; the others train and agree on when to stop
        run_dir = dist.from_main(None)
        with _StopOnInterrupt() as flag:
            train(run, until=_until(run, max_steps), callbacks=[_StopCheck(flag)])
        return RunResult(run, run_dir, None, run.state.step < _until(run, max_steps))
    run_dir = run_dir_of_checkpoint(ckpt.path) if ckpt is not None else None
    new_folder, start_step = run_dir is None, run.state.step
    if new_folder:  # recipe.toml records what the run started with: written once, never on resume
        run_dir = new_run_dir(recipe.train.output_dir, recipe.name)
        write_recipe(run_dir, recipe)
    else:
        orphans = clean_orphans(run_dir)
        if orphans:
            say(f"[dim]removed {len(orphans)} unfinished temporary file(s) of an interrupted write: "
                f"{escape(', '.join(p.name for p in orphans[:5]))}{' ...' if len(orphans) > 5 else ''}[/]",
                soft_wrap=True)
    try:
        return _train_in(run, recipe, run_dir, ckpt, changes, max_steps, quiet, progress, console, writer_class,
                         dist, say)
    except BaseException:
        # failed before its first step (a bad image, a metric that cannot be built): no empty run folder is left
        if new_folder and run.state.step == start_step and not list(run_dir.glob("checkpoints/*.safetensors")):
            import shutil
            shutil.rmtree(run_dir, ignore_errors=True)
            try:
                run_dir.parent.rmdir()  # OUTPUT_DIR/NAME too, when this run was its only one
            except OSError:
                pass
        raise


def _train_in(run, recipe, run_dir, ckpt, changes, max_steps, quiet, progress, console, writer_class, dist,
              say) -> RunResult:
    if dist is not None:
        dist.from_main(run_dir)
    if changes:
        log = resume_mod.record(run_dir, changes, run.state.step, ckpt.path)
        say(f"[yellow]resuming at step {run.state.step} with {len(changes)} change(s) accepted by --allow-change "
            f"(recorded in {escape(str(log))}):[/]\n" + "\n".join(f"  {escape(c.describe())}" for c in changes),
            soft_wrap=True)

    t = recipe.train
    until = _until(run, max_steps)
    metrics = MetricsLog(run_dir / "metrics.jsonl", t.log_every)
    checkpoints = Checkpointer(run_dir / "checkpoints", t.checkpoint_every, t.keep_checkpoints)
    # first: reads the non-finite flag before the metrics log resets it and before any checkpoint is written
    guard = NaNGuard(t.log_every, t.checkpoint_every, until, console=console,
                     last_good=lambda: checkpoints.last or (ckpt.path if ckpt is not None else None),
                     on_rollback=[metrics.on_train_start])
    samples = SampleGrid(run_dir / "samples", t.sample_every, t.samples, t.seed)
    flag = _StopOnInterrupt()
    flag.console = console
    # the checkpoint right after the guard (which must see a fault first) and the metrics log: at the end, and
    # after an interrupt, it is written before any optional end-of-run work (samples and metrics draw from forked
    # generators, so the order does not change what is saved)
    callbacks: list = [guard, metrics, checkpoints, _Checkpointed(flag, checkpoints, True), samples,
                       *run.schedule.callbacks(run, run_dir)]  # e.g. a grid per stage of progressive growing
    evaluation = None
    if recipe.metrics:
        evaluation = Evaluation(run_dir / "metrics.jsonl", [
            (spec.type, spec.every, run.registry.get("metric", spec.type).factory(spec)) for spec in recipe.metrics])
        callbacks.append(evaluation)
    if t.tensorboard:  # after the callbacks whose losses, metrics and grids it forwards
        callbacks.append(TensorBoard(run_dir / "tensorboard", metrics, samples, evaluation, writer_class))
    if progress:
        callbacks.append((QuietLog if quiet else Progress)(metrics, until, console))
    callbacks.append(_StopCheck(flag))
    with flag:
        try:
            train(run, until=until, callbacks=callbacks)
        except KeyboardInterrupt:
            signum = flag.last_signum or signal.SIGINT
            raise _interrupted(run, run_dir, signum, ckpt.path if ckpt is not None else None) from None
    if run.fault is not None:
        last = checkpoints.last or (ckpt.path if ckpt is not None else None)
        raise NonFiniteError(
            f"{run.fault.describe()}; stopped (train.on_nan = {t.on_nan!r}). "
            + (f"The last good checkpoint is {last}: {resume_command(run_dir, last)}" if last else
               "No checkpoint was written before it."),
            hint="lower the learning rate" + (", or set train.on_nan = 'rollback'" if t.on_nan != "rollback" else ""))
    return RunResult(run, run_dir, checkpoints.last, run.state.step < until,
                     flag.signum if flag.requested and run.state.step < until else None)


def _until(run, max_steps: int | None) -> int:
    return run.total_steps if max_steps is None else min(run.total_steps, max_steps)


def resume_command(run_dir: Path, checkpoint: str | Path) -> str:
    """The command that continues a run from ``checkpoint`` with the recipe it was trained with (its metadata):
    ``--resume RUN_DIR`` for the run's last checkpoint, ``--resume CHECKPOINT`` for another one."""
    import shlex
    checkpoint = Path(checkpoint)
    if checkpoint.name == "last.safetensors" and checkpoint.parent == Path(run_dir) / "checkpoints":
        return f"gancompose run --resume {shlex.quote(str(run_dir))}"
    return f"gancompose run --resume {shlex.quote(str(checkpoint))}"


__all__ = ["run_recipe", "load_for_sampling", "RunResult", "RunInterrupted", "exit_code"]
