"""Checkpoints at intervals: ``checkpoints/step_NNNNNNN.safetensors`` (last N kept) and ``last.safetensors``."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from gancompose.checkpoint import save_checkpoint
from gancompose.errors import CheckpointError


class Checkpointer:
    def __init__(self, folder: Path, every: int, keep: int):
        self.folder, self.every, self.keep = Path(folder), every, keep
        self.last: Path | None = None

    def on_train_start(self, run) -> None:
        pass

    def save(self, run) -> Path:
        path = save_checkpoint(run, self.folder / f"step_{run.state.step:07d}.safetensors")
        last = self.folder / "last.safetensors"
        tmp = self.folder / ".last.safetensors.tmp"
        try:
            tmp.unlink(missing_ok=True)
            try:
                os.link(path, tmp)
            except OSError:
                shutil.copyfile(path, tmp)
            os.replace(tmp, last)  # atomic: last.safetensors is always a whole checkpoint
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise CheckpointError(f"cannot update {last}: {exc.strerror or exc} (it still holds the previous "
                                  f"checkpoint; {path} is whole)") from exc
        steps = sorted(self.folder.glob("step_*.safetensors"))
        for old in steps[:-self.keep]:
            old.unlink(missing_ok=True)
        self.last = path
        return path

    def on_step_end(self, run, logs) -> None:
        if run.fault is not None:  # never write a checkpoint holding non-finite values
            return
        if self.every and run.state.step % self.every == 0:
            self.save(run)

    def on_train_end(self, run) -> None:
        if run.fault is not None:
            return
        if not (self.last and self.last.name == f"step_{run.state.step:07d}.safetensors"):
            self.save(run)
