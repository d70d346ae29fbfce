"""A sweep: recipes x seeds, planned from what is already on disk, run on an executor, read back for the report.

:func:`compare` is what ``gancompose compare`` calls; the steps are public for tests and for other front ends:
:func:`prepare` (load and check every recipe, metric and option: the user's mistakes are refused before anything
runs), :func:`plan` (a :class:`Plan` per recipe x seed, and what each still needs: training, evaluation, its
sample grid), :func:`execute` (the jobs on an executor, signals passed on) and :func:`collect` (every run's state
from its folder).
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from gancompose.errors import GancomposeError

from gancompose_compare.layout import (DONE, EVAL, SAMPLES, atomic_write_text, fingerprint, read_attempts,
                                       read_json, resumable)


class CompareError(GancomposeError):
    """The user's input to ``gancompose compare`` cannot be used (a seed count, a key the sweep sets itself, a
    recipe given twice, a report folder that cannot be written)."""


@dataclass
class Settings:
    seeds: list[int]
    overrides: tuple[str, ...] = ()
    extra_metrics: tuple[str, ...] = ()
    samples: int | None = None
    feature_weights: str | None = None
    threads: int = 1
    vary_data: bool = False
    #: the latents of the sample grids: the same for every run, so the grids compare like for like
    grid_seed: int = 0

    def eval_key(self, metrics: Sequence[str]) -> dict:
        return {"metrics": list(metrics), "samples": self.samples, "feature_weights": self.feature_weights}


@dataclass
class Entry:
    """One recipe of the sweep (after --set)."""
    label: str
    file: Path
    recipe: Any
    fingerprint: str
    folder: Path
    metrics: list[str]
    data_sample: str
    group: str
    group_title: str


@dataclass
class Plan:
    entry: Entry
    seed: int
    seed_dir: Path
    #: what is left to do: "train", "evaluate", "draw" (a sample grid) or None
    todo: str | None = None
    before: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.entry.label} seed {self.seed}"

    def job(self, settings: Settings) -> dict:
        overrides = [*settings.overrides, f"train.seed={self.seed}",
                     f"train.output_dir={json.dumps(str(self.seed_dir))}"]
        if settings.vary_data and _has_data_seed(self.entry.recipe):
            overrides.append(f"data.seed={self.seed}")
        return {"recipe": str(self.entry.file), "overrides": overrides, "seed": self.seed,
                "seed_dir": str(self.seed_dir), "fingerprint": self.entry.fingerprint,
                "vary_data": settings.vary_data and _has_data_seed(self.entry.recipe),
                "metrics": self.entry.metrics, "eval_key": settings.eval_key(self.entry.metrics),
                "samples": settings.samples, "feature_weights": settings.feature_weights,
                "threads": settings.threads, "grid_seed": settings.grid_seed, "label": self.entry.label}


def _has_data_seed(recipe) -> bool:
    return "seed" in type(recipe.data).model_fields


#: keys the sweep sets itself
SWEEP_KEYS = {"train.seed": "give the seeds with --seeds N --seed-start S",
              "train.output_dir": "the runs go under REPORT_DIR/runs/ (-o REPORT_DIR)"}


def _check_overrides(overrides: Sequence[str], vary_data: bool) -> None:
    from gancompose.errors import RecipeError
    from gancompose.recipe.load import parse_key_path
    for item in overrides:
        if "=" not in item:
            raise CompareError(f"--set {item!r}: expected KEY=VALUE", hint="for example: --set train.steps=500")
        key = item.partition("=")[0].strip()
        try:
            parts = parse_key_path(key)
        except RecipeError as exc:
            raise CompareError(f"--set {item!r}: {exc.message}", hint=exc.hint) from None
        dotted = ".".join(str(p) for p in parts)
        if dotted in SWEEP_KEYS or (dotted == "train" and "{" in item):
            k = dotted if dotted in SWEEP_KEYS else "train.seed"
            raise CompareError(f"--set {key}: the sweep sets {k} itself", hint=SWEEP_KEYS[k])
        if vary_data and dotted == "data.seed":
            raise CompareError("--set data.seed with --vary-data: --vary-data sets data.seed to each run's seed",
                               hint="drop one of them")


def _metric_texts(recipe, extra: Sequence[str], registry) -> list[str]:
    """The metrics a recipe's runs are evaluated with: its own [[metrics]] types (their parameters come from the
    recipe, as ``gancompose eval`` does) and then the --metric extras; an extra of the same name replaces it."""
    from pydantic import ValidationError
    from gancompose.commands.evaluate import parse_metric
    from gancompose.errors import RecipeError
    texts: dict[str, str] = {}
    for spec in recipe.metrics:
        texts.setdefault(spec.type, spec.type)
    for text in extra:
        name, overrides = parse_metric(text)
        try:
            comp = registry.get("metric", name)
        except RecipeError as exc:
            raise CompareError(f"--metric {name!r}: {exc.message}", hint=exc.hint) from None
        base: dict = {}
        for spec in recipe.metrics:
            if spec.type == name:
                base = spec.model_dump(exclude={"type", "every"}, exclude_unset=True)
        try:
            comp.params.model_validate({**base, **overrides})
        except ValidationError as exc:
            e = exc.errors()[0]
            where = ".".join(str(x) for x in e["loc"])
            raise CompareError(f"--metric {text!r}: {where + ': ' if where else ''}{e['msg']}",
                               hint=f"its parameters: {', '.join(comp.params.model_fields) or 'none'}") from None
        texts[name] = text
    return list(texts.values())


def describe_data_sample(recipe, vary_data: bool) -> str:
    data = recipe.data
    if _has_data_seed(recipe):
        if vary_data:
            return f"varies with the seed: data.seed = train.seed ({data.type} draws its sample from data.seed)"
        return (f"the same for every seed: data.seed = {data.seed} ({data.type} draws its sample from data.seed; "
                "--vary-data sets it to each run's seed)")
    root = getattr(data, "root", None)
    return (f"the same for every seed: {data.type} reads its files" + (f" from {root}" if root else "")
            + (" (--vary-data has nothing to vary here)" if vary_data else ""))


def _group(recipe, vary_data: bool) -> tuple[str, str]:
    """Recipes on the same data share a table: (key, title)."""
    data = recipe.data.model_dump(mode="json", exclude_none=True)
    if vary_data:
        data.pop("seed", None)
    key = json.dumps(data, sort_keys=True, default=str)
    shown = {k: v for k, v in data.items() if k not in ("type", "root")}
    title = recipe.data.type + (f" ({', '.join(f'{k} {v}' for k, v in shown.items())})" if shown else "")
    return key, title


def prepare(recipes: Sequence[str], settings: Settings, report_dir: Path, registry=None) -> list[Entry]:
    """Load every recipe with the overrides, check the metrics and the options; nothing is written."""
    from gancompose.recipe import load_recipe
    from gancompose.recipe.shipped import resolve
    from gancompose.registry import default_registry
    registry = registry or default_registry()
    if not recipes:
        raise CompareError("no recipe to compare", hint="gancompose compare RECIPE... --seeds N -o REPORT_DIR")
    if not settings.seeds:
        raise CompareError("--seeds must be at least 1")
    _check_overrides(settings.overrides, settings.vary_data)
    entries: list[Entry] = []
    seen: dict[str, str] = {}
    for text in recipes:
        file = Path(resolve(text, registry)).resolve()
        recipe = load_recipe(str(file), settings.overrides, registry=registry)
        follows = settings.vary_data and _has_data_seed(recipe)
        fp = fingerprint(recipe, data_seed_follows=follows)
        if fp in seen:
            raise CompareError(f"{text} trains the same as {seen[fp]}: a recipe given twice",
                               hint="give each recipe once")
        seen[fp] = text
        label = recipe.name
        n = 2
        while any(e.label == label for e in entries):
            label, n = f"{recipe.name}-{n}", n + 1
        group, title = _group(recipe, settings.vary_data)
        entries.append(Entry(label, file, recipe, fp, report_dir / "runs" / recipe.name / fp,
                             _metric_texts(recipe, settings.extra_metrics, registry),
                             describe_data_sample(recipe, settings.vary_data), group, title))
    return entries


def make_report_dir(report_dir: Path) -> Path:
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        probe = report_dir / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise CompareError(f"cannot write the report folder {report_dir}: {exc.strerror or exc}",
                           hint="give a writable folder with -o") from None
    return report_dir


class Lock:
    """``REPORT_DIR/.lock``, held while a sweep writes there: two sweeps into one folder would train the same
    runs twice."""

    def __init__(self, report_dir: Path):
        self.path = report_dir / ".lock"
        self.fh = None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            return self
        self.fh = self.path.open("a")
        try:
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.fh.close()
            self.fh = None
            raise CompareError(f"another gancompose compare is writing {self.path.parent}",
                               hint="wait for it to finish, or give another -o") from None
        return self

    def __exit__(self, *exc):
        if self.fh is not None:
            self.fh.close()


def _snapshot(seed_dir: Path) -> dict:
    def mtime(p):
        try:
            return p.stat().st_mtime_ns
        except OSError:
            return None
    return {"attempts": len(read_attempts(seed_dir)), "eval": mtime(seed_dir / EVAL),
            "samples": mtime(seed_dir / SAMPLES), "done": mtime(seed_dir / DONE)}


def plan(entries: Sequence[Entry], settings: Settings) -> list[Plan]:
    plans = []
    for entry in entries:
        for seed in settings.seeds:
            p = Plan(entry, seed, (entry.folder / f"seed_{seed}").resolve())
            p.todo = todo(p, settings)
            p.before = _snapshot(p.seed_dir)
            plans.append(p)
    return plans


def todo(p: Plan, settings: Settings) -> str | None:
    done = read_json(p.seed_dir / DONE)
    if done is None:
        return "train"
    if done.get("status") != "finished":
        return None  # diverged: an outcome, not retried
    ev = read_json(p.seed_dir / EVAL)
    if ev is None or ev.get("key") != settings.eval_key(p.entry.metrics) or ev.get("error"):
        return "evaluate"  # never evaluated, with other metrics, or it failed (a weights file put in place since)
    if not (p.seed_dir / SAMPLES).is_file():
        return "draw"
    return None


def write_recipe_copy(entry: Entry) -> None:
    from gancompose.rundir import recipe_toml
    entry.folder.mkdir(parents=True, exist_ok=True)
    path = entry.folder / "recipe.toml"
    if not path.is_file():
        atomic_write_text(path, f"# {entry.file} after --set; every seed_S/ below trains it with train.seed = S\n"
                          + recipe_toml(entry.recipe))


@dataclass
class Outcome:
    jobs: int = 0
    #: the signal that stopped the sweep, or None
    stopped_by: int | None = None
    wall_s: float = 0.0
    errors: list[str] = field(default_factory=list)


def execute(plans: Sequence[Plan], settings: Settings, executor, *, limit: int | None = None,
            say: Callable[[str], None] = lambda line: None, fn: Callable | None = None) -> Outcome:
    """Run the plans that have something left to do on ``executor``. The first SIGINT/SIGTERM is passed on to
    the jobs under way (each finishes its step, writes a checkpoint and stops) and no new job starts; a second one
    is passed on too (the jobs stop at once; their last checkpoint stays). Returns when every started job ended."""
    from gancompose_compare.executors import run_job
    fn = fn or run_job
    work = [p for p in plans if p.todo is not None]
    out = Outcome(jobs=len(work))
    if not work:
        return out
    for entry in {id(p.entry): p.entry for p in work}.values():
        write_recipe_copy(entry)
    by_dir = {str(p.seed_dir): p for p in work}
    state: dict[str, Any] = {"signum": None}

    def handler(signum, frame):
        first = state["signum"] is None
        state["signum"] = state["signum"] or signum
        name = signal.Signals(signum).name
        say(f"{name}: " + ("passing it on: the runs under way finish their step, write a checkpoint and stop; no "
                           "new run starts (again to stop them at once)" if first else "passing it on again"))
        executor.interrupt(signum)

    old: dict = {}
    if threading.current_thread() is threading.main_thread():
        for s in (signal.SIGINT, signal.SIGTERM):
            old[s] = signal.signal(s, handler)
    t0 = time.perf_counter()
    done_count = 0
    try:
        for job, result in executor.map(fn, [p.job(settings) for p in work], limit,
                                        stop=lambda: state["signum"] is not None):
            done_count += 1
            p = by_dir[job["seed_dir"]]
            line = describe_state(read_state(p, settings))
            if isinstance(result, BaseException):
                line += f" (the executor said: {type(result).__name__}: {result})"
                out.errors.append(f"{p.name}: {type(result).__name__}: {result}")
            say(f"[{done_count}/{len(work)}] {p.name}: {line}")
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    out.stopped_by = state["signum"]
    out.wall_s = time.perf_counter() - t0
    return out


# ------------------------------------------------------------------------------------------ reading back
def read_state(p: Plan, settings: Settings) -> dict:
    """What a run's folder says: status (finished, diverged, interrupted, failed, not started), its steps,
    metrics (``metric/key`` -> value), times, and whether this invocation trained or evaluated it."""
    d = p.seed_dir
    done = read_json(d / DONE)
    attempts = read_attempts(d)
    ev = read_json(d / EVAL)
    last = attempts[-1] if attempts else {}
    s: dict[str, Any] = {"recipe": p.entry.label, "seed": p.seed, "folder": str(d)}
    if done is not None:
        s["status"] = done.get("status", "finished")
        s["step"], s["total_steps"] = done.get("step"), done.get("total_steps")
        s["run_dir"], s["checkpoint"] = done.get("run_dir"), done.get("checkpoint")
        if done.get("error"):
            s["error"] = done["error"]
    else:
        found = resumable(d, p.entry.recipe.name)
        if attempts:
            s["status"] = "failed" if last.get("status") == "failed" else "interrupted"
        else:
            s["status"] = "interrupted" if found else "not started"
        s["step"] = last.get("end_step", found[1] if found else None)
        s["total_steps"] = last.get("total_steps")
        s["run_dir"] = last.get("run_dir") or (str(found[0].relative_to(d)) if found else None)
        if last.get("signal"):
            s["signal"] = last["signal"]
        if last.get("error") and s["status"] == "failed":
            s["error"] = last["error"]
        if found is not None and not attempts:
            s["signal"] = "killed (no record of the attempt)"
    s["metrics"] = {}
    if s["status"] == "finished" and ev is not None and ev.get("key") == settings.eval_key(p.entry.metrics):
        if ev.get("error"):
            s["eval_error"] = ev["error"]
        for m, values in (ev.get("metrics") or {}).items():
            for k, v in values.items():
                s["metrics"][f"{m}/{k}"] = v
    elif s["status"] == "finished":
        s["eval_error"] = "not evaluated yet"
    s["wall_s"] = round(sum(a.get("wall_s", 0.0) for a in attempts), 3)
    s["cpu_minutes"] = round(sum(a.get("cpu_s", 0.0) for a in attempts) / 60, 4)
    s["attempts"] = len(attempts)
    now = _snapshot(d)
    s["trained_now"] = now["attempts"] > p.before.get("attempts", 0)
    s["evaluated_now"] = now["eval"] is not None and now["eval"] != p.before.get("eval")
    s["samples"] = str(d / SAMPLES) if (d / SAMPLES).is_file() and s["status"] == "finished" else None
    return s


def describe_state(s: dict) -> str:
    status = s["status"]
    steps = f"step {s.get('step')}" + (f"/{s['total_steps']}" if s.get("total_steps") else "")
    if status == "finished":
        vals = ", ".join(f"{k} {v:.4g}" for k, v in s["metrics"].items() if isinstance(v, (int, float)))
        return (f"finished ({steps}, {s['wall_s']:.0f} s, {s['cpu_minutes']:.2f} CPU min"
                + (", reused" if not s["trained_now"] else "") + ")"
                + (f": {vals}" if vals else "") + (f"; evaluation failed: {s['eval_error']}"
                                                    if s.get("eval_error") else ""))
    if status == "interrupted":
        return f"interrupted at {steps} ({s.get('signal', 'stopped')}); its checkpoint is kept and resumed next time"
    if status == "diverged":
        return f"diverged at {steps}: {s.get('error', '')}"
    if status == "failed":
        return f"failed at {steps}: {s.get('error', '')} (see {Path(s['folder']) / 'log.txt'})"
    return status


def collect(plans: Sequence[Plan], settings: Settings) -> list[dict]:
    return [read_state(p, settings) for p in plans]


def compare_command(recipes: Sequence[str], settings: Settings, report_dir: Path, *, executor: str = "local",
                    executor_options: dict | None = None, workers: int | None = None,
                    references: Sequence[Path] = (), report_only: bool = False, command: str = "",
                    say: Callable[[str], None] = print, show: Callable[[str], None] = print, executor_obj=None,
                    registry=None) -> int:
    """The whole of ``gancompose compare``; returns the exit code (0; 1 when a run failed; 128 + the signal when
    one stopped the sweep). ``executor_obj``: an :class:`gancompose_compare.executors.Executor` to use instead of
    the one ``executor`` names."""
    from gancompose_compare import report
    from gancompose_compare.executors import available_cores, make_executor
    report_dir = Path(report_dir)
    entries = prepare(recipes, settings, report_dir.resolve(), registry)
    refs = report.load_references(references, registry)
    make_report_dir(report_dir)
    with Lock(report_dir):
        plans = plan(entries, settings)
        outcome = Outcome()
        name = executor_obj.describe() if executor_obj is not None else executor
        if not report_only:
            need = [p for p in plans if p.todo is not None]
            if need:
                if executor_obj is None:
                    n = workers or (min(available_cores(), len(need)) if executor == "local" else None)
                    ex = make_executor(executor, workers=n, threads=settings.threads,
                                       folder=report_dir.resolve() / "submitit", options=executor_options or {})
                else:
                    ex = executor_obj
                name = ex.describe()
                kinds = {k: sum(p.todo == k for p in need) for k in ("train", "evaluate", "draw")}
                say(f"{len(need)} of {len(plans)} runs to do ("
                    + ", ".join(f"{v} to {k}" for k, v in kinds.items() if v)
                    + f"), {len(plans) - len(need)} reused; executor: {name}; logs in each run's log.txt")
                try:
                    outcome = execute(plans, settings, ex, limit=workers, say=say)
                finally:
                    if executor_obj is None:
                        ex.shutdown()
            else:
                say(f"all {len(plans)} runs are finished and evaluated: nothing to train (reused)")
        runs = collect(plans, settings)
        paths = report.write(report_dir, entries, runs, settings, command=command, executor=name, outcome=outcome,
                             references=refs)
    show("\n".join(report.results_tables(entries, report.summarize(entries, runs),
                                         [r for r in json.loads(paths["report.json"].read_text())["references"]])))
    say(f"wrote {paths['report.md']} and {paths['report.json']}")
    if outcome.stopped_by is not None:
        cut = [r for r in runs if r["status"] in ("interrupted", "not started")]
        say(f"stopped by {signal.Signals(outcome.stopped_by).name}: {len(cut)} run(s) not finished "
            "(interrupted ones keep their checkpoint); the same command again finishes only those")
        return 128 + int(outcome.stopped_by)
    if report_only:
        return 0
    failed = [r for r in runs if r["status"] == "failed" or (r["status"] == "finished" and r.get("eval_error"))]
    cut = [r for r in runs if r["status"] in ("interrupted", "not started")]
    if failed:
        say(f"{len(failed)} run(s) failed or could not be evaluated: see the report and their log.txt")
    if cut:
        say(f"{len(cut)} run(s) did not finish (stopped from outside the sweep?): the same command again resumes them")
    return 1 if failed or cut or outcome.errors else 0
