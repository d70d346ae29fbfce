"""Every adversarial loss, on raw discriminator outputs (logits; no sigmoid anywhere): small stateless objects.

Each is a :class:`gancompose.protocols.AdversarialLoss`: ``discriminator(real_out, fake_out)`` (minimised by the
discriminator or critic) and ``generator(fake_out, real_out=None)`` (minimised by the generator). Outputs of any
shape are averaged over all their elements, so a patch discriminator works unchanged.

``bce`` (the original GAN, non-saturating generator by default), ``least_squares`` (LSGAN), ``wasserstein``
(WGAN's critic), ``hinge`` (Geometric GAN / SAGAN / BigGAN) and ``non_saturating``: ``bce`` without saturation
written with softplus, as StyleGAN2 writes it (the same values as ``bce`` with ``saturating = false``).
"""
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


class WassersteinLoss(AdversarialLoss):
    """Wasserstein (WGAN, Arjovsky et al. 2017): critic E[D(fake)] - E[D(real)], generator -E[D(fake)].

    The critic's loss is minus the Kantorovich-Rubinstein estimate of the earth-mover distance; it is
    only meaningful with a Lipschitz constraint on the critic (``weight_clipping``,
    ``gradient_penalty`` (WGAN-GP, Gulrajani et al. 2017) or spectral normalization). The critic
    ends without a sigmoid.
    """

    def __init__(self, p: Params | None = None):
        self.p = p

    def discriminator(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        return fake_out.mean() - real_out.mean()

    def generator(self, fake_out: torch.Tensor, real_out: torch.Tensor | None = None) -> torch.Tensor:
        return -fake_out.mean()


class HingeParams(Params):
    margin: float = Field(1.0, gt=0, description="margin of the discriminator's hinge: D(real) is pushed above "
                                                  "+margin, D(fake) below -margin")


class HingeLoss(AdversarialLoss):
    """Hinge (Lim & Ye 2017, Geometric GAN; SAGAN, BigGAN): D relu(m - D(real)) + relu(m + D(fake)), G -E[D(fake)].

    The discriminator's loss is zero once real outputs exceed the margin and fake outputs fall below
    minus the margin; the generator's is the Wasserstein generator loss.
    """

    def __init__(self, p: HingeParams):
        self.p = p

    def discriminator(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        m = self.p.margin
        return F.relu(m - real_out).mean() + F.relu(m + fake_out).mean()

    def generator(self, fake_out: torch.Tensor, real_out: torch.Tensor | None = None) -> torch.Tensor:
        return -fake_out.mean()


class NonSaturatingLoss(AdversarialLoss):
    """Logistic non-saturating loss in softplus form (Goodfellow et al. 2014; StyleGAN2): D softplus(-real) + softplus(fake), G softplus(-fake).

    The same objective as ``bce`` (``softplus(-x) = -log sigmoid(x)``), written as StyleGAN/StyleGAN2's
    ``loss.py`` writes it; ``r1`` is the regularizer it is usually paired with (Mescheder et al. 2018).
    """

    def __init__(self, p: Params | None = None):
        self.p = p

    def discriminator(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        return F.softplus(-real_out).mean() + F.softplus(fake_out).mean()

    def generator(self, fake_out: torch.Tensor, real_out: torch.Tensor | None = None) -> torch.Tensor:
        return F.softplus(-fake_out).mean()


LOSSES = [("bce", BCELoss, BCEParams), ("least_squares", LeastSquaresLoss, LeastSquaresParams),
          ("wasserstein", WassersteinLoss, None), ("hinge", HingeLoss, HingeParams),
          ("non_saturating", NonSaturatingLoss, None)]
