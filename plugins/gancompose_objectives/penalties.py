"""Critic regularizers: weight clipping (a constraint), gradient penalty, R1, R2 and drift (loss terms).

The loss terms return the *unweighted* penalty; the engine multiplies it by ``weight * every`` on
the steps it fires (``every > 1``: lazy regularization, StyleGAN2). They act on the network named by
``network`` (default ``"discriminator"``) and join the phase that trains it.

Gradient penalties take the gradient of the critic's output with respect to its *input* only, with
``torch.autograd.grad(..., inputs=x, create_graph=True)``: nothing is accumulated into the critic's
``.grad`` when the term is evaluated, and the loop's single ``backward()`` of the phase's summed loss
differentiates the penalty (second order) into the critic's parameters. The input is made a leaf
that requires grad, so the penalty does not depend on which networks the phase froze; real and fake
samples are detached, so no gradient reaches the generator (even when the phase reuses its fakes).
The critic's outputs are summed before differentiating, so any output shape works (one score per
sample, a patch map, several heads); samples must not interact in the critic (no BatchNorm: use a
critic without it, as WGAN-GP does).
"""
from __future__ import annotations

import torch
from pydantic import Field, PositiveFloat

from gancompose import RecipeError
from gancompose.engine import Constraint, RegularizerParams, RegularizerTerm
from gancompose.engine.context import call, is_conditional


def _critic(ctx, name: str) -> torch.nn.Module:
    """The regularized network; it must take data samples (not latents) as input."""
    recipe = getattr(ctx.run, "recipe", None)
    spec = recipe.networks.get(name) if recipe is not None else None
    if spec is not None and getattr(spec, "input", "data") != "data":
        raise RecipeError(f"this regularizer penalises the gradient of network {name!r} with respect to data "
                          f"samples, but {name!r} takes input = {spec.input!r}",
                          hint="regularize the discriminator (network = 'discriminator')")
    return ctx.network(name)


def _labels(ctx, net: torch.nn.Module, fake: bool) -> torch.Tensor | None:
    """The class labels a conditional critic takes with these samples (None if it is unconditional)."""
    if not is_conditional(net):
        return None
    return ctx.fake_labels if fake else ctx.labels


