"""One run of a sweep, in its own process: ``python -m gancompose_compare.worker SEED_DIR/job.json``.

Trains the recipe for its seed unless ``done.json`` says it trained already (resuming from the seed's run folder
when an earlier attempt left a checkpoint), then evaluates the final checkpoint and draws its sample grid. Every
training attempt appends a line to ``attempts.jsonl``; ``done.json`` is written atomically, only when the run
reached its last step (or stopped on a numerical fault, "diverged"). The first SIGINT or SIGTERM finishes the
step and writes a checkpoint (gancompose.runner); the attempt is recorded as interrupted and the process exits
128 + the signal's number. Exit 1: the run failed (the error is in attempts.jsonl and log.txt).
"""
from __future__ import annotations

import json
import signal
import sys
import time
import traceback
from pathlib import Path

from gancompose_compare.layout import (DONE, EVAL, SAMPLES, append_attempt, atomic_write_json, fingerprint,
                                       read_attempts, read_json, resumable)

_received: list[int] = []


def _raise_interrupt(signum, frame):
    _received.append(signum)
    raise KeyboardInterrupt


def _cpu_seconds() -> float:
    try:
        import resource
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime
    except ImportError:  # not POSIX
        return time.process_time()


def _rel(path: Path, base: Path) -> str:
    try:
        return Path(path).resolve().relative_to(Path(base).resolve()).as_posix()
    except ValueError:  # elsewhere (should not happen): the absolute path
        return str(Path(path).resolve())


def _signal_name(signum: int | None) -> str:
    try:
        return signal.Signals(signum).name
    except (ValueError, TypeError):
        return str(signum)


class _Shielded:
    """Signals ignored while the small bookkeeping files are written (a second Ctrl-C must not cut them)."""

    def __enter__(self):
        self.old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}

    def __exit__(self, *exc):
        for s, h in self.old.items():
            signal.signal(s, h)


