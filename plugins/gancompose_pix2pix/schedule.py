"""The ``paired`` schedule: one generator and one discriminator trained on paired data, as pix2pix.

One step, in the order of the official ``Pix2PixModel.optimize_parameters`` (forward, update D, then update G):
  1. discriminator phase (D steps): G(A) is computed once, with its graph;
         weight x loss.discriminator(D(A, B), D(A, G(A).detach()))     (pix2pix: weight 0.5, bce)
         + every regularizer attached to D (R1, a gradient penalty, ... on the pairs);
  2. generator phase (G steps, D frozen), on the same batch and the same G(A):
         loss.generator(D(A, G(A))) + every regularizer attached to G
         (pair_reconstruction: 100 x L1(G(A), B) in pix2pix).
D judges the pair: the image and, concatenated before it on the channels, the A it was made from (the official
``torch.cat((real_A, fake_B), 1)``), so it needs a block that takes the condition (``paired_patchgan``); with
``conditional = false`` it judges B alone (the paper's unconditional "GAN" ablation) and any image discriminator
does. The adversarial loss is the recipe's ``[loss]``.
"""
from __future__ import annotations

from pydantic import Field

from gancompose import RecipeError
from gancompose.data import DataStandIn
from gancompose.engine import Constraint, Phase, Schedule, ScheduleParams
from gancompose.engine.views import BoundTerm, TranslationAdversarial
from gancompose.errors import did_you_mean

from gancompose_pix2pix.terms import (DiscriminatorView, GeneratorView, PairDiscriminatorAdversarial,
                                      PairReconstruction)


class PairedParams(ScheduleParams):
    """A paired translation: the generator translating A into B, the discriminator judging (A, B) pairs."""
    generator: str = Field("G", description="the network translating A into B (input = 'data')")
    discriminator: str = Field("D", description="the network judging pairs: real (A, B) against (A, G(A))")
    conditional: bool = Field(True, description="D sees A with each image (pix2pix's conditional GAN); false: D "
                                                "judges images alone (the paper's unconditional ablation)")
    discriminator_weight: float = Field(0.5, gt=0, description="weight of the discriminator's adversarial loss "
                                                               "(pix2pix halves it to slow D down)")

    def network_inputs(self, sample_shape):
        """A conditional pair's discriminator takes (A, B) concatenated on the channels: twice the data's channels
        (A and B have the data's shape; the schedule checks the generator's output against B)."""
        if not self.conditional or len(sample_shape) != 3:
            return {}
        c, h, w = sample_shape
        return {self.discriminator: (2 * c, h, w)}

    def translations(self) -> dict[str, str]:
        """Direction -> generator name (``gancompose translate --direction AtoB``)."""
        return {"AtoB": self.generator}


def _pairs_data(run) -> bool:
    """Whether the run's data are pairs: the dataset says so, or (data not on disk yet: a stand-in of its shape) its
    component declares ``image_pairs``."""
    if getattr(run.dataset, "paired", False):
        return True
    comp = run.registry.find("dataset", run.recipe.data.type)
    return isinstance(run.dataset, DataStandIn) and comp is not None and "image_pairs" in comp.provides


