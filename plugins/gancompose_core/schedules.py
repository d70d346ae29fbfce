"""The alternating schedule: n_critic discriminator phases, then one generator phase, every step."""
from __future__ import annotations

from pydantic import Field, PositiveInt

from gancompose import Params, RecipeError
from gancompose.engine import Constraint, Phase, Schedule
from gancompose.engine.augment import monitored, observe_real
from gancompose.engine.context import is_conditional
from gancompose.errors import did_you_mean


class AlternatingParams(Params):
    generator: str = Field("generator", description="name of the generator network")
    discriminator: str = Field("discriminator", description="name of the discriminator network")
    n_critic: PositiveInt = Field(1, description="discriminator updates per generator update")
    reuse_fake: bool = Field(False, description="the generator phase reuses the last discriminator phase's "
                                                "fake batch instead of sampling new latents (pytorch/examples DCGAN)")
    lazy_phases: bool = Field(False, description="run the lazy regularizers (every > 1) as their own optimizer "
                                                 "steps after the main ones, on the same real batch, as "
                                                 "StyleGAN2's official Dreg/Greg phases (pair with the "
                                                 "optimizers' lazy_interval); off: added to the main steps")


class DiscriminatorAdversarial:
    """loss.discriminator(D(real), D(G(z)).detach())"""
    name, weight, every = "adversarial", 1.0, 1

    def __init__(self, loss, augmentation=None):
        self.loss = loss
        self.augmentation = augmentation  # one with monitor() (ADA): its value is logged as PHASE/augment_p

    def __call__(self, ctx):
        real = ctx.discriminate(ctx.real, ctx.real_or_fake_labels(fake=False))
        observe_real(ctx.discriminator, real)  # adaptive augmentation (ADA) reads D(real); a no-op without one
        if self.augmentation is not None:
            ctx.log("augment_p", self.augmentation.monitor())
        fake = ctx.discriminate(ctx.fake.detach(), ctx.real_or_fake_labels(fake=True))
        return self.loss.discriminator(real, fake)


class GeneratorAdversarial:
    """loss.generator(D(G(z)))"""
    name, weight, every = "adversarial", 1.0, 1

    def __init__(self, loss):
        self.loss = loss

    def __call__(self, ctx):
        real_out = (ctx.discriminate(ctx.real, ctx.real_or_fake_labels(fake=False))
                    if self.loss.needs_real_for_generator else None)
        return self.loss.generator(ctx.discriminate(ctx.fake, ctx.real_or_fake_labels(fake=True)), real_out)


class Alternating(Schedule):
    """Discriminator n_critic times, then generator: the GAN training algorithm of Goodfellow et al."""
    provides = ("single_pair",)

    def __init__(self, p: AlternatingParams, run):
        for role in ("generator", "discriminator"):
            name = getattr(p, role)
            if name not in run.networks:
                raise RecipeError(f"unknown network {name!r}", key=[role], hint=did_you_mean(name, run.networks))
            if name not in run.optimizers and getattr(run.recipe.networks[name], "trainable", True):
                raise RecipeError(f"the {role} {name!r} has no optimizer", key=[role],
                                  hint=f"add an [optimizers.{name}] table")
        if run.recipe.networks[p.generator].input != "latent":
            raise RecipeError(f"the generator {p.generator!r} must take input = 'latent'", key=["generator"])
        if is_conditional(run.networks[p.discriminator]) and not is_conditional(run.networks[p.generator]):
            raise RecipeError(f"the discriminator {p.discriminator!r} is conditional but the generator "
                              f"{p.generator!r} is not: fakes would have no labels", key=["discriminator"],
                              hint=f"add a condition to [networks.{p.generator}] too")
        self.roles = {"generator": p.generator, "discriminator": p.discriminator}
        g, d = p.generator, p.discriminator
        regs = {g: [], d: []}
        for i, reg in enumerate(run.regularizers):
            if reg.network not in regs:
                raise RecipeError(f"this schedule trains {g!r} and {d!r}, not {reg.network!r}",
                                  key=["regularizers", i, "network"], absolute=True,
                                  hint=did_you_mean(reg.network, regs))
            regs[reg.network].append(reg)
        terms = {n: tuple(r for r in rs if not isinstance(r, Constraint)) for n, rs in regs.items()}
        constraints = {n: tuple(r for r in rs if isinstance(r, Constraint)) for n, rs in regs.items()}
        lazy = {n: tuple(t for t in ts if p.lazy_phases and t.every > 1) for n, ts in terms.items()}
        terms = {n: tuple(t for t in ts if t not in lazy[n]) for n, ts in terms.items()}
        self._phases = [
            Phase("discriminator", (DiscriminatorAdversarial(run.loss, monitored(run.networks[d])), *terms[d]), optimizers=(d,),
                  frozen=() if p.reuse_fake else (g,), repeat=p.n_critic, constraints=constraints[d]),
            Phase("discriminator_reg", lazy[d], optimizers=(d,), frozen=(g,), reuse=("batch",)),
            Phase("generator", (GeneratorAdversarial(run.loss), *terms[g]), optimizers=(g,),
                  frozen=(d,), reuse=("latent", "fake_labels", "fake") if p.reuse_fake else (), constraints=constraints[g]),
            Phase("generator_reg", lazy[g], optimizers=(g,), frozen=(d,), reuse=("batch",)),
        ]
        self._phases = [ph for ph in self._phases if ph.terms]  # the lazy phases exist only with lazy terms
        # a network with trainable = false has no optimizer: the phase training it is left out
        self._phases = [ph for ph in self._phases if all(o in run.optimizers for o in ph.optimizers)]
        if not self._phases:
            raise RecipeError(f"both {g!r} and {d!r} have trainable = false: nothing to train", key=[],
                              hint="set trainable = true on one of them")

    def phases(self, step: int) -> list[Phase]:
        return self._phases


SCHEDULES = [("alternating", Alternating, AlternatingParams)]
