"""Numerical faults: a non-finite (NaN/Inf) loss or state stops the run, or rolls it back (``train.on_nan``).

Detection costs no host sync per step: the loop keeps, on the device, the first step whose total loss was
not finite or larger than ``train.max_loss`` (``StepLogs.record``); this guard reads it every ``train.log_every``
steps, and before every checkpoint and at the end it also checks that every tensor a checkpoint would hold is
finite: weights, buffers, EMA copies, optimizer states (Adam's ``exp_avg_sq`` overflows to Inf under huge finite
gradients while the weights and losses stay finite), the schedule's state. One fused max-abs per device and dtype,
one host sync. So no checkpoint with a non-finite loss or tensor is ever written (``save_checkpoint`` refuses
one too): the last checkpoint is always a good one. ``on_nan = "skip"`` is decided in the loop itself, before each
optimizer step (one host sync per step); a non-finite state found before a checkpoint cannot be skipped (the
step that made it is done), so under ``skip`` it stops the run as ``stop`` does.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import torch

from gancompose.checkpoint import nonfinite
from gancompose.errors import GancomposeError
from gancompose.faults import Fault


#: with on_nan = "skip": this many optimizer steps of one phase dropped in a row is a diverged run, stopped
SKIP_LIMIT = 20


class NonFiniteError(GancomposeError):
    """Training produced a non-finite loss or weight and ``train.on_nan`` says stop."""


def state_tensors(run) -> dict[str, torch.Tensor]:
    """Every tensor a checkpoint of ``run`` holds, on its device, by its checkpoint name (no copies)."""
    out: dict[str, torch.Tensor] = {}
    for prefix, modules in (("networks", run.networks), ("ema", run.ema)):
        for name, net in modules.items():
            for key, value in net.state_dict(keep_vars=True).items():
                out[f"{prefix}.{name}.{key}"] = value.detach()
    for name, opt in run.optimizers.items():
        for i, state in opt.state_dict()["state"].items():  # the indices of the checkpoint's names
            for key, value in state.items():
                if torch.is_tensor(value):
                    out[f"optimizers.{name}.{i}.{key}"] = value
    if run.schedule is not None:
        for key, value in run.schedule.state_dict().items():
            if torch.is_tensor(value):
                out[f"schedule.{key}"] = value
    return out


def nonfinite_state(run) -> list[str]:
    """The checkpoint names of the tensors of ``run`` that hold a NaN or an Inf (one host sync)."""
    return nonfinite(state_tensors(run))


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

    def _check(self, run, logs, state: bool) -> Fault | None:
        skip = run.recipe.train.on_nan == "skip"
        found = logs.fault() if not skip else None  # 'skip' dropped those steps
        if found is not None:
            return Fault(found[0], found[1], max_loss=logs.max_loss)
        if state:
            bad = nonfinite_state(run)
            if bad:
                reason = ("the step that made them is done: 'skip' cannot drop it"
                          if run.recipe.train.on_nan == "skip" else "")
                return Fault(run.state.step, tensors=bad, reason=reason)
        return None

    def on_step_end(self, run, logs) -> None:
        mode = run.recipe.train.on_nan
        self._logs = logs
        if run.fault is not None:
            return
        step = run.state.step
        stalled = logs.stalled(SKIP_LIMIT) if mode == "skip" else []
        if stalled:  # 'skip' is for a few bad steps; a phase that cannot take a step any more has diverged
            self._stop(run, logs, Fault(step, reason=f"the last {SKIP_LIMIT} optimizer steps of "
                                                     f"{', '.join(map(repr, stalled))} were all dropped by "
                                                     "train.on_nan = 'skip'"))
            return
        ckpt_due = bool(self.checkpoint_every) and step % self.checkpoint_every == 0
        final = step >= self.until
        if not (step % self.log_every == 0 or ckpt_due or final):
            return
        fault = self._check(run, logs, state=ckpt_due or final)
        self._checked = step if (ckpt_due or final) else -1
        if fault is None:
            return
        if mode == "rollback" and self._rollback(run, logs, fault):
            return
        self._stop(run, logs, fault)

    def on_train_end(self, run) -> None:
        """Before the checkpoint written at the end (an interrupted run stops between intervals)."""
        if self._logs is not None and run.fault is None and self._checked != run.state.step:
            fault = self._check(run, self._logs, state=True)
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
