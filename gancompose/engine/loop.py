"""The one training loop. It owns ``backward()``; everything variant-specific comes from the schedule.

    for each step:
        schedule.before_step(run), if it has one (batch size, base rates, resolution, alpha)
        set learning rates for this step
        for each phase the schedule gives for this step:
            repeat phase.repeat times:
                loss = sum(weight * every * term(ctx) for each term active at this step)   (under autocast)
                zero the phase's optimizers; loss.backward(); step them; apply constraints
        update EMA; advance counters; callbacks
"""
from __future__ import annotations

import contextlib
from collections import defaultdict
from typing import Iterable

import torch

from gancompose.engine.context import StepContext
from gancompose.performance.compile import PhaseInputs


class Callback:
    """Base of what runs between steps (gancompose/callbacks/, and what a schedule adds through
    :meth:`gancompose.engine.Schedule.callbacks`): every method has a default that does nothing."""

    def on_train_start(self, run) -> None:
        """Before the first step of this call to :func:`train` (also after a resume or a rollback)."""

    def on_step_end(self, run, logs: "StepLogs") -> None:
        """After every step; ``run.state.step`` counts it already."""

    def on_train_end(self, run) -> None:
        """After the last step (the run's end, or a stop)."""


class StepLogs:
    """Loss values kept on the device (no host sync per step) and read out on demand. A step only appends
    detached tensors (no device op per value: on a GPU, no kernel launch); they are summed together every
    :attr:`FOLD_EVERY` values of a key and when read."""

    def __init__(self, max_loss: float = 0.0) -> None:
        self._sums: dict[str, torch.Tensor] = {}  # folded: the sum of the key's values before _recent's
        self._counts: dict[str, int] = defaultdict(int)  # folded: how many values _sums holds
        self._recent: dict[str, list[torch.Tensor]] = {}  # not folded yet
        self._first_bad: torch.Tensor | None = None  # on the device: the first step with a non-finite loss, or -1
        self._pending: list[tuple[int, torch.Tensor]] = []  # (step, total) not yet checked
        self.max_loss = float(max_loss or 0.0)  # train.max_loss: a larger |loss| is a fault too (0: no bound)
        #: phase name -> optimizer steps dropped in a row by train.on_nan = "skip" (0 after a step is taken)
        self.dropped_in_a_row: dict[str, int] = defaultdict(int)

    #: values (phases' totals; one key's losses) kept before they are folded together (bounds the memory
    #: of a run without log reads)
    FOLD_EVERY = 256

    def _fold(self) -> None:
        """The first step whose total is non-finite (or beyond max_loss) among the pending ones, on the device."""
        if not self._pending:
            return
        values = torch.stack([t for _, t in self._pending]).float()  # (stack promotes mixed dtypes)
        steps = torch.tensor([s for s, _ in self._pending], dtype=torch.long).to(values.device, non_blocking=True)
        self._pending.clear()
        if self.max_loss:  # one compare covers NaN and Inf too (NaN <= x is false)
            bad = ~(values.abs() <= self.max_loss)
        else:
            bad = ~torch.isfinite(values)
        first = torch.where(bad, steps, torch.iinfo(torch.long).max).min()
        found = torch.where(first == torch.iinfo(torch.long).max, -1, first)
        self._first_bad = found if self._first_bad is None else torch.where(self._first_bad < 0, found,
                                                                            self._first_bad)

    def fault(self) -> tuple[int, dict[str, float]] | None:
        """``(first step with a non-finite loss, {loss key: its non-finite sum})`` or None; one host sync.
        Read before :meth:`reset` (the guard runs before the metrics log)."""
        self._fold()
        if self._first_bad is None:
            return None
        step = int(self._first_bad)
        if step < 0:
            return None
        means = self.means()
        bad = {k: v for k, v in means.items() if v != v or v in (float("inf"), float("-inf"))}
        if not bad and self.max_loss:  # finite, but beyond the bound: the interval's means that are
            bad = {k: v for k, v in means.items() if abs(v) > self.max_loss} or means
        return step, bad

    def clear_fault(self) -> None:
        self._first_bad = None
        self._pending.clear()

    def record(self, step: int, total: torch.Tensor, values: list[tuple[str, torch.Tensor]]) -> None:
        """One run of a phase: its total loss, kept for the finiteness check (no device work per step; checked
        together with the others when the guard reads :meth:`fault` or every :attr:`FOLD_EVERY` phases), and its
        ``(key, value)`` pairs for the logs."""
        detached = total.detach()
        self._pending.append((step, detached))
        if len(self._pending) >= self.FOLD_EVERY:
            self._fold()
        for key, value in values:
            self._keep(key, detached if value is total else value.detach())  # a phase of one term: its total

    def add(self, key: str, value: torch.Tensor) -> None:
        """Log ``value`` under ``key`` (outside a phase's :meth:`record`)."""
        self._keep(key, value.detach())

    def _keep(self, key: str, value: torch.Tensor) -> None:
        kept = self._recent.get(key)
        if kept is None:
            kept = self._recent[key] = []
        kept.append(value)
        if len(kept) >= self.FOLD_EVERY:
            self._fold_values(key, kept)

    def _fold_values(self, key: str, recent: list[torch.Tensor]) -> None:
        total = torch.stack(recent).float().sum()
        self._sums[key] = total if key not in self._sums else self._sums[key] + total
        self._counts[key] += len(recent)
        recent.clear()

    def means(self) -> dict[str, float]:
        for key, recent in self._recent.items():
            if recent:
                self._fold_values(key, recent)
        if not self._sums:
            return {}
        keys = list(self._sums)
        values = torch.stack([self._sums[k] / self._counts[k] for k in keys]).tolist()
        return dict(zip(keys, values))

    def stalled(self, limit: int) -> list[str]:
        """Phases whose last ``limit`` optimizer steps were all dropped (``on_nan = "skip"``)."""
        return [name for name, n in self.dropped_in_a_row.items() if n >= limit]

    def reset(self) -> None:
        self._sums.clear()
        self._counts.clear()
        self._recent.clear()


