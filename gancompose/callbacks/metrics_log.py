"""``metrics.jsonl``: one JSON line every ``train.log_every`` steps with mean losses and timing."""
from __future__ import annotations

import json
import time
from pathlib import Path


class MetricsLog:
    def __init__(self, path: Path, every: int):
        self.path, self.every = Path(path), every
        self.latest: dict[str, float] = {}
        self._t = self._step = self._images = None

    def on_train_start(self, run) -> None:
        self._truncate_after(run.state.step)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()  # there from the start, even for a run stopped before its first interval
        self._t, self._step, self._images = time.perf_counter(), run.state.step, run.state.images_seen
        self._logs = None

    def _truncate_after(self, step: int) -> None:
        """On resume, drop lines an interrupted run wrote after its last checkpoint."""
        if not self.path.exists():
            return
        keep = [line for line in self.path.read_text().splitlines() if line.strip()
                and json.loads(line).get("step", 0) <= step]
        self.path.write_text("".join(line + "\n" for line in keep))

    def on_step_end(self, run, logs) -> None:
        self._logs = logs
        step = run.state.step
        if (step % self.every and step != run.total_steps) or step == self._step:  # (nothing new after a rollback)
            return
        self._record(run, logs)

    def _record(self, run, logs) -> None:
        step = run.state.step
        now = time.perf_counter()
        losses = logs.means()  # one host sync per interval
        logs.reset()
        dt = max(now - self._t, 1e-9)
        record = {"step": step, "images_seen": run.state.images_seen,
                  "sec_per_step": dt / max(step - self._step, 1),
                  "img_per_s": (run.state.images_seen - self._images) / dt, **losses}
        if run.skipped_steps:  # train.on_nan = "skip": optimizer steps dropped so far
            record["skipped_steps"] = run.skipped_steps
        self._t, self._step, self._images = now, step, run.state.images_seen
        self.latest = record
        with self.path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")

    def on_train_end(self, run) -> None:
        """A run that stops between intervals (Ctrl-C, --max-steps, a stop before the first interval) logs the
        steps since the last line, so metrics.jsonl always ends at the last step trained."""
        if self._logs is not None and run.state.step != self._step and self._logs.means():
            self._record(run, self._logs)
