"""TensorBoard logging (``train.tensorboard = true`` or ``gancompose run --tensorboard``): event files in
``RUN/tensorboard/`` with what the other callbacks already computed, so nothing is evaluated twice.

- ``loss/<phase>/<term>``: the mean losses of every ``train.log_every`` interval (as in metrics.jsonl),
  ``speed/img_per_s`` beside them;
- ``lr/<network>``: each optimizer's learning rate at those steps (after its LR schedule);
- ``metrics/<metric>/<key>``: the ``[[metrics]]`` values, when they are computed;
- ``samples``: the sample grid, the same image as ``samples/step_*.png``.

``tensorboard --logdir runs`` then shows every run. TensorBoard is an optional extra:
``pip install "gancompose[tensorboard]"``.
"""
from __future__ import annotations

from pathlib import Path

from gancompose.errors import RecipeError

INSTALL_HINT = 'pip install "gancompose[tensorboard]"'


def summary_writer_class(file: str | None = None):
    """``torch.utils.tensorboard.SummaryWriter``, or a RecipeError naming the extra to install."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise RecipeError("TensorBoard logging is on, but the tensorboard package is not installed",
                          key=["train", "tensorboard"], file=file,
                          hint=f"{INSTALL_HINT}, or turn it off (train.tensorboard = false)") from None
    return SummaryWriter


class TensorBoard:
    """Writes losses, learning rates, metrics and sample grids to TensorBoard event files."""

    def __init__(self, folder: Path, metrics, samples=None, evaluation=None, writer_class=None):
        self.folder = Path(folder)
        self.metrics, self.samples, self.evaluation = metrics, samples, evaluation
        self.writer_class = writer_class or summary_writer_class()
        self.writer = None
        self._record = self._grid = None
        self._evaluated_at: int | None = None

    def on_train_start(self, run) -> None:
        # a resumed run drops the events an interrupted run wrote after its checkpoint
        step = run.state.step  # events after it (written after the checkpoint resumed from) are purged
        self.writer = self.writer_class(log_dir=str(self.folder), purge_step=step + 1 if step else None)
        self._record = self.metrics.latest or None
        self._grid = self.samples.last
        self._evaluated_at = self.evaluation.done_at if self.evaluation is not None else None

    def _write(self, run) -> None:
        step = run.state.step
        rec = self.metrics.latest
        if rec and rec is not self._record:  # a new metrics.jsonl line
            self._record = rec
            for key, value in rec.items():
                if "/" in key:
                    self.writer.add_scalar(f"loss/{key}", value, rec["step"])
            if "img_per_s" in rec:
                self.writer.add_scalar("speed/img_per_s", rec["img_per_s"], rec["step"])
            for name, opt in run.optimizers.items():
                self.writer.add_scalar(f"lr/{name}", opt.param_groups[0]["lr"], rec["step"])
        ev = self.evaluation
        if ev is not None and ev.done_at is not None and ev.done_at != self._evaluated_at:
            self._evaluated_at = ev.done_at
            # the metrics evaluated now: those due at this step, or all of them (the evaluation at the end)
            due = [name for name, every, _ in ev.metrics if ev.done_at % every == 0] or [m[0] for m in ev.metrics]
            for key, value in ev.latest.items():
                if key.split("/")[0] in due:
                    self.writer.add_scalar(f"metrics/{key}", value, ev.done_at)
        grid = self.samples.last
        if grid is not None and grid != self._grid and grid.exists():
            self._grid = grid
            self.writer.add_image("samples", _read_png(grid), step, dataformats="HWC")

    def on_step_end(self, run, logs) -> None:
        self._write(run)

    def on_train_end(self, run) -> None:
        self._write(run)  # the last interval, evaluation and grid are written in the other callbacks' on_train_end
        self.writer.close()


def _read_png(path: Path):
    import numpy as np
    from PIL import Image
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))
