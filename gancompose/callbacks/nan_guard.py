"""Numerical faults: a non-finite (NaN/Inf) loss or weight stops the run, or rolls it back (``train.on_nan``).

Detection costs no host sync per step: the loop keeps, on the device, the first step whose total loss was
not finite (``StepLogs.watch``); this guard reads it every ``train.log_every`` steps, and before every
checkpoint and at the end it also checks that every weight is finite (a non-finite gradient with a finite
loss shows up there, or as a non-finite loss one step later). So no checkpoint with a non-finite loss
or weight is ever written: the last checkpoint is always a good one. ``on_nan = "skip"`` is decided in
the loop itself, before each optimizer step (one host sync per step).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import torch

from gancompose.errors import GancomposeError


class NonFiniteError(GancomposeError):
    """Training produced a non-finite loss or weight and ``train.on_nan`` says stop."""


@dataclass
class Fault:
    step: int  # the step counter when the non-finite value was produced (the step that ran from it)
    losses: dict[str, float] = field(default_factory=dict)  # loss key -> its non-finite value
    networks: list[str] = field(default_factory=list)  # networks with non-finite weights
    reason: str = ""

    def describe(self) -> str:
        if self.losses:
            what = ", ".join(f"{k} = {v}" for k, v in self.losses.items())
            text = f"non-finite loss at step {self.step}: {what}"
        elif self.networks:
            text = f"non-finite weights by step {self.step} in {', '.join(map(repr, self.networks))}"
        else:
            text = f"non-finite loss at step {self.step}"
        return text + (f" ({self.reason})" if self.reason else "")


def nonfinite_networks(run) -> list[str]:
    """Networks with a non-finite parameter (one fused kernel and one host sync for all of them)."""
    names, flags = [], []
    for name, net in run.networks.items():
        params = [p.detach() for p in net.parameters()]
        if params:
            names.append(name)
            flags.append(torch.isfinite(torch.stack(torch._foreach_norm(params, float("inf")))).all())
    if not flags:
        return []
    ok = torch.stack(flags).tolist()
    return [n for n, good in zip(names, ok) if not good]


class NaNGuard:
    """Checks for non-finite losses at the log interval and before checkpoints; stops or rolls back.
    Must come before the metrics log (which resets the sums) and the checkpointer in the callback list."""

    def __init__(self, log_every: int, checkpoint_every: int, until: int,
                 last_good: Callable[[], Path | None], on_rollback: Iterable[Callable] = (), console=None):
        self.log_every, self.checkpoint_every, self.until = log_every, checkpoint_every, until
        self.last_good, self.on_rollback, self.console = last_good, list(on_rollback), console
        self.rollbacks = 0
        self._logs, self._checked = None, -1

    def on_train_start(self, run) -> None:
        pass

    def _check(self, run, logs, weights: bool) -> Fault | None:
        found = logs.fault()
        if found is not None:
            return Fault(found[0], found[1])
        if weights:
            bad = nonfinite_networks(run)
            if bad:
                return Fault(run.state.step, networks=bad)
        return None

    def on_step_end(self, run, logs) -> None:
        mode = run.recipe.train.on_nan
        self._logs = logs
        if mode == "skip" or run.fault is not None:
            return
        step = run.state.step
        ckpt_due = bool(self.checkpoint_every) and step % self.checkpoint_every == 0
        final = step >= self.until
        if not (step % self.log_every == 0 or ckpt_due or final):
            return
        fault = self._check(run, logs, weights=ckpt_due or final)
        self._checked = step if (ckpt_due or final) else -1
        if fault is None:
            return
        if mode == "rollback" and self._rollback(run, logs, fault):
            return
        self._stop(run, logs, fault)

    def on_train_end(self, run) -> None:
        """Before the checkpoint written at the end (an interrupted run stops between intervals)."""
        if (self._logs is not None and run.recipe.train.on_nan != "skip" and run.fault is None
                and self._checked != run.state.step):
            fault = self._check(run, self._logs, weights=True)
            if fault is not None:
                self._stop(run, self._logs, fault)

    def _stop(self, run, logs, fault: Fault) -> None:
        run.fault = fault
        run.stop_requested = True
        logs.clear_fault()

    def _rollback(self, run, logs, fault: Fault) -> bool:
        from gancompose.checkpoint import Checkpoint, restore_run
        spec = run.recipe.train
        path = self.last_good()
        if self.rollbacks >= spec.max_rollbacks:
            fault.reason = f"after {self.rollbacks} rollbacks"
            return False
        if path is None or not Path(path).is_file():
            fault.reason = "no checkpoint to roll back to yet"
            return False
        restore_run(run, Checkpoint(path))
        for opt in run.optimizers.values():
            for group in opt.param_groups:
                group["initial_lr"] = group.get("initial_lr", group["lr"]) * spec.rollback_lr_factor
                group["lr"] *= spec.rollback_lr_factor
        self.rollbacks += 1
        logs.reset()
        logs.clear_fault()
        for hook in self.on_rollback:
            hook(run)
        if self.console is not None:
            self.console.print(f"[yellow]{fault.describe()}: rolled back to step {run.state.step} ({path}), "
                               f"learning rates x{spec.rollback_lr_factor} (rollback {self.rollbacks} of "
                               f"{spec.max_rollbacks})[/]")
        return True
