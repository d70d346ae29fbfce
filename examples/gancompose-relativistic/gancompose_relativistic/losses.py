"""Relativistic GAN losses (Jolicoeur-Martineau 2018, "The relativistic discriminator: a key element
missing from standard GAN").

The discriminator estimates how much more realistic real data is than fake data instead of how
realistic each sample is. With the critic's raw outputs ``C(x)`` and, in the *average* form (RaGAN),
``Dr = C(x_real) - mean C(x_fake)`` and ``Df = C(x_fake) - mean C(x_real)``:

================  ===========================================  ===========================================
form              discriminator                                generator
================  ===========================================  ===========================================
standard (RaSGAN) ``softplus(-Dr) + softplus(Df)``              ``softplus(Dr) + softplus(-Df)``
least_squares     ``(Dr - 1)^2 + (Df + 1)^2``                   ``(Dr + 1)^2 + (Df - 1)^2``
hinge             ``relu(1 - Dr) + relu(1 + Df)``               ``relu(1 + Dr) + relu(1 - Df)``
================  ===========================================  ===========================================

each term averaged over its batch, the sum halved as in the paper's code. ``average = false`` is the
plain relativistic form (RSGAN, standard only): ``softplus(-(C(real) - C(fake)))`` over pairs.

Unlike the other losses, the generator's loss needs the discriminator's output on *real* data: the
loss says so with ``needs_real_for_generator = True`` and gancompose's alternating schedule then
passes ``real_out`` to ``generator(fake_out, real_out)``.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator

from gancompose import Params
from gancompose.protocols import AdversarialLoss


class RelativisticParams(Params):
    form: Literal["standard", "least_squares", "hinge"] = Field(
        "standard", description="'standard' (RaSGAN, logistic), 'least_squares' (RaLSGAN) or 'hinge' (RaHingeGAN)")
    average: bool = Field(True, description="compare each sample with the mean output of the other batch (RaGAN); "
                                            "false: compare real and fake samples pairwise (RSGAN, standard form only)")

    @model_validator(mode="after")
    def _pairwise_is_standard(self):
        if not self.average and self.form != "standard":
            raise ValueError("average = false (RSGAN) is defined for form = 'standard' only")
        return self


def _penalty(form: str, x: torch.Tensor, target: float) -> torch.Tensor:
    """The loss of relativistic outputs ``x`` that should be on the side of ``target`` (+1 or -1)."""
    if form == "standard":
        return F.softplus(-target * x).mean()
    if form == "least_squares":
        return (x - target).square().mean()
    return F.relu(1.0 - target * x).mean()  # hinge


class RelativisticLoss(AdversarialLoss):
    """Relativistic average GAN loss (Jolicoeur-Martineau 2018): standard, least-squares or hinge form."""

    #: tells the schedule to pass D(real) to ``generator()`` as well
    needs_real_for_generator = True

    def __init__(self, p: RelativisticParams):
        self.p = p

    def _relative(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(real relative to fake, fake relative to real); means over the batch dimension, so an output map
        (a patch discriminator) is compared position by position."""
        return (real_out - fake_out.mean(dim=0, keepdim=True), fake_out - real_out.mean(dim=0, keepdim=True))

    def discriminator(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        if not self.p.average:
            return F.softplus(-(real_out - fake_out)).mean()
        dr, df = self._relative(real_out, fake_out)
        return (_penalty(self.p.form, dr, 1.0) + _penalty(self.p.form, df, -1.0)) / 2

    def generator(self, fake_out: torch.Tensor, real_out: torch.Tensor | None = None) -> torch.Tensor:
        if real_out is None:
            raise ValueError("the relativistic loss needs the discriminator's output on real data: use a schedule "
                             "that honours needs_real_for_generator (the built-in 'alternating' does)")
        real_out = real_out.detach()  # the generator's loss moves the generator only
        if not self.p.average:
            return F.softplus(-(fake_out - real_out)).mean()
        dr, df = self._relative(real_out, fake_out)
        return (_penalty(self.p.form, dr, -1.0) + _penalty(self.p.form, df, 1.0)) / 2


LOSSES = [("relativistic", RelativisticLoss, RelativisticParams)]
