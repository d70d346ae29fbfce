"""Sample grids at intervals: ``samples/step_NNNNNN.png`` from a fixed latent batch."""
from __future__ import annotations

from pathlib import Path

from gancompose.sampling import generate, save_grid


class SampleGrid:
    def __init__(self, folder: Path, every: int, n: int, seed: int):
        self.folder, self.every, self.n, self.seed = Path(folder), every, n, seed
        self.last: Path | None = None

    def on_train_start(self, run) -> None:
        pass

    def _write(self, run) -> None:
        self.last = save_grid(generate(run, self.n, seed=self.seed), self.folder / f"step_{run.state.step:07d}.png")

    def on_step_end(self, run, logs) -> None:
        if self.every and run.state.step % self.every == 0:
            self._write(run)

    def on_train_end(self, run) -> None:
        if not (self.last and self.last.name == f"step_{run.state.step:07d}.png"):
            self._write(run)
