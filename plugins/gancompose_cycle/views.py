"""What a term sees inside a cycle pair: the StepContext vocabulary bound to one direction or one domain.

A generator-side view for the direction A -> B (the generator ``G_AB``) reads:
    real            a batch of A                    target_real   a batch of B
    fake            G_AB(real): a B image           reconstruction  G_BA(fake): back to A
    identity        G_AB(target_real): should leave B images unchanged
    discriminator   D_B, which judges G_AB's output
A discriminator-side view for domain B (``D_B``) reads ``real`` = a batch of B, ``fake`` = what D_B is
shown of G_AB's output (drawn through the image pool), ``discriminator`` = D_B. Any term written for
the single-pair schedule (a gradient penalty, R1, drift) works unchanged on a discriminator view.
Every tensor is computed once per step and shared by the terms and phases that read it.
"""
from __future__ import annotations

import torch

from gancompose.engine.views import ContextView

OTHER = {"A": "B", "B": "A"}


class _View(ContextView):
    def _generator(self, source: str, target: str) -> torch.nn.Module:
        return self.ctx.network(self.pair.roles[f"G_{source}{target}"])

    def _discriminator(self, domain: str) -> torch.nn.Module:
        return self.ctx.network(self.pair.roles[f"D_{domain}"])

    def discriminate(self, x: torch.Tensor, labels=None, role: str | None = None) -> torch.Tensor:
        return self.discriminator(x)

    # shared, cached computations of the pair
    def _real(self, domain: str) -> torch.Tensor:
        return self.ctx.batch[domain]

    def _fake(self, domain: str) -> torch.Tensor:
        """An image of ``domain`` translated from the other domain's batch (with its graph)."""
        src = OTHER[domain]
        return self.ctx.remember(f"fake_{domain}", lambda: self._generator(src, domain)(self._real(src)))


class GeneratorView(_View):
    def __init__(self, ctx, pair, source: str):
        super().__init__(ctx, pair)
        self.source, self.target = source, OTHER[source]

    @property
    def generator(self) -> torch.nn.Module:
        return self._generator(self.source, self.target)

    @property
    def inverse(self) -> torch.nn.Module:
        return self._generator(self.target, self.source)

    @property
    def discriminator(self) -> torch.nn.Module:
        return self._discriminator(self.target)

    @property
    def real(self) -> torch.Tensor:
        return self._real(self.source)

    @property
    def target_real(self) -> torch.Tensor:
        return self._real(self.target)

    @property
    def fake(self) -> torch.Tensor:
        return self._fake(self.target)

    @property
    def reconstruction(self) -> torch.Tensor:
        return self.ctx.remember(f"rec_{self.source}", lambda: self.inverse(self.fake))

    @property
    def identity(self) -> torch.Tensor:
        return self.ctx.remember(f"idt_{self.target}", lambda: self.generator(self.target_real))


class DiscriminatorView(_View):
    def __init__(self, ctx, pair, domain: str):
        super().__init__(ctx, pair)
        self.domain = domain

    @property
    def discriminator(self) -> torch.nn.Module:
        return self._discriminator(self.domain)

    @property
    def real(self) -> torch.Tensor:
        return self._real(self.domain)

    @property
    def fake(self) -> torch.Tensor:
        """The translated images shown to this discriminator: through the image pool, detached."""
        return self.ctx.remember(f"pooled_{self.domain}",
                                 lambda: self.pair.pools[self.domain].query(self._fake(self.domain)))
