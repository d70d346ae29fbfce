"""Progress display: a rich bar with ETA, images/s and current losses, or plain log lines (``--quiet``)."""
from __future__ import annotations

import rich.progress as rp
from rich.console import Console

from gancompose.engine.augment import augmentation_status


def _losses(record: dict) -> str:
    """The interval's losses under their metrics.jsonl keys (``discriminator/adversarial 0.693``)."""
    return "  ".join(f"{k} {v:.4g}" for k, v in record.items() if "/" in k)


def rate(record: dict) -> str:
    """Speed in a unit that shows on slow runs too: ``1,234 img/s``, ``3.2 img/s``, ``4.5 s/img``."""
    ips = record.get("img_per_s", 0.0)
    if ips >= 100:
        return f"{ips:,.0f} img/s"
    if ips >= 1:
        return f"{ips:.1f} img/s"
    if ips > 0:
        return f"{1 / ips:.1f} s/img"
    return f"{record.get('sec_per_step', 0.0):.1f} s/step"


def _status(run) -> str:
    """What the schedule says about where it is (``schedule.status(run) -> dict``), e.g. ProGAN's stage,
    resolution and alpha; empty for schedules without it."""
    items = {**run.schedule.status(run), **augmentation_status(run.networks)}  # e.g. ProGAN's stage, ADA's p
    return "  ".join(f"{k} {v}" for k, v in items.items())


class Progress:
    def __init__(self, metrics, total: int, console: Console | None = None):
        self.metrics, self.total = metrics, total
        self.console = console or Console(stderr=True)
        self.bar = rp.Progress(
            rp.TextColumn("[bold]{task.description}"), rp.TextColumn("{task.fields[status]}"), rp.BarColumn(), rp.MofNCompleteColumn(),
            rp.TimeElapsedColumn(), rp.TextColumn("eta"), rp.TimeRemainingColumn(),
            rp.TextColumn("{task.fields[speed]}"), rp.TextColumn("{task.fields[losses]}"),
            console=self.console, transient=False)
        self.task = None

    def on_train_start(self, run) -> None:
        self.bar.start()
        self.task = self.bar.add_task(run.recipe.name or "train", total=self.total, completed=run.state.step,
                                      speed="", losses="", status=_status(run))

    def on_step_end(self, run, logs) -> None:
        rec = self.metrics.latest
        fields = {"speed": rate(rec), "losses": _losses(rec)} if rec else {}
        self.bar.update(self.task, completed=run.state.step, status=_status(run), **fields)

    def on_train_end(self, run) -> None:
        self.bar.stop()


class QuietLog:
    """One plain line per logged interval, for logs and CI."""

    def __init__(self, metrics, total: int, console: Console | None = None):
        self.metrics, self.total = metrics, total
        self.console = console or Console(stderr=True, highlight=False)
        self._last = None

    def on_train_start(self, run) -> None:
        pass

    def on_step_end(self, run, logs) -> None:
        rec = self.metrics.latest
        if rec and rec is not self._last:
            self._last = rec
            status = _status(run)
            self.console.print(f"step {rec['step']}/{self.total}  {status + '  ' if status else ''}"
                               f"{rate(rec)}  {_losses(rec)}")

    def on_train_end(self, run) -> None:
        pass