class _GradSwitch:
    """Freezes and unfreezes networks per phase, touching parameters only when the state changes.
    Unfreezing restores each parameter's flag as the run was built (``trainable = false`` and ``freeze``
    in the recipe keep their parameters frozen), never more."""

    def __init__(self, networks):
        self.networks = networks
        self.frozen: set[str] = set()
        self.built = {name: [(p, p.requires_grad) for p in net.parameters()] for name, net in networks.items()}

    def set(self, frozen: Iterable[str]) -> None:
        if not frozen and not self.frozen:  # (nothing frozen, nothing to freeze: most calls)
            return
        frozen = set(frozen)
        for name in frozen ^ self.frozen:
            if name in frozen:  # the parameter list of the build, not a walk over the modules at every phase
                for p, _ in self.built[name]:
                    p.requires_grad = False  # (the attribute: half the cost of requires_grad_())
            else:
                for p, flag in self.built[name]:
                    p.requires_grad = flag
        self.frozen = frozen


def run_step(run, step: int, logs: StepLogs, grads: _GradSwitch) -> None:
    if run.performance is not None and run.performance.cuda_graphs:
        torch.compiler.cudagraph_mark_step_begin()  # a new iteration: earlier replays' outputs may be reused
    run.schedule.before_step(run)  # batch size, base learning rates, resolution... from run.state (progressive growing)
    run.apply_lr(step)
    shared: dict = {}
    skip_bad = run.recipe.train.on_nan == "skip"
    for phase in run.schedule.phases(step):
        terms = [t for t in phase.terms if step % t.every == 0]
        if not terms:
            continue
        grads.set(phase.frozen)
        optimizers = [run.optimizers[name] for name in phase.optimizers]
        for _ in range(phase.repeat):
            ctx, total, values = _forward_backward(run, phase, terms, optimizers, step, shared)
            if skip_bad and not _all_finite(total, optimizers, logs.max_loss):  # one sync
                for opt in optimizers:
                    opt.zero_grad(set_to_none=True)
                run.skipped_steps += 1
                logs.dropped_in_a_row[phase.name] += 1
                continue
            logs.dropped_in_a_row[phase.name] = 0
            logs.record(step, total, values)
            for opt in optimizers:
                opt.step()
            for constraint in phase.constraints:
                if step % constraint.every == 0:
                    constraint.after_step(ctx)
    grads.set(())
    run.update_ema(step)