def train(recipe, seed_dir: Path) -> tuple[str, int]:
    """Train (or resume) the run; returns (status, exit code)."""
    from rich.console import Console
    from gancompose.callbacks.nan_guard import NonFiniteError
    from gancompose.errors import GancomposeError
    from gancompose.runner import RunInterrupted, run_recipe
    found = resumable(seed_dir, recipe.name)
    start_step = found[1] if found else 0
    console = Console(stderr=True, highlight=False, width=160)
    if found:
        console.print(f"resuming {found[0]} from step {found[1]}", soft_wrap=True)
    record: dict = {"start_step": start_step, "resumed_from": _rel(found[0], seed_dir) if found else None}
    t0, c0 = time.perf_counter(), _cpu_seconds()
    result = None
    try:
        result = run_recipe(recipe, resume=found[0] if found else None, progress=True, quiet=True, console=console)
    except RunInterrupted as exc:
        record.update(status="interrupted", signal=_signal_name(exc.signum), message=str(exc))
    except KeyboardInterrupt:
        record.update(status="interrupted", signal=_signal_name(_received[-1] if _received else signal.SIGINT))
    except NonFiniteError as exc:
        record.update(status="diverged", error=str(exc))
    except GancomposeError as exc:
        record.update(status="failed", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug or a crash: recorded, the sweep goes on
        traceback.print_exc()
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    else:
        if result.interrupted is not None:
            record.update(status="interrupted", signal=_signal_name(result.interrupted))
        elif result.stopped_early or result.last_checkpoint is None:
            record.update(status="failed", error=f"stopped early at step {result.run.state.step}")
        else:
            record.update(status="finished")
    with _Shielded():
        record["wall_s"] = round(time.perf_counter() - t0, 3)
        record["cpu_s"] = round(_cpu_seconds() - c0, 3)
        if result is not None:
            record["end_step"] = int(result.run.state.step)
            record["total_steps"] = int(result.run.total_steps)
            record["run_dir"] = _rel(result.run_dir, seed_dir)
        else:
            now = resumable(seed_dir, recipe.name)
            record["end_step"] = now[1] if now else start_step
            if now:
                record["run_dir"] = _rel(now[0], seed_dir)
        append_attempt(seed_dir, record)
        status = record["status"]
        if status in ("finished", "diverged"):
            attempts = read_attempts(seed_dir)
            done = {"status": status, "seed": int(recipe.train.seed), "recipe": recipe.name,
                    "step": record["end_step"], "total_steps": record.get("total_steps"),
                    "run_dir": record.get("run_dir"),
                    "checkpoint": (f"{record['run_dir']}/checkpoints/last.safetensors"
                                   if status == "finished" else None),
                    "wall_s": round(sum(a.get("wall_s", 0.0) for a in attempts), 3),
                    "cpu_s": round(sum(a.get("cpu_s", 0.0) for a in attempts), 3),
                    "attempts": len(attempts), "error": record.get("error"),
                    "time": time.strftime("%Y-%m-%d %H:%M:%S")}
            atomic_write_json(seed_dir / DONE, done)
    print(f"training: {status} at step {record['end_step']}" + (f" ({record.get('signal')})" if
                                                                 status == "interrupted" else ""), file=sys.stderr)
    if status == "interrupted":
        sig = getattr(signal, record.get("signal", "SIGINT"), signal.SIGINT)
        return status, 128 + int(sig)
    return status, 0 if status in ("finished", "diverged") else 1


def evaluate(job: dict, seed_dir: Path, done: dict, device: str) -> int:
    from gancompose.errors import GancomposeError
    from gancompose.commands.evaluate import evaluate_checkpoint
    key = job["eval_key"]
    current = read_json(seed_dir / EVAL)
    if current is not None and current.get("key") == key:
        return 0
    ckpt = seed_dir / done["checkpoint"]
    t0 = time.perf_counter()
    try:
        if job["metrics"]:
            res = evaluate_checkpoint(ckpt, list(job["metrics"]), samples=job.get("samples"),
                                      feature_weights=job.get("feature_weights"), device=device)
            metrics, seconds, step = res.results, res.seconds, res.step
        else:
            metrics, seconds, step = {}, {}, done.get("step")
    except GancomposeError as exc:
        atomic_write_json(seed_dir / EVAL, {"key": key, "error": str(exc), "metrics": {}})
        print(f"evaluation failed: {exc}", file=sys.stderr)
        return 1
    atomic_write_json(seed_dir / EVAL, {"key": key, "step": step, "metrics": metrics, "seconds": seconds,
                                        "wall_s": round(time.perf_counter() - t0, 3),
                                        "time": time.strftime("%Y-%m-%d %H:%M:%S")})
    print("evaluated: " + ", ".join(f"{m}/{k} {v:.4g}" for m, d in metrics.items() for k, v in d.items()),
          file=sys.stderr)
    return 0


def sample_grid(job: dict, seed_dir: Path, done: dict, device: str) -> None:
    """``SEED_DIR/samples.png``: the final generator's samples (latents seeded by the job's grid seed, the same
    for every run); 2-D points as a scatter over the data's modes."""
    import torch
    from PIL import Image
    from gancompose.runner import load_for_sampling
    from gancompose.sampling import generate, scatter_image, to_grid_image
    ckpt = seed_dir / done["checkpoint"]
    out = seed_dir / SAMPLES
    if out.is_file() and out.stat().st_mtime >= ckpt.stat().st_mtime:
        return
    run = load_for_sampling(ckpt, device=device)
    points = tuple(run.dataset.sample_shape) == (2,)
    n = job.get("grid_points", 1000) if points else job.get("grid_images", 16)
    samples = generate(run, n, seed=job.get("grid_seed", 0))
    image = None
    if points:
        from gancompose.commands.evaluate import attach_data
        from gancompose.registry import default_registry
        attach_data(run, default_registry())
        centers, std = getattr(run.dataset, "centers", None), getattr(run.dataset, "std", None)
        if centers is not None and std is not None:
            try:
                from gancompose_core.metrics import mode_scatter_image, mode_statistics
                s = mode_statistics(samples, centers, std)
                image = mode_scatter_image(samples, centers, std, good=s["good"], size=320)
            except ImportError:  # the core plugin is not installed: a plain scatter
                image = None
        if image is None:
            grid = scatter_image(samples, size=320)
    if image is None:
        if not points:
            grid = to_grid_image(samples, nrow=max(1, int(n ** 0.5)))
        array = (grid.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
        image = Image.fromarray(array)
    tmp = out.with_name(".samples.tmp.png")
    image.save(tmp)
    tmp.replace(out)


def _watch_parent(interval: float = 1.0) -> None:
    """Stop as a SIGTERM would (a checkpoint, then exit) when the process that started this one is gone: a sweep
    killed outright must not leave its runs training on, unseen, while the next sweep resumes them."""
    import os
    import threading
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, _raise_interrupt)
    _watch_parent()
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    seed_dir = Path(job["seed_dir"]).resolve()
    try:
        import torch
        torch.set_num_threads(int(job.get("threads", 1)))
        from gancompose.builder import resolve_device
        from gancompose.errors import GancomposeError
        from gancompose.recipe import load_recipe
        try:
            recipe = load_recipe(job["recipe"], job["overrides"])
        except GancomposeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            append_attempt(seed_dir, {"status": "failed", "error": str(exc), "start_step": 0, "end_step": 0})
            return 1
        if fingerprint(recipe, data_seed_follows=job.get("vary_data", False)) != job["fingerprint"]:
            error = "the recipe changed on disk since the sweep started: not the recipe this folder holds runs of"
            print(f"error: {error}", file=sys.stderr)
            append_attempt(seed_dir, {"status": "failed", "error": error, "start_step": 0, "end_step": 0})
            return 1
        done = read_json(seed_dir / DONE)
        if done is None:
            status, code = train(recipe, seed_dir)
            if status != "finished":
                return code
            done = read_json(seed_dir / DONE)
        if done.get("status") != "finished":
            return 0
        device = str(resolve_device(recipe.train.device))
        code = evaluate(job, seed_dir, done, device)
        sample_grid(job, seed_dir, done, device)
        return code
    except KeyboardInterrupt:
        signum = _received[-1] if _received else signal.SIGINT
        print(f"stopped ({_signal_name(signum)})", file=sys.stderr)
        return 128 + int(signum)


if __name__ == "__main__":
    sys.exit(main())
