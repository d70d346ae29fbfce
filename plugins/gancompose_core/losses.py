"""Adversarial losses on raw discriminator outputs (logits): small callables, no state."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from gancompose import Params
from gancompose.protocols import AdversarialLoss


class BCEParams(Params):
    saturating: bool = Field(False, description="generator minimises log(1 - D(G(z))) instead of -log D(G(z))")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="one-sided: real targets become 1 - this")


class BCELoss(AdversarialLoss):
    """Binary cross-entropy (the original GAN objective), non-saturating for the generator by default."""

    def __init__(self, p: BCEParams):
        self.p = p

    def discriminator(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        real_t = torch.full_like(real_out, 1.0 - self.p.label_smoothing)
        return (F.binary_cross_entropy_with_logits(real_out, real_t)
                + F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out)))

    def generator(self, fake_out: torch.Tensor, real_out: torch.Tensor | None = None) -> torch.Tensor:
        if self.p.saturating:
            return -F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out))
        return F.binary_cross_entropy_with_logits(fake_out, torch.ones_like(fake_out))


class LeastSquaresParams(Params):
    a: float = Field(0.0, description="target for fake samples in the discriminator loss")
    b: float = Field(1.0, description="target for real samples in the discriminator loss")
    c: float = Field(1.0, description="target the generator pushes its samples towards")
    scale: float = Field(0.5, gt=0, description="factor on each squared term (1/2 in the LSGAN paper)")


class LeastSquaresLoss(AdversarialLoss):
    """Least squares (LSGAN, Mao et al. 2017): squared distance of D's output to target labels."""

    def __init__(self, p: LeastSquaresParams):
        self.p = p

    def discriminator(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        return self.p.scale * ((real_out - self.p.b).square().mean() + (fake_out - self.p.a).square().mean())

    def generator(self, fake_out: torch.Tensor, real_out: torch.Tensor | None = None) -> torch.Tensor:
        return self.p.scale * (fake_out - self.p.c).square().mean()


LOSSES = [("bce", BCELoss, BCEParams), ("least_squares", LeastSquaresLoss, LeastSquaresParams)]
