"""The ``cycle`` schedule: two generators and two discriminators tied by cycle and identity terms.

One step, as the official CycleGAN ``optimize_parameters``:
  1. generators phase (G_AB and G_BA step, D_A and D_B frozen):
         adversarial terms of both directions + every regularizer attached to G_AB or G_BA
         (cycle consistency, identity, ...), each evaluated on its direction's view (views.py);
  2. discriminators phase (D_A and D_B step), on the same batch and the same translated images:
         weight x loss.discriminator(D(real), D(pool(fake))) per domain (CycleGAN: weight 0.5),
         + every regularizer attached to D_A or D_B (gradient penalty, R1, ... on that domain's view).
The adversarial loss is the recipe's ``[loss]`` (least_squares for CycleGAN; hinge, bce or wasserstein
work too), the networks are whatever blocks the recipe names: the pairing is the schedule, nothing else.
"""
from __future__ import annotations

from pydantic import Field, NonNegativeInt

from gancompose import RecipeError
from gancompose.engine import Constraint, Phase, Schedule, ScheduleParams
from gancompose.engine.views import BoundTerm, TranslationAdversarial
from gancompose.errors import did_you_mean

from gancompose_cycle.pool import ImagePool
from gancompose_cycle.translate import translation_grid
from gancompose_core.schedules import DiscriminatorAdversarial

from gancompose_cycle.views import DiscriminatorView, GeneratorView

ROLES = ("G_AB", "G_BA", "D_A", "D_B")


class CycleParams(ScheduleParams):
    """A cycle pair: which networks translate A -> B and B -> A, and which judge each domain."""
    G_AB: str = Field("G_AB", description="the generator translating domain A to domain B")
    G_BA: str = Field("G_BA", description="the generator translating domain B to domain A")
    D_A: str = Field("D_A", description="the discriminator of domain A (judges G_BA's output)")
    D_B: str = Field("D_B", description="the discriminator of domain B (judges G_AB's output)")
    pool_size: NonNegativeInt = Field(50, description="past translated images kept per discriminator (0: none)")
    discriminator_weight: float = Field(0.5, gt=0, description="weight of each discriminator's adversarial loss "
                                                               "(CycleGAN halves it to slow D down)")

    def translations(self) -> dict[str, str]:
        """Direction -> generator name (``gancompose translate --direction AtoB``, the translation metric)."""
        return {"AtoB": self.G_AB, "BtoA": self.G_BA}