class Paired(Schedule):
    """A generator and a discriminator trained on pairs as pix2pix: discriminator phase, then generator phase."""
    provides = ("image_pair",)

    def __init__(self, p: PairedParams, run):
        self.params = p
        self.conditional = p.conditional
        self.roles = {"G": p.generator, "D": p.discriminator}
        self._networks = run.networks
        for key, name in (("generator", p.generator), ("discriminator", p.discriminator)):
            if name not in run.networks:
                raise RecipeError(f"unknown network {name!r}", key=[key], hint=did_you_mean(name, run.networks))
            if run.recipe.networks[name].input != "data":
                raise RecipeError(f"the {key} {name!r} must take input = 'data' (images)",
                                  key=["networks", name, "input"], absolute=True)
            if name not in run.optimizers:
                raise RecipeError(f"the {key} {name!r} has no optimizer", key=["optimizers"], absolute=True,
                                  hint=f"add an [optimizers.{name}] table (freeze parts of a network with its freeze "
                                       "key instead)")
        if not _pairs_data(run):
            raise RecipeError(f"the paired schedule needs paired data (batches of A and of the B each A translates "
                              f"to); {run.recipe.data.type!r} gives none", key=["data", "type"], absolute=True,
                              hint="use paired_shapes, paired_folders or facades")
        shape = tuple(run.dataset.sample_shape)
        target = tuple(getattr(run.dataset, "target_shape", shape))
        out = tuple(run.reports[p.generator].out_shape)
        if out != target:
            raise RecipeError(f"{p.generator!r} turns {shape} images into {out}, but the pairs' B images are "
                              f"{target}", key=["networks", p.generator], absolute=True)
        d_net = run.networks[p.discriminator]
        if p.conditional and not getattr(d_net, "takes_condition", False):
            raise RecipeError(f"the discriminator {p.discriminator!r} ({run.recipe.networks[p.discriminator].type}) "
                              "judges images alone, but a conditional pair shows it each image with its A",
                              key=["networks", p.discriminator, "type"], absolute=True,
                              hint="use type = 'paired_patchgan', or set schedule.conditional = false (the "
                                   "unconditional ablation)")
        if getattr(run.recipe.networks[p.discriminator], "augment", None) is not None:
            raise RecipeError("an augmentation transforms the image a discriminator is given, not the A it is paired "
                              "with: the pair would no longer match", key=["networks", p.discriminator, "augment"],
                              absolute=True, hint="remove the augment key (paired augmentation is not supported)")

        g, d = p.generator, p.discriminator
        g_terms = [BoundTerm(TranslationAdversarial(run.loss), lambda ctx: GeneratorView(ctx, self))]
        d_terms = [BoundTerm(PairDiscriminatorAdversarial(run.loss), lambda ctx: DiscriminatorView(ctx, self),
                         weight=p.discriminator_weight)]
        g_constraints, d_constraints = [], []
        for i, reg in enumerate(run.regularizers):
            if reg.network == g:
                terms, constraints, view = g_terms, g_constraints, (lambda ctx: GeneratorView(ctx, self))
            elif reg.network == d:
                if isinstance(reg, PairReconstruction):
                    raise RecipeError(f"pair_reconstruction compares G(A) with B: attach it to the generator {g!r}",
                                      key=["regularizers", i, "network"], absolute=True)
                terms, constraints, view = d_terms, d_constraints, (lambda ctx: DiscriminatorView(ctx, self))
            else:
                raise RecipeError(f"the paired schedule trains {g!r} and {d!r}, not {reg.network!r}",
                                  key=["regularizers", i, "network"], absolute=True,
                                  hint=did_you_mean(reg.network, (g, d)))
            if isinstance(reg, Constraint):
                constraints.append(reg)
            else:
                terms.append(BoundTerm(reg, view))
        self._phases = [
            # G is not frozen here: G(A) is made with its graph for the generator phase to reuse (the official
            # forward() once per step); the discriminator's terms read it detached
            Phase("discriminator", tuple(d_terms), optimizers=(d,), constraints=tuple(d_constraints)),
            Phase("generator", tuple(g_terms), optimizers=(g,), frozen=(d,), reuse=("batch", "fake_B"),
                  constraints=tuple(g_constraints)),
        ]

    def phases(self, step: int) -> list[Phase]:
        return self._phases

    def describe(self) -> list[str]:
        seen = "(A, B) against (A, G(A))" if self.conditional else "B against G(A), without A"
        return [f"paired: each step D judges {seen} on the channels, G(A) detached; then G is trained on the same "
                "batch and the same G(A) (the official order: forward, update D, update G)"]

    def sample_grid(self, run, n: int):
        """Rows of [A, G(A), B] for the data's first pairs."""
        from gancompose_pix2pix.translate import pair_grid
        return pair_grid(self._networks[self.roles["G"]], run.dataset, max(1, min(8, n // 3)), run.device)


SCHEDULES = [("paired", Paired, PairedParams)]
