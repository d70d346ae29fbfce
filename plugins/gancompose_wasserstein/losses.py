"""Adversarial losses for critics and margin discriminators, on raw outputs (no sigmoid anywhere).

Each loss is a small stateless object with ``discriminator(real_out, fake_out)`` (minimised by the
discriminator / critic) and ``generator(fake_out, real_out=None)`` (minimised by the generator). Outputs
of any shape are averaged over all their elements, so a patch discriminator works unchanged.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from gancompose import Params
from gancompose.protocols import AdversarialLoss


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


LOSSES = [("wasserstein", WassersteinLoss, None), ("hinge", HingeLoss, HingeParams),
          ("non_saturating", NonSaturatingLoss, None)]
