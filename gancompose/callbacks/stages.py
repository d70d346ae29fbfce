"""A sample grid at the end of every stage of a staged schedule (progressive growing):
``samples/stage_<stage>_step_NNNNNNN.png``.

A schedule with ``stage(images_seen) -> str`` names its stages; when the name changes after a step, the grid
shows the networks as the finished stage left them. Schedules without stages write nothing.
"""
from __future__ import annotations

from pathlib import Path

from gancompose.sampling import generate, save_grid


class StageGrid:
    def __init__(self, folder: Path, n: int, seed: int):
        self.folder, self.n, self.seed = Path(folder), n, seed
        self.current: str | None = None
        self.written: list[Path] = []

    def _stage(self, run) -> str | None:
        return run.schedule.stage(run.state.images_seen)

    def _write(self, run, stage: str) -> None:
        path = self.folder / f"stage_{stage}_step_{run.state.step:07d}.png"
        self.written.append(save_grid(generate(run, self.n, seed=self.seed), path))

    def on_train_start(self, run) -> None:
        self.current = self._stage(run)

    def on_step_end(self, run, logs) -> None:
        if self.current is None:
            return
        stage = self._stage(run)
        if stage != self.current:
            self._write(run, self.current)
            self.current = stage

    def on_train_end(self, run) -> None:
        if self.current is not None and run.state.step > 0:
            self._write(run, self.current)  # the stage training stopped in
