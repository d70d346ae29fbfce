"""The loss terms of a paired translation (pix2pix), and what a term sees of a pair.

A generator-side view reads ``real`` = a batch of A, ``fake`` = G(A) (with its graph), ``target_real`` = the
paired batch of B, ``generator`` = G, ``discriminator`` = D; a discriminator-side view reads ``real`` = B and
``fake`` = G(A) detached. On both, ``discriminate(x)`` and ``network(D)`` judge ``x`` *given A*: ``D(x, A)``, the
pair (A, x), as the official ``netD(torch.cat((real_A, x), 1))`` (with ``conditional = false`` on the schedule:
``D(x)`` alone, the paper's unconditional ablation). So a term written for the single-pair schedule (R1, a gradient
penalty, drift) works unchanged on the paired discriminator: its gradient is taken with respect to B, A held fixed.

    pair_reconstruction on G:   distance(G(A), B)       official loss_G_L1 (lambda_L1 = 100, L1)
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from gancompose.engine import RegularizerParams, RegularizerTerm
from gancompose.engine.views import ContextView

DISTANCES = {"l1": F.l1_loss, "l2": F.mse_loss, "smooth_l1": F.smooth_l1_loss}


class _Given:
    """A discriminator called with the pair's A: ``net(x) = D(x, A)`` (``D(x)`` for an unconditional one); every
    other attribute is the network's own."""

    def __init__(self, net, condition: torch.Tensor | None):
        self.__dict__.update(_net=net, _condition=condition)

    def __call__(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        return self._net(x) if self._condition is None else self._net(x, self._condition)

    def __getattr__(self, name):
        return getattr(self._net, name)


class _View(ContextView):
    @property
    def source(self) -> torch.Tensor:
        """The batch of A (the input images, the discriminator's condition)."""
        return self.ctx.batch["A"]

    @property
    def target_real(self) -> torch.Tensor:
        """The batch of B paired with it."""
        return self.ctx.batch["B"]

    @property
    def generator(self) -> torch.nn.Module:
        return self.ctx.network(self.pair.roles["G"])

    @property
    def discriminator(self) -> _Given:
        return _Given(self.ctx.network(self.pair.roles["D"]), self.source if self.pair.conditional else None)

    def network(self, name: str):
        """The network ``name``; the discriminator given A, so a term written for one pair scores pairs."""
        return self.discriminator if name == self.pair.roles["D"] else self.ctx.network(name)

    def net(self, role: str):
        """The network playing ``role``: "G"/"generator" or "D"/"discriminator"."""
        return self.network(self.pair.roles[{"generator": "G", "discriminator": "D"}.get(role, role)])

    def discriminate(self, x: torch.Tensor, labels=None, role: str | None = None) -> torch.Tensor:
        return self.discriminator(x)

    @property
    def translated(self) -> torch.Tensor:
        """G(A), computed once per step (the discriminator phase makes it, the generator phase reuses it)."""
        return self.ctx.remember("fake_B", lambda: self.generator(self.source))


class GeneratorView(_View):
    @property
    def real(self) -> torch.Tensor:
        return self.source

    @property
    def fake(self) -> torch.Tensor:
        return self.translated


class DiscriminatorView(_View):
    @property
    def real(self) -> torch.Tensor:
        return self.target_real

    @property
    def fake(self) -> torch.Tensor:
        """G(A) as the discriminator sees it: detached, no gradient reaches the generator."""
        return self.ctx.remember("fake_B_detached", lambda: self.translated.detach())


# ------------------------------------------------------------------------------------- terms
class PairDiscriminatorAdversarial:
    """loss.discriminator(D(B | A), D(G(A).detach() | A)); the fake pair first, as the official backward_D (the
    order reaches batch norm's running statistics)."""
    name, weight, every = "adversarial", 1.0, 1

    def __init__(self, loss):
        self.loss = loss

    def __call__(self, view) -> torch.Tensor:
        fake_out = view.discriminate(view.fake)
        real_out = view.discriminate(view.real)
        return self.loss.discriminator(real_out, fake_out)


class PairReconstructionParams(RegularizerParams):
    network: str = Field(description="the generator of the pair (e.g. 'G'): the term joins its phase")
    distance: Literal["l1", "l2", "smooth_l1"] = Field("l1", description="mean distance between G(A) and B "
                                                                         "(pix2pix: l1, less blurring than l2)")


class PairReconstruction(RegularizerTerm):
    """distance(G(A), B): the translation should be near the paired target, pixel for pixel (pix2pix's L1 term,
    weight lambda_L1 = 100). Needs paired data and the ``paired`` schedule."""
    name = "reconstruction"
    requires = ("image_pair",)

    def __init__(self, p: PairReconstructionParams):
        super().__init__(p)
        self.distance = DISTANCES[p.distance]

    def __call__(self, view) -> torch.Tensor:
        return self.distance(view.fake, view.target_real)


REGULARIZERS = [("pair_reconstruction", PairReconstruction, PairReconstructionParams)]