class Cycle(Schedule):
    """Two generators and two discriminators trained as CycleGAN: generators phase, then discriminators."""
    provides = ("cycle_pair",)

    def __init__(self, p: CycleParams, run):
        self.params = p
        self._networks = run.networks
        self.roles = {role: getattr(p, role) for role in ROLES}
        for role, name in self.roles.items():
            if name not in run.networks:
                raise RecipeError(f"unknown network {name!r}", key=[role], hint=did_you_mean(name, run.networks))
            if run.recipe.networks[name].input != "data":
                raise RecipeError(f"the {role} network {name!r} must take input = 'data' (images)",
                                  key=["networks", name, "input"], absolute=True)
        if getattr(run.dataset, "domains", None) != ("A", "B"):
            raise RecipeError(f"the cycle schedule needs unpaired two-domain data (batches of A and B images); "
                              f"{run.recipe.data.type!r} gives single images", key=["data", "type"], absolute=True,
                              hint="use unpaired_folders, monet2photo or unpaired_shapes")
        shape = tuple(run.dataset.sample_shape)
        for role in ("G_AB", "G_BA"):
            out = tuple(run.reports[self.roles[role]].out_shape)
            if out != shape:
                raise RecipeError(f"{self.roles[role]!r} turns {shape} images into {out}: a translation must keep "
                                  "the shape", key=["networks", self.roles[role]], absolute=True)
        self.pools = {d: ImagePool(p.pool_size, shape, run.device) for d in ("A", "B")}

        gens, discs = (self.roles["G_AB"], self.roles["G_BA"]), (self.roles["D_A"], self.roles["D_B"])
        source_of = {self.roles["G_AB"]: "A", self.roles["G_BA"]: "B"}
        domain_of = {self.roles["D_A"]: "A", self.roles["D_B"]: "B"}
        g_terms = [BoundTerm(TranslationAdversarial(run.loss), lambda ctx, s=s: GeneratorView(ctx, self, s),
                             f"adversarial_{self.roles[f'D_{t}']}") for s, t in (("A", "B"), ("B", "A"))]
        # the single pair's discriminator term, on each domain's view: D(real) and D(pooled fake); an adaptive
        # augmentation (ADA) on D_A or D_B observes D(real) there as it does in a single pair
        d_terms = [BoundTerm(DiscriminatorAdversarial(run.loss), lambda ctx, d=d: DiscriminatorView(ctx, self, d),
                         f"adversarial_{self.roles[f'D_{d}']}", p.discriminator_weight) for d in ("A", "B")]
        g_constraints, d_constraints = [], []
        for i, reg in enumerate(run.regularizers):
            if reg.network in source_of:
                s = source_of[reg.network]
                target, view = g_constraints, (lambda ctx, s=s: GeneratorView(ctx, self, s))
                terms = g_terms
            elif reg.network in domain_of:
                d = domain_of[reg.network]
                target, view = d_constraints, (lambda ctx, d=d: DiscriminatorView(ctx, self, d))
                terms = d_terms
            else:
                raise RecipeError(f"the cycle pair trains {', '.join(map(repr, (*gens, *discs)))}, not "
                                  f"{reg.network!r}", key=["regularizers", i, "network"], absolute=True,
                                  hint=did_you_mean(reg.network, (*gens, *discs)))
            if isinstance(reg, Constraint):
                target.append(reg)
            else:
                terms.append(BoundTerm(reg, view, f"{reg.name}_{reg.network}"))
        phases = [
            Phase("generators", tuple(g_terms), optimizers=gens, frozen=discs, constraints=tuple(g_constraints)),
            Phase("discriminators", tuple(d_terms), optimizers=discs, frozen=gens,
                  reuse=("batch", "fake_A", "fake_B"), constraints=tuple(d_constraints)),
        ]
        for ph in phases:
            missing = [n for n in ph.optimizers if n not in run.optimizers]
            if missing:
                raise RecipeError(f"the {ph.name} of the cycle pair step together: {', '.join(missing)} "
                                  f"{'has' if len(missing) == 1 else 'have'} no optimizer",
                                  key=["optimizers"], absolute=True,
                                  hint=f"add [optimizers.{missing[0]}] (freeze parts of a network with its "
                                       "freeze key instead)")
        self._phases = phases

    # ------------------------------------------------------------------ used by the views
    def generator(self, source: str, target: str):
        return self._networks[self.roles[f"G_{source}{target}"]]

    def discriminator(self, domain: str):
        return self._networks[self.roles[f"D_{domain}"]]

    # ---------------------------------------------------------------- the schedule protocol
    def phases(self, step: int) -> list[Phase]:
        return self._phases

    def sample_grid(self, run, n: int):
        """Rows of [a, G_AB(a), G_BA(G_AB(a)), b, G_BA(b), G_AB(G_BA(b))] for fixed data images."""
        return translation_grid(self._networks, self.roles, run.dataset, max(1, min(8, n // 6)), run.device)

    def state_dict(self) -> dict:
        return {f"pool_{d}.{k}": v for d, pool in self.pools.items() for k, v in pool.state_dict().items()}

    def load_state_dict(self, state: dict) -> None:
        for d, pool in self.pools.items():
            pool.load_state_dict({k.split(".", 1)[1]: v for k, v in state.items() if k.startswith(f"pool_{d}.")})


SCHEDULES = [("cycle", Cycle, CycleParams)]
