"""Metrics from ``[[metrics]]``, computed every ``every`` steps and at the end, appended to metrics.jsonl."""
from __future__ import annotations

import json
from pathlib import Path

import torch


class Evaluation:
    def __init__(self, path: Path, metrics: list[tuple[str, int, object]]):
        self.path, self.metrics = Path(path), metrics  # (name, every, fn(run) -> dict)
        self.done_at: int | None = None
        self.latest: dict[str, float] = {}

    def on_train_start(self, run) -> None:
        run.run_dir = self.path.parent  # where metrics may write files (mode scatter plots, cached classifiers)

    def _evaluate(self, run, due) -> None:
        record: dict = {"step": run.state.step}
        # metrics sample with their own generators: the training RNG stream must stay untouched
        with torch.random.fork_rng(devices=[run.device] if run.device.type == "cuda" else []):
            for name, _, fn in due:
                record.update({f"{name}/{k}": float(v) for k, v in fn(run).items()})
        self.latest.update(record)
        self.done_at = run.state.step
        with self.path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")

    def on_step_end(self, run, logs) -> None:
        due = [m for m in self.metrics if run.state.step % m[1] == 0]
        if due:
            self._evaluate(run, due)

    def on_train_end(self, run) -> None:
        if self.metrics and self.done_at != run.state.step:
            self._evaluate(run, self.metrics)
