"""Sample grids at intervals: ``samples/step_NNNNNN.png`` (and ``samples/latest.png``, always the newest) from a
fixed latent batch, or the grid the
schedule draws itself (``schedule.sample_grid(run, n) -> (images, row length)``: a cycle pair shows its
translations side by side)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from gancompose.engine.context import is_conditional
from gancompose.sampling import class_labels, generate, save_grid


class SampleGrid:
    def __init__(self, folder: Path, every: int, n: int, seed: int):
        self.folder, self.every, self.n, self.seed = Path(folder), every, n, seed
        self.last: Path | None = None

    def on_train_start(self, run) -> None:
        pass

    def _write(self, run) -> None:
        self._draw(run, self.folder / f"step_{run.state.step:07d}.png")
        latest = self.folder / "latest.png"  # always the newest grid, replaced atomically
        tmp = self.folder / ".latest.png.tmp"
        shutil.copyfile(self.last, tmp)
        os.replace(tmp, latest)

    def _draw(self, run, path: Path) -> None:
        own = run.schedule.sample_grid(run, self.n)  # a schedule's own grid (a cycle pair's translations)
        if own is not None:
            images, nrow = own
            self.last = save_grid(images, path, nrow=nrow)
        elif is_conditional(run.networks[run.generator_name()]):  # one row per class
            per_class = max(1, self.n // run.num_classes)
            labels = class_labels(run.num_classes, per_class)
            self.last = save_grid(generate(run, len(labels), seed=self.seed, labels=labels), path, nrow=per_class)
        else:
            self.last = save_grid(generate(run, self.n, seed=self.seed), path)

    def on_step_end(self, run, logs) -> None:
        if self.every and run.state.step % self.every == 0:
            self._write(run)

    def on_train_end(self, run) -> None:
        if not (self.last and self.last.name == f"step_{run.state.step:07d}.png"):
            self._write(run)
