"""The progressive-growing schedule: resolution, fade-in alpha, batch size and learning rate as a pure
function of the number of real images seen (the official ``TrainingSchedule`` of
tkarras/progressive_growing_of_gans ``train.py``).

Timeline, with ``T`` images per stabilisation phase and ``X`` per fade-in (official 600k and 600k):
stage 0 trains ``start_resolution`` for ``T`` images; then for each doubling a fade-in of ``X`` images
(the new resolution, alpha rising linearly from 0 to 1), then ``T`` images stable at it; the final
resolution stays until the end of the run. Each step the schedule looks at ``run.state.images_seen``
(before the step) and sets, for that whole step:

* every growing network's (resolution, alpha), the EMA copy included (``set_growth``);
* ``run.batch_size``: ``batch_size[resolution]``, or ``train.batch_size`` for a resolution not listed;
  ``train.batch_size`` is also the most any stage takes (the official ``max_minibatch_per_gpu`` cap), so
  ``--set train.batch_size=16`` fits a run to a smaller GPU;
* the optimizers' base learning rate: ``lr[resolution]``, or the optimizer's own ``lr`` from the recipe
  (an ``lr_schedule`` still multiplies it);
* how the real batch is prepared (:meth:`prepare_batch`): average-pooled to the resolution, blended with
  its 2x coarser version during a fade-in, upsampled back (the official ``process_reals``).

Nothing else is state, so a run resumed anywhere (mid-fade included) continues exactly. The phases are the
``alternating`` schedule's (the official ``D_repeats = 1``: one critic step, one generator step).
The networks are built whole before training, so the optimizers hold every parameter from the start and
a growth step keeps the weights and Adam moments of the layers that exist already; ``reset_optimizers =
true`` clears the moments at every stage change instead, as the official code does
(``reset_opt_for_new_lod = True``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from pydantic import Field, PositiveFloat, PositiveInt, field_validator

from gancompose.engine import Schedule
from gancompose import Params, RecipeError
from gancompose_progan.networks import fade_reals


@dataclass(frozen=True)
class Growth:
    """Where the schedule is: stage index (0: the start resolution, then fade-in, stable, fade-in, ...),
    resolution, alpha (1 outside fade-ins) and whether the stage is a fade-in."""
    stage: int
    resolution: int
    alpha: float
    fading: bool

    @property
    def name(self) -> str:
        return f"{self.resolution}px {'fade-in' if self.fading else 'stable'}"


def _power_of_two(v: int) -> int:
    if v < 4 or v & (v - 1):
        raise ValueError(f"a resolution must be a power of two, at least 4; got {v}")
    return v


class ProgressiveParams(Params):
    generator: str = Field("generator", description="name of the growing generator network")
    discriminator: str = Field("discriminator", description="name of the growing discriminator network")
    n_critic: PositiveInt = Field(1, description="discriminator updates per generator update (official D_repeats 1)")
    reuse_fake: bool = Field(False, description="the generator phase reuses the discriminator phase's fakes")
    start_resolution: int = Field(4, description="resolution of the first stage (official lod_initial_resolution 4)")
    final_resolution: int | None = Field(None, description="resolution the growth ends at; default the generator's "
                                                           "image_size (the data's)")
    stabilise_kimg: float = Field(600.0, ge=0, description="thousands of real images per stabilisation phase "
                                                           "(official lod_training_kimg 600)")
    fade_kimg: float = Field(600.0, ge=0, description="thousands of real images per fade-in (official "
                                                      "lod_transition_kimg 600)")
    batch_size: dict[int, PositiveInt] = Field(
        default_factory=dict, description="batch size per resolution (official minibatch_dict); a resolution "
                                          "not listed takes train.batch_size, which also caps every value")
    lr: dict[int, PositiveFloat] = Field(
        default_factory=dict, description="learning rate of every optimizer per resolution (official "
                                          "G_lrate_dict = D_lrate_dict); a resolution not listed keeps the "
                                          "optimizer's own lr")
    reset_optimizers: bool = Field(False, description="clear the optimizers' state (Adam moments) at every stage "
                                                      "change, as the official reset_opt_for_new_lod = True; "
                                                      "false keeps it (the networks' existing layers carry over)")

    @field_validator("start_resolution", "final_resolution")
    @classmethod
    def _res(cls, v):
        return v if v is None else _power_of_two(v)

    @field_validator("batch_size", "lr")
    @classmethod
    def _keys(cls, v):
        for res in v:
            _power_of_two(res)
        return v


class Progressive(Schedule):
    """Progressive growing (ProGAN): resolution, fade-in alpha, batch size and lr from the images seen."""
    #: both networks it trains must grow (checked while validating, from their blocks' ``provides``)
    requires = ("growing",)

    def __init__(self, p: ProgressiveParams, run):
        self.p = p
        for role in ("generator", "discriminator"):
            name = getattr(p, role)
            if name in run.networks and not hasattr(run.networks[name], "set_growth"):
                raise RecipeError(f"the {role} {name!r} ({run.recipe.networks[name].type}) cannot grow", key=[role],
                                  hint="use type = 'progan_generator' / 'progan_discriminator' (networks with "
                                       "set_growth(resolution, alpha))")
        alternating = run.registry.get("schedule", "alternating")
        self._inner = alternating.factory(alternating.params(generator=p.generator, discriminator=p.discriminator,
                                                             n_critic=p.n_critic, reuse_fake=p.reuse_fake), run)
        self.roles = self._inner.roles
        size = run.networks[p.generator].image_size
        final = p.final_resolution or size
        if final > size:
            raise RecipeError(f"expected at most {size} (the generator's image_size), got {final}",
                              key=["final_resolution"])
        if p.start_resolution > final:
            raise RecipeError(f"expected at most the final resolution {final}, got {p.start_resolution}",
                              key=["start_resolution"])
        self.start, self.final = p.start_resolution, final
        self.stabilise = round(p.stabilise_kimg * 1000)
        self.fade = round(p.fade_kimg * 1000)
        if self.start < self.final and self.stabilise + self.fade == 0:
            raise RecipeError("stabilise_kimg and fade_kimg are both 0: the networks would never grow",
                              key=["stabilise_kimg"], hint="give the phases a length, or start_resolution = final")
        self.max_batch = run.recipe.train.batch_size
        if run.dist is not None:  # torchrun: refuse now a stage batch that would stop the run when it starts
            for resolution in sorted(p.batch_size):
                n = self.batch_size_at(resolution)
                if self.start <= resolution <= self.final and n % run.dist.world:
                    raise RecipeError(f"expected a batch size divisible by the {run.dist.world} processes "
                                      f"(torchrun), got {n} for the {resolution} px stages",
                                      key=["batch_size", str(resolution)],
                                      hint="each process takes an equal share of every stage's batch")
        # the optimizers' own rates, before any stage changes them (a resumed run reads the recipe's too)
        self.base_lr = {name: [g["initial_lr"] for g in opt.param_groups] for name, opt in run.optimizers.items()}
        self.growth = self.at(0)
        self._last_stage = -1  # the stage of the last step run (for reset_optimizers); saved in checkpoints

    # ----------------------------------------------------------------------- pure functions
    @property
    def num_stages(self) -> int:
        doublings = int(math.log2(self.final // self.start))
        return doublings + 1 if self.fade == 0 else 2 * doublings + 1

    def at(self, images_seen: int) -> Growth:
        """The stage, resolution and alpha after ``images_seen`` real images (the official lod formula)."""
        k0, kf = int(math.log2(self.start)), int(math.log2(self.final))
        period = self.stabilise + self.fade
        if k0 == kf or period == 0:
            return Growth(0, self.start, 1.0, False)
        phase, within = divmod(int(images_seen), period)
        level = k0 + phase
        per = 1 if self.fade == 0 else 2  # stages per doubling: a fade-in (if any) and a stable phase
        if level >= kf:
            return Growth(per * (kf - k0), self.final, 1.0, False)
        if within <= self.stabilise:
            return Growth(per * phase, 2 ** level, 1.0, False)
        return Growth(2 * phase + 1, 2 ** (level + 1), (within - self.stabilise) / self.fade, True)

    def batch_size_at(self, resolution: int) -> int:
        return min(self.p.batch_size.get(resolution, self.max_batch), self.max_batch)

    def lr_at(self, resolution: int, optimizer: str) -> list[float]:
        if resolution in self.p.lr:
            return [self.p.lr[resolution]] * len(self.base_lr[optimizer])
        return self.base_lr[optimizer]

    def timeline(self) -> list[tuple[Growth, int]]:
        """Each stage with the number of images seen when it starts."""
        out, period = [(self.at(0), 0)], self.stabilise + self.fade
        for doubling in range(1, self.num_stages if self.fade == 0 else (self.num_stages + 1) // 2):
            if self.fade:  # the fade-in starts one image after the stabilisation phase before it ends
                images = (doubling - 1) * period + self.stabilise + 1
                out.append((self.at(images), images))
            out.append((self.at(doubling * period), doubling * period))
        return out

    # --------------------------------------------------------------------- engine seams
    def phases(self, step: int):
        return self._inner.phases(step)

    def before_step(self, run) -> None:
        """Set resolution, alpha, batch size and learning rates for the step about to run."""
        g = self.at(run.state.images_seen)
        self.growth = g
        for net in (*run.networks.values(), *run.ema.values()):
            if hasattr(net, "set_growth"):
                net.set_growth(g.resolution, g.alpha)
        run.batch_size = self.batch_size_at(g.resolution)
        for name, opt in run.optimizers.items():
            for group, lr in zip(opt.param_groups, self.lr_at(g.resolution, name)):
                group["initial_lr"] = group["lr"] = lr  # an lr_schedule's factor is applied after this
        if self.p.reset_optimizers and self._last_stage not in (-1, g.stage):
            for opt in run.optimizers.values():
                opt.state.clear()
        self._last_stage = g.stage

    def prepare_batch(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Reals at the current resolution and alpha, full size (see :func:`fade_reals`)."""
        g = self.growth
        if g.resolution == batch["image"].shape[-1] and g.alpha >= 1.0:
            return batch
        return {**batch, "image": fade_reals(batch["image"], g.resolution, g.alpha)}

    def partial_networks(self) -> set[str]:
        return {self.p.generator, self.p.discriminator}  # the blocks above the current resolution sit out

    def callbacks(self, run, run_dir):
        from gancompose_progan.stage_grids import StageGrid
        t = run.recipe.train
        return [StageGrid(run_dir / "samples", t.samples, t.seed, self.stage)]

    def stage(self, images_seen: int) -> str:
        """A name of the stage at ``images_seen`` (a new name: a stage change, e.g. for sample grids)."""
        g = self.at(images_seen)
        return f"{g.stage:02d}_{g.resolution}px_{'fade-in' if g.fading else 'stable'}"

    def status(self, run) -> dict[str, str]:
        g = self.growth
        return {"stage": f"{g.stage + 1}/{self.num_stages}", "res": f"{g.resolution}px",
                "α": f"{g.alpha:.2f}" if g.fading else "1"}

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"last_stage": torch.tensor([self._last_stage], dtype=torch.int64)}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if "last_stage" in state:
            self._last_stage = int(state["last_stage"].item())

    def step_at(self, images: int) -> int:
        """The first step that starts with at least ``images`` real images seen (each step draws ``n_critic``
        batches of the stage's size: the discriminator phases; the generator phase of these losses draws none)."""
        seen = step = 0
        while seen < images:
            seen += self.p.n_critic * self.batch_size_at(self.at(seen).resolution)
            step += 1
        return step

    def describe(self) -> list[str]:
        """The timeline as lines (``gancompose explain``)."""
        lines = []
        for g, images in self.timeline():
            lines.append(f"stage {g.stage + 1}/{self.num_stages} from {images / 1000:g} kimg (step "
                         f"{self.step_at(images):,}): {g.name}, batch "
                         f"{self.batch_size_at(g.resolution)}, lr "
                         + ", ".join(f"{n} {self.lr_at(g.resolution, n)[0]:g}" for n in self.base_lr))
        return lines


SCHEDULES = [("progressive", Progressive, ProgressiveParams)]
