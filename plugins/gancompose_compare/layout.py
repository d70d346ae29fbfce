"""The files of a sweep on disk; what the worker writes and the sweep reads back.

::

    REPORT_DIR/
      report.md  report.json  curves/  samples/
      runs/LABEL/FINGERPRINT/recipe.toml          the recipe (after --set) every seed of it trains
      runs/LABEL/FINGERPRINT/seed_S/
          job.json        what the worker was asked to do
          log.txt         the worker's output, every attempt appended
          attempts.jsonl  one line per training attempt: steps, status (finished, interrupted, failed, diverged),
                          wall seconds, CPU seconds, signal or error
          done.json       written atomically once the run trained to its last step ("finished") or stopped on a
                          numerical fault ("diverged"): a seed with this file is never trained again
          eval.json       the final checkpoint's metrics, with the key of the metrics asked for
          samples.png     a sample grid (2-D data: a scatter over the modes) of the final generator
          NAME/STAMP/     the run folder itself (recipe.toml, metrics.jsonl, checkpoints/, samples/)

FINGERPRINT is a hash of the recipe after ``--set``, without what cannot change the trained weights (train.seed,
which is the folder seed_S, and where and how often the run writes, [[metrics]]): a sweep reuses a run only when
it trains exactly the same thing. A seed folder without done.json is trained: resumed from its run folder's
``checkpoints/last.safetensors`` when there is one (the checkpoint an interrupted run wrote when it stopped), else
from scratch.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

DONE, EVAL, ATTEMPTS, SAMPLES, JOB, LOG = "done.json", "eval.json", "attempts.jsonl", "samples.png", "job.json", \
    "log.txt"


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file renamed over it: a reader sees the old file or the
    whole new one, never a part."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_json(path: Path, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=1, default=str) + "\n")


def read_json(path: Path) -> dict | None:
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def read_attempts(seed_dir: Path) -> list[dict]:
    path = Path(seed_dir) / ATTEMPTS
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a line cut short by a kill
        if isinstance(rec, dict):
            out.append(rec)
    return out


def append_attempt(seed_dir: Path, record: dict) -> None:
    record = {"time": time.strftime("%Y-%m-%d %H:%M:%S"), **record}
    with (Path(seed_dir) / ATTEMPTS).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, default=str) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def checkpoint_step(path: Path) -> int | None:
    """The step of a checkpoint that reads whole, else None."""
    from gancompose.checkpoint import Checkpoint
    from gancompose.errors import CheckpointError
    try:
        return int(Checkpoint(path).counters()[0])
    except (CheckpointError, OSError, KeyError, ValueError, IndexError):
        return None


def run_folders(seed_dir: Path, name: str) -> list[Path]:
    base = Path(seed_dir) / name
    return sorted(p for p in base.glob("*") if p.is_dir() and (p / "recipe.toml").is_file()) if base.is_dir() else []


def resumable(seed_dir: Path, name: str) -> tuple[Path, int] | None:
    """The run folder to continue (the one whose last checkpoint is furthest) and that checkpoint's step."""
    best = None
    for folder in run_folders(seed_dir, name):
        step = checkpoint_step(folder / "checkpoints" / "last.safetensors")
        if step is not None and (best is None or step >= best[1]):
            best = (folder, step)
    return best


#: recipe keys left out of the fingerprint: the seed (the folder seed_S says it) and what only decides where and how
#: often a run writes or what it measures on the way, which cannot change the trained weights
NOT_FINGERPRINTED = ("train.seed", "train.output_dir", "train.log_every", "train.sample_every", "train.samples",
                     "train.checkpoint_every", "train.keep_checkpoints", "train.tensorboard", "train.num_workers",
                     "metrics", "description")


def fingerprint(recipe, *, data_seed_follows: bool = False) -> str:
    """A short hash of what ``recipe`` trains (sha256 of its resolved values, without :data:`NOT_FINGERPRINTED`;
    without ``data.seed`` too when the sweep sets it to each run's seed)."""
    import hashlib
    values = json.loads(json.dumps(recipe.model_dump(mode="json", exclude_none=True), default=str))
    for key in NOT_FINGERPRINTED + (("data.seed",) if data_seed_follows else ()):
        *parents, last = key.split(".")
        table = values
        for p in parents:
            table = table.get(p, {}) if isinstance(table, dict) else {}
        if isinstance(table, dict):
            table.pop(last, None)
    if data_seed_follows:
        values["__data_seed__"] = "train.seed"
    text = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:10]
