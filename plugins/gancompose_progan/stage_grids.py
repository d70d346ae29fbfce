"""A sample grid at the end of every stage of progressive growing: ``samples/stage_<stage>_step_NNNNNNN.png``,
showing the networks as the finished stage left them (the last one where training stopped). The progressive
schedule adds it to a run through :meth:`gancompose.engine.Schedule.callbacks`.
"""
from __future__ import annotations

from pathlib import Path

from gancompose.engine import Callback
from gancompose.sampling import generate, save_grid


class StageGrid(Callback):
    def __init__(self, folder: Path, n: int, seed: int, stage):
        """``stage(images_seen) -> str``: the name of the stage (a new name: a stage ended)."""
        self.folder, self.n, self.seed, self.stage = Path(folder), n, seed, stage
        self.current: str | None = None
        self.written: list[Path] = []

    def _write(self, run, stage: str) -> None:
        path = self.folder / f"stage_{stage}_step_{run.state.step:07d}.png"
        self.written.append(save_grid(generate(run, self.n, seed=self.seed), path))

    def on_train_start(self, run) -> None:
        self.current = self.stage(run.state.images_seen)

    def on_step_end(self, run, logs) -> None:
        stage = self.stage(run.state.images_seen)
        if stage != self.current:
            self._write(run, self.current)
            self.current = stage

    def on_train_end(self, run) -> None:
        if run.state.step > 0:
            self._write(run, self.current)  # the stage training stopped in
