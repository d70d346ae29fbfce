"""What one training step is made of: phases of weighted terms, declared by a schedule.

A *term* is a small callable ``term(ctx) -> scalar Tensor`` with a ``name``, a ``weight`` and an
interval ``every``: a lazy term fires on steps divisible by it, its weight multiplied by ``every``
so that its average contribution stays the same (StyleGAN2's lazy regularization). A *phase* sums its active
terms, calls ``backward()`` once and steps the optimizers of the networks it trains. A *schedule*
(a ``register_schedules`` component) says which phases a step runs; it must be a pure function of
the step counter so that a resumed run is exact.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch
from pydantic import Field, PositiveInt

from gancompose.params import Params


@runtime_checkable
class Term(Protocol):
    name: str
    weight: float
    every: int

    def __call__(self, ctx) -> torch.Tensor: ...


@dataclass(frozen=True)
class Phase:
    """One optimisation phase of a step.

    name: used in logs (``discriminator/adversarial``).
    terms: summed into the phase's loss, each times ``weight * every`` on the steps it fires.
    optimizers: names of the networks whose optimizers step after ``backward()``.
    frozen: networks whose parameters need no gradient in this phase (saves their weight-gradient work).
    repeat: how many times the phase runs per step (``n_critic``), each time on fresh data and latents.
    reuse: step-cached tensors (e.g. ``"fake"``) this phase may take from an earlier phase of the step
        instead of recomputing them.
    constraints: :class:`Constraint` regularizers, whose ``after_step(ctx)`` runs after the optimizers stepped
        (weight clipping).
    """
    name: str
    terms: tuple[Term, ...]
    optimizers: tuple[str, ...]
    frozen: tuple[str, ...] = ()
    repeat: int = 1
    reuse: tuple[str, ...] = ()
    constraints: tuple = ()


class ScheduleParams(Params):
    """Base of a schedule's parameter model (optional: any :class:`gancompose.Params` works). It declares, with a
    default that declares nothing, what the builder asks the schedule before any network is built."""

    def network_inputs(self, sample_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """Networks with ``input = "data"`` that this schedule feeds something else than one data sample of
        ``sample_shape``, by name, with the per-sample shape they take: e.g. a discriminator that judges an
        (input, output) pair of images concatenated on the channels. The network is built and checked (its dry
        forward pass, ``explain``) on that shape."""
        return {}

    def translations(self) -> dict[str, str]:
        """Directions this schedule trains, by name, with the image-to-image network that translates each way
        (e.g. ``{"AtoB": "G_AB", "BtoA": "G_BA"}``): ``gancompose translate --direction NAME`` and translation
        metrics read them. Default: none."""
        return {}


def translations(params) -> dict[str, str]:
    """The directions a schedule's parameters declare (none when they are not a :class:`ScheduleParams`)."""
    return dict(params.translations()) if isinstance(params, ScheduleParams) else {}


class Schedule:
    """Base of every schedule (``register_schedules``): what each step of the one loop does. Subclasses set
    ``roles`` and implement :meth:`phases`; every other method the core calls is declared here with a default
    that does nothing, so the core never probes a schedule for attributes. A family overrides what it needs
    (the progressive schedule: before_step, prepare_batch, callbacks, status, describe, state; the cycle schedule:
    sample_grid and its image pools' state)."""

    #: role -> network name (e.g. {"generator": "generator", "discriminator": "discriminator"})
    roles: dict[str, str] = {}

    def phases(self, step: int) -> list[Phase]:
        """The phases of step ``step``: a pure function of the step, so a resumed run is exact."""
        raise NotImplementedError

    def before_step(self, run) -> None:
        """Set what the step needs from the counters in ``run.state`` (batch size, resolution, learning rates),
        before the phases run; a plan computed from images seen, applied by the loop."""

    def prepare_batch(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The real batch as the networks take it this step (e.g. reals at the current resolution)."""
        return batch

    def status(self, run) -> dict[str, str]:
        """Where the schedule is, for the progress display (e.g. resolution and fade-in alpha)."""
        return {}

    def describe(self) -> list[str]:
        """Lines ``gancompose explain`` prints after the phase table (e.g. a staged schedule's timeline)."""
        return []

    def partial_networks(self) -> set[str]:
        """Networks part of whose parameters a step may leave out of the graph (a growing network's blocks above
        the current resolution): under torchrun their replicas look for unused parameters every step."""
        return set()

    def callbacks(self, run, run_dir: Path) -> list:
        """Callbacks (:class:`gancompose.engine.Callback`) the schedule adds to a run writing the folder
        ``run_dir`` (process 0 under torchrun), after the core's: e.g. a sample grid at the end of every stage."""
        return []

    def sample_grid(self, run, n: int) -> tuple[torch.Tensor, int] | None:
        """``(images, row length)`` of the schedule's own sample grid, or None for the default grid of samples."""
        return None

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The schedule's own state, checkpointed as ``schedule.<key>`` (e.g. image pools, growth)."""
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore what :meth:`state_dict` returned (on --resume and rollback)."""


class RegularizerParams(Params):
    """Common parameters of every regularizer term."""
    weight: float = Field(1.0, description="multiplies the term")
    every: PositiveInt = Field(1, description="apply on steps divisible by this (lazy regularization)")
    network: str = Field("discriminator", description="the network it regularizes; it joins the phase that "
                                                      "trains this network")


class RegularizerTerm:
    """Base for regularizer terms: takes weight, interval and network from its :class:`RegularizerParams`.

    Constructed as ``Term(params)`` with the recipe's table validated against the component's parameter
    model. Subclasses implement ``__call__(ctx) -> Tensor``: a scalar, **unweighted** (the loop multiplies it by
    ``weight * every`` on the steps it fires, adds it to the phase's loss and owns ``backward()``).
    ``name`` is the term's log key in its phase (``discriminator/NAME`` in metrics.jsonl); it defaults to the
    component's registered name (the recipe's ``type``), so two plugin terms never share a key. Two terms of
    one recipe with the same name on the same network log as ``NAME_I``, ``I`` being their index in
    ``[[regularizers]]``.
    """
    #: the log key; None: the registered name of the component (the ``type`` in the recipe)
    name: str | None = None
    #: set by :class:`Constraint` (a subclass may define ``after_step`` only there)
    _constraint = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "after_step" in vars(cls) and not cls._constraint:
            raise TypeError(f"{cls.__qualname__} defines after_step, so it is a constraint: subclass "
                            "gancompose.engine.Constraint instead of RegularizerTerm (a schedule runs a Constraint's "
                            "after_step; a RegularizerTerm is summed into the loss)")

    def __init__(self, params: RegularizerParams):
        self.params = params
        self.weight = params.weight
        self.every = params.every
        self.network = params.network
        self.name = type(self).name or getattr(params, "type", None) or type(self).__name__.lower()

    def __call__(self, ctx) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class Constraint(RegularizerTerm):
    """Base for a regularizer that is a constraint rather than a loss term (WGAN's weight clipping): the schedule
    puts it in the ``constraints`` of the phase that trains its network, and the loop calls :meth:`after_step`
    after that phase's optimizers stepped, on the steps divisible by ``every``. It adds nothing to the loss
    (``weight`` is unused)."""
    _constraint = True

    def after_step(self, ctx) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, ctx) -> torch.Tensor:
        raise TypeError(f"{type(self).__name__} is a constraint: a schedule runs its after_step, not a loss term")