def _forward_backward(run, phase, terms, optimizers, step: int, shared: dict):
    """One run of a phase up to its gradients: the weighted terms under the run's autocast, then backward().
    A compiled network that fails in it goes back to eager and the phase runs again on the same inputs
    (gancompose/performance/compile.py)."""
    compiled = run.compiled if run.compiled is not None and run.compiled.compiled else None
    while True:
        if compiled is not None:
            inputs, known = PhaseInputs(run), set(shared)
            compiled.start()
        try:
            values: list = []
            keys: set = set()
            ctx = StepContext(run, step, shared, phase.reuse, log=values, trained=phase.optimizers, phase=phase.name)
            total = None
            with run.autocast():
                for term in terms:
                    scale = term.weight * term.every
                    value = term(ctx) if scale == 1 else term(ctx) * scale  # (an op less per term at weight 1)
                    key = f"{phase.name}/{term.name}"
                    values.append((key if key not in keys else f"{key}_{len(values)}", value))  # never merged
                    keys.add(key)
                    total = value if total is None else total + value
                total = ctx.touch_replicated(total)  # DDP: every parameter the phase's forwards used gets a gradient
            for opt in optimizers:
                opt.zero_grad(set_to_none=True)
            total.backward()
            return ctx, total, values
        except Exception as exc:
            if compiled is None or not compiled.fall_back(exc):
                raise
            for opt in optimizers:
                opt.zero_grad(set_to_none=True)
            for key in set(shared) - known:  # made by the failed attempt, possibly by the compiled graph
                del shared[key]
            inputs.restore()
            compiled = compiled if compiled.compiled else None


def _all_finite(total: torch.Tensor, optimizers, max_loss: float = 0.0) -> bool:
    """Whether the loss (within ``max_loss``, when it is not 0) and every gradient the optimizers would apply are
    finite (max-abs per tensor: one fused kernel for all gradients, no overflow for large finite ones)."""
    grads = [p.grad for opt in optimizers for group in opt.param_groups for p in group["params"]
             if p.grad is not None]
    ok = torch.isfinite(total.detach())
    if max_loss:
        ok = ok & (total.detach().abs() <= max_loss)
    if grads:
        ok = ok & torch.isfinite(torch.stack(torch._foreach_norm(grads, float("inf")))).all()
    return bool(ok)


def train(run, *, until: int | None = None, callbacks: Iterable[Callback] = ()) -> None:
    """Train ``run`` from its current step up to ``until`` (default: ``run.total_steps``)."""
    until = run.total_steps if until is None else until
    callbacks = list(callbacks)
    logs = StepLogs(run.recipe.train.max_loss)
    grads = _GradSwitch(run.networks)
    run.networks.train()
    switches = run.performance.cuda_switches() if run.performance is not None else contextlib.nullcontext()
    with switches:  # TF32 or exact fp32, cudnn.benchmark: as [performance] says
        for cb in callbacks:
            cb.on_train_start(run)
        while run.state.step < until and not run.stop_requested:
            run_step(run, run.state.step, logs, grads)
            run.state.step += 1
            for cb in callbacks:
                cb.on_step_end(run, logs)
            if run.dist is not None:  # torchrun: every rank stops at the same step
                run.dist.agree_on_stop(run)
        for cb in callbacks:
            cb.on_train_end(run)
