"""The loss terms of a cycle pair: adversarial terms per direction, cycle consistency and identity.

``cycle_consistency`` and ``identity`` are regularizers declared in ``[[regularizers]]`` on one of the
two generators, so each direction has its own weight (CycleGAN's lambda_A, lambda_B and lambda_identity):

    cycle_consistency on G_AB:  distance(G_BA(G_AB(a)), a)        official loss_cycle_A (weight lambda_A)
    cycle_consistency on G_BA:  distance(G_AB(G_BA(b)), b)        official loss_cycle_B (weight lambda_B)
    identity on G_AB:           distance(G_AB(b), b)              official loss_idt_A (lambda_B x lambda_identity)
    identity on G_BA:           distance(G_BA(a), a)              official loss_idt_B (lambda_A x lambda_identity)
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from gancompose.engine import RegularizerParams, RegularizerTerm

DISTANCES = {"l1": F.l1_loss, "l2": F.mse_loss, "smooth_l1": F.smooth_l1_loss}


class PairTermParams(RegularizerParams):
    network: str = Field(description="the generator of the cycle pair this term is attached to (e.g. 'G_AB')")
    distance: Literal["l1", "l2", "smooth_l1"] = Field("l1", description="mean distance between the images")


class _PairDistance(RegularizerTerm):
    """A distance between two images of a generator's view of the pair (``distance`` from the params)."""
    requires = ("cycle_pair",)

    def __init__(self, p: PairTermParams):
        super().__init__(p)
        self.distance = DISTANCES[p.distance]


class CycleConsistency(_PairDistance):
    """distance(G_inverse(G(x)), x): translating there and back gives the input back (Zhu et al. 2017)."""
    name = "cycle"

    def __call__(self, view) -> torch.Tensor:
        return self.distance(view.reconstruction, view.real)


class Identity(_PairDistance):
    """distance(G(y), y) for y already in G's target domain: keeps colours when nothing needs changing
    (Taigman et al. 2017; CycleGAN's --lambda_identity)."""
    name = "identity"

    def __call__(self, view) -> torch.Tensor:
        return self.distance(view.identity, view.target_real)


REGULARIZERS = [("cycle_consistency", CycleConsistency, PairTermParams), ("identity", Identity, PairTermParams)]