def _input_gradient(net: torch.nn.Module, x: torch.Tensor,
                    labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``net(x[, labels])`` and d(sum net(x))/dx, the latter with its graph (for the loop's backward)."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        out = call(net, x, labels)
        (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return out, grad


def _squared_norms(grad: torch.Tensor) -> torch.Tensor:
    """Per-sample squared L2 norm of a gradient ``[N, ...]``."""
    return grad.reshape(grad.shape[0], -1).square().sum(dim=1)


# ------------------------------------------------------------------------------------- clipping
class WeightClippingParams(RegularizerParams):
    clip: PositiveFloat = Field(0.01, description="c: every parameter of the network is clamped to [-c, c] after "
                                                  "each of its optimizer steps (0.01 in WGAN)")


class WeightClipping(Constraint):
    """Weight clipping (WGAN, Arjovsky et al. 2017): clamp every parameter of the critic to [-c, c] after each update.

    A constraint, not a loss term: the schedule runs ``after_step`` after each optimizer step of the
    phase that trains ``network`` (every critic iteration with ``n_critic``); ``weight`` is unused.
    Like the official code, it clamps all parameters, BatchNorm scales and shifts included
    (running statistics are buffers and are left alone).
    """
    name = "weight_clipping"
    #: clamping the stored weight of a spectrally normalized layer constrains nothing (the layer divides it by its
    #: largest singular value), and clamping the normalized weight would be a second, unrelated constraint: a
    #: critic with spectral norm on any layer is refused while building (gancompose/recipe/checks.py)
    requires = ("unnormalized_weights",)

    def __init__(self, params: WeightClippingParams):
        super().__init__(params)
        self.clip = params.clip

    @torch.no_grad()
    def after_step(self, ctx) -> None:
        for p in ctx.run.networks[self.network].parameters():
            p.clamp_(-self.clip, self.clip)


# ------------------------------------------------------------------------------ gradient penalty
class GradientPenaltyParams(RegularizerParams):
    weight: float = Field(10.0, description="lambda: multiplies the penalty (10 in WGAN-GP)")
    target: float = Field(1.0, ge=0, description="the gradient norm the critic is pulled towards (1: 1-Lipschitz)")
    one_sided: bool = Field(False, description="penalise only norms above target: max(0, ||g|| - target)^2 "
                                               "(the one-sided variant of WGAN-GP's appendix)")


class GradientPenalty(RegularizerTerm):
    """Gradient penalty (WGAN-GP, Gulrajani et al. 2017): E[(||grad D(x_hat)||_2 - target)^2] on x_hat = t*real + (1-t)*fake.

    ``t ~ U[0, 1]`` once per sample; both endpoints are detached. ``weight`` is lambda (default 10).
    """
    requires = ("data_input",)  # the network it regularizes scores data samples (checked while validating)
    name = "gradient_penalty"

    def __init__(self, params: GradientPenaltyParams):
        super().__init__(params)
        self.target = params.target
        self.one_sided = params.one_sided

    def __call__(self, ctx) -> torch.Tensor:
        net = _critic(ctx, self.network)
        real, fake = ctx.real.detach(), ctx.fake.detach()
        n = min(real.shape[0], fake.shape[0])
        real, fake = real[:n], fake[:n].to(real.dtype)
        t = torch.rand((n,) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
        x_hat = torch.lerp(fake, real, t)  # t * real + (1 - t) * fake
        labels = _labels(ctx, net, fake=False)  # interpolates are scored with the real batch's classes
        _, grad = _input_gradient(net, x_hat, None if labels is None else labels[:n])
        # vector_norm's derivative is 0 (not NaN) where a sample's gradient is exactly 0
        norm = torch.linalg.vector_norm(grad.reshape(n, -1), dim=1)
        gap = norm - self.target
        if self.one_sided:
            gap = gap.clamp(min=0)
        return gap.square().mean()


# ----------------------------------------------------------------------------------- R1 / R2
class R1Params(RegularizerParams):
    gamma: float = Field(10.0, ge=0, description="gamma: the penalty is gamma/2 * E||grad D(x)||^2 "
                                                 "(10 in Mescheder et al. 2018 and StyleGAN at 1024^2)")


class R1(RegularizerTerm):
    """R1 (Mescheder et al. 2018, "Which training methods for GANs actually converge?"): gamma/2 * E||grad D(x_real)||^2.

    Pushes the discriminator's gradient to zero on real data. StyleGAN2 applies it lazily
    (``every = 16``: the loop then multiplies it by 16).
    """
    requires = ("data_input",)  # the network it regularizes scores data samples (checked while validating)
    name = "r1"
    on_fake = False  # R1 penalizes on real data; R2 overrides this

    def __init__(self, params: R1Params):
        super().__init__(params)
        self.gamma = params.gamma

    def samples(self, ctx) -> torch.Tensor:
        return ctx.real

    def __call__(self, ctx) -> torch.Tensor:
        net = _critic(ctx, self.network)
        _, grad = _input_gradient(net, self.samples(ctx), _labels(ctx, net, fake=self.on_fake))
        return 0.5 * self.gamma * _squared_norms(grad).mean()


class R2(R1):
    """R2 (Mescheder et al. 2018): gamma/2 * E||grad D(x_fake)||^2, on detached generated samples.

    R1's counterpart on the generator's distribution; no gradient reaches the generator.
    """
    name = "r2"
    on_fake = True

    def samples(self, ctx) -> torch.Tensor:
        return ctx.fake.detach()


# -------------------------------------------------------------------------------------- drift
class DriftParams(RegularizerParams):
    epsilon: float = Field(0.001, ge=0, description="epsilon_drift: the penalty is epsilon * E[D(real)^2] "
                                                    "(0.001 in ProGAN)")


class Drift(RegularizerTerm):
    """Drift penalty (ProGAN, Karras et al. 2018): epsilon * E[D(x_real)^2], keeps a Wasserstein critic's output near 0.

    ProGAN adds it to WGAN-GP so that the critic's scores do not drift away from zero.
    """
    requires = ("data_input",)  # the network it regularizes scores data samples (checked while validating)
    name = "drift"

    def __init__(self, params: DriftParams):
        super().__init__(params)
        self.epsilon = params.epsilon

    def __call__(self, ctx) -> torch.Tensor:
        net = ctx.network(self.network)
        return self.epsilon * call(net, ctx.real, _labels(ctx, net, fake=False)).square().mean()


REGULARIZERS = [("weight_clipping", WeightClipping, WeightClippingParams),
                ("gradient_penalty", GradientPenalty, GradientPenaltyParams),
                ("r1", R1, R1Params), ("r2", R2, R1Params), ("drift", Drift, DriftParams)]
