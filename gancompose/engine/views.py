"""Views of a step's context for schedules with more than one pair of networks (image-to-image families).

A term reads the :class:`gancompose.engine.context.StepContext` vocabulary: ``real``, ``fake``, ``generator``,
``discriminator``, ``discriminate``. A schedule that trains several networks per role (two generators and two
discriminators, or a discriminator that judges pairs) gives each term a *view*: a :class:`ContextView` subclass
that binds that vocabulary to one direction or one side, while everything that does not depend on it (the run, the
step, the batch, the cache, logging, the networks by name) stays the context's. A term written for the single-pair
schedule (R1, a gradient penalty, drift) then works unchanged on a view. :class:`BoundTerm` is how a schedule puts
a term on a view in a phase.
"""
from __future__ import annotations

from typing import Callable

import torch

from gancompose.engine.phases import RegularizerTerm


class ContextView:
    """The part of a step context that does not depend on the direction or side; ``pair`` is the schedule that
    made the view. Subclasses add ``real``, ``fake``, ``generator``, ``discriminator`` and ``discriminate``."""

    def __init__(self, ctx, pair):
        self.ctx, self.pair = ctx, pair

    @property
    def run(self):
        return self.ctx.run

    @property
    def step(self) -> int:
        return self.ctx.step

    @property
    def device(self) -> torch.device:
        return self.ctx.device

    @property
    def batch_size(self) -> int:
        return self.ctx.batch_size

    @property
    def batch(self) -> dict[str, torch.Tensor]:
        return self.ctx.batch

    def remember(self, key: str, make):
        return self.ctx.remember(key, make)

    def log(self, name: str, value: torch.Tensor) -> None:
        self.ctx.log(name, value)

    def network(self, name: str) -> torch.nn.Module:
        return self.ctx.network(name)

    def eager(self):
        return self.ctx.eager()

    # unconditional in the class sense: image-to-image views translate images, they do not generate classes
    labels = fake_labels = None

    def real_or_fake_labels(self, fake: bool) -> None:
        return None


class TranslationAdversarial:
    """The generator's adversarial term on a generator-side view: ``loss.generator(D(fake), D(target_real))``,
    the second only for a loss that reads real outputs (relativistic): a translation should pass for a real image
    of its target. Views give ``fake``, ``target_real`` and ``discriminate``."""
    name, weight, every = "adversarial", 1.0, 1

    def __init__(self, loss):
        self.loss = loss

    def __call__(self, view) -> torch.Tensor:
        real_out = view.discriminate(view.target_real) if self.loss.needs_real_for_generator else None
        return self.loss.generator(view.discriminate(view.fake), real_out)


class BoundTerm:
    """A term evaluated on a view: ``term(make_view(ctx))``, under its own log name and weight (the term's when
    not given); its interval and network are the term's."""

    def __init__(self, term, make_view: Callable[[object], ContextView], name: str | None = None,
                 weight: float | None = None):
        self.term, self.make_view = term, make_view
        self.name = name or term.name
        self.weight = term.weight if weight is None else weight
        self.every = term.every
        #: the network a regularizer term names (None for a schedule's own terms)
        self.network = term.network if isinstance(term, RegularizerTerm) else None

    def __call__(self, ctx) -> torch.Tensor:
        return self.term(self.make_view(ctx))

