"""The Wasserstein / regularizer plugin: losses, weight clipping, gradient penalty, R1, R2, drift.

Penalties are checked against their closed form on a linear critic D(x) = w.x + b, whose input
gradient is w everywhere; loop behaviour (constraints after each critic step, lazy R1, n_critic with
a gradient penalty) is checked through the real engine on shrunk recipes.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import ROOT, tiny_overrides
from gancompose.builder import build_run
from gancompose.engine import train
from gancompose.engine.loop import StepLogs, _GradSwitch, run_step
from gancompose.errors import RecipeError
from gancompose.recipe import load_raw, load_recipe
from gancompose.registry import default_registry
from gancompose_objectives.losses import BCELoss, BCEParams
from gancompose_objectives.losses import HingeLoss, HingeParams, NonSaturatingLoss, WassersteinLoss
from gancompose_objectives.penalties import (Drift, DriftParams, GradientPenalty, GradientPenaltyParams, R1,
                                                 R1Params, R2, WeightClipping, WeightClippingParams)

LINEAR_CRITIC = "networks.discriminator={type='sequential', input='data', layers=[{type='linear', out_features=1}]}"


def linear_critic(w, b=0.0, out_features=None):
    w = torch.as_tensor(w, dtype=torch.float32)
    w = w if w.dim() == 2 else w[None]
    net = nn.Linear(w.shape[1], w.shape[0])
    with torch.no_grad():
        net.weight.copy_(w)
        net.bias.fill_(b)
    return net


def context(critic, real, fake, name="discriminator"):
    """The part of a StepContext the terms read."""
    networks = {name: critic}
    return SimpleNamespace(real=real, fake=fake, run=SimpleNamespace(networks=networks), network=networks.__getitem__)


def _run(name, tmp_path, extra=()):
    path = ROOT / "recipes" / name
    recipe = load_recipe(path, [*tiny_overrides(load_raw(path), tmp_path), *extra])
    return build_run(recipe)


# --------------------------------------------------------------------------------------- losses
def test_every_loss_and_generic_penalty_is_registered_by_the_objectives_plugin():
    """One home per kind: every adversarial loss and generic penalty, whichever paper it comes from."""
    reg = default_registry()
    assert {c.name for c in reg.of_kind("loss") if c.plugin == "objectives"} == {
        "bce", "least_squares", "wasserstein", "hinge", "non_saturating"}
    for kind, names in {"loss": ["bce", "least_squares", "wasserstein", "hinge", "non_saturating"],
                        "regularizer": ["weight_clipping", "gradient_penalty", "r1", "r2", "drift"]}.items():
        for name in names:
            comp = reg.get(kind, name)
            assert comp.plugin == "objectives" and comp.doc


def test_wasserstein_loss_values_and_directions():
    loss = WassersteinLoss()
    real = torch.tensor([2.0, 0.0], requires_grad=True)
    fake = torch.tensor([-3.0, 1.0], requires_grad=True)
    d = loss.discriminator(real, fake)
    assert d.item() == pytest.approx(-1.0 - 1.0)  # E[D(fake)] - E[D(real)]
    d.backward()
    assert (real.grad < 0).all() and (fake.grad > 0).all()  # the critic raises real scores, lowers fake ones
    fake.grad = None
    g = loss.generator(fake)
    assert g.item() == pytest.approx(1.0)
    g.backward()
    assert (fake.grad < 0).all()  # the generator raises its scores


def test_hinge_loss_values_margin_and_directions():
    loss = HingeLoss(HingeParams())
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-3.0, 1.0])
    assert loss.discriminator(real, fake).item() == pytest.approx((0 + 1) / 2 + (0 + 2) / 2)
    assert loss.generator(fake).item() == pytest.approx(1.0)
    # satisfied margins: zero loss and zero gradient
    real = torch.tensor([1.5, 3.0], requires_grad=True)
    fake = torch.tensor([-1.2, -4.0], requires_grad=True)
    d = loss.discriminator(real, fake)
    d.backward()
    assert d.item() == 0.0 and not real.grad.any() and not fake.grad.any()
    # inside the margin the discriminator pushes real up and fake down
    real = torch.tensor([0.5], requires_grad=True)
    fake = torch.tensor([-0.5], requires_grad=True)
    loss.discriminator(real, fake).backward()
    assert real.grad.item() < 0 and fake.grad.item() > 0
    # a smaller margin is satisfied sooner
    half = HingeLoss(HingeParams(margin=0.5))
    assert half.discriminator(torch.tensor([0.6]), torch.tensor([-0.6])).item() == 0.0
    assert loss.discriminator(torch.tensor([0.6]), torch.tensor([-0.6])).item() == pytest.approx(0.8)


def test_non_saturating_loss_is_the_logistic_loss():
    loss = NonSaturatingLoss()
    real, fake = torch.tensor([2.0, -1.0, 0.0]), torch.tensor([-3.0, 1.0, 0.5])
    expected_d = (sum(math.log1p(math.exp(-r)) for r in real.tolist()) / 3
                  + sum(math.log1p(math.exp(f)) for f in fake.tolist()) / 3)
    assert loss.discriminator(real, fake).item() == pytest.approx(expected_d)
    assert loss.generator(fake).item() == pytest.approx(sum(math.log1p(math.exp(-f)) for f in fake.tolist()) / 3)
    bce = BCELoss(BCEParams())  # the same objective as the core's non-saturating BCE
    assert loss.discriminator(real, fake).item() == pytest.approx(bce.discriminator(real, fake).item())
    assert loss.generator(fake).item() == pytest.approx(bce.generator(fake).item())
    # it does not saturate: a confidently rejected fake still gets a gradient of about -1
    fake = torch.tensor([-20.0], requires_grad=True)
    loss.generator(fake).backward()
    assert fake.grad.item() == pytest.approx(-1.0, abs=1e-6)
    # stable for large outputs
    assert torch.isfinite(loss.discriminator(torch.tensor([-1e4]), torch.tensor([1e4])))


def test_losses_accept_any_output_shape():
    real, fake = torch.randn(4, 1, 3, 3), torch.randn(4, 1, 3, 3)
    for loss in (WassersteinLoss(), HingeLoss(HingeParams()), NonSaturatingLoss()):
        assert loss.discriminator(real, fake).shape == () and loss.generator(fake).shape == ()


# ----------------------------------------------------------------------------- gradient penalty
@pytest.mark.parametrize("w, one_sided, expected", [
    ([3.0, 4.0], False, 16.0),   # ||w|| = 5: (5 - 1)^2
    ([3.0, 4.0], True, 16.0),    # above the target: one-sided penalises it too
    ([0.3, 0.4], False, 0.25),   # ||w|| = 0.5: (0.5 - 1)^2
    ([0.3, 0.4], True, 0.0),     # below the target: one-sided leaves it alone
    ([0.6, 0.8], False, 0.0),    # exactly 1-Lipschitz
])
def test_gradient_penalty_on_a_linear_critic(w, one_sided, expected):
    critic = linear_critic(w, b=0.7)
    term = GradientPenalty(GradientPenaltyParams(one_sided=one_sided))
    assert term.weight == 10.0 and term.every == 1 and term.network == "discriminator"  # lambda = 10
    value = term(context(critic, torch.randn(16, 2), torch.randn(16, 2) * 3))
    assert value.item() == pytest.approx(expected, abs=1e-5)


def test_gradient_penalty_target():
    critic = linear_critic([3.0, 4.0])
    ctx = context(critic, torch.randn(8, 2), torch.randn(8, 2))
    assert GradientPenalty(GradientPenaltyParams(target=5.0))(ctx).item() == pytest.approx(0.0, abs=1e-5)
    assert GradientPenalty(GradientPenaltyParams(target=2.0))(ctx).item() == pytest.approx(9.0, abs=1e-4)


def test_gradient_penalty_for_images_and_any_output_shape():
    torch.manual_seed(0)
    # an image critic: flatten then linear; gradient = w reshaped to the image
    critic = nn.Sequential(nn.Flatten(), nn.Linear(2 * 4 * 4, 1))
    w = critic[1].weight.detach().flatten()
    value = GradientPenalty(GradientPenaltyParams())(context(critic, torch.randn(5, 2, 4, 4), torch.randn(5, 2, 4, 4)))
    assert value.item() == pytest.approx((w.norm().item() - 1) ** 2, rel=1e-5)
    # several outputs per sample are summed: gradient = sum of the rows of W
    W = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 0.0]])
    critic = linear_critic(W)
    value = GradientPenalty(GradientPenaltyParams())(context(critic, torch.randn(6, 2), torch.randn(6, 2)))
    assert value.item() == pytest.approx((math.sqrt(2.0 ** 2 + 2.0 ** 2) - 1) ** 2, rel=1e-5)


def test_gradient_penalty_interpolates_between_real_and_fake():
    seen = []
    critic = linear_critic([0.6, 0.8])
    critic.register_forward_hook(lambda m, args, out: seen.append(args[0].detach()))
    real, fake = torch.zeros(256, 2), torch.ones(256, 2)  # x_hat = t*0 + (1-t)*1 = (1-t, 1-t)
    GradientPenalty(GradientPenaltyParams())(context(critic, real, fake))
    x = seen[0]
    assert torch.equal(x[:, 0], x[:, 1])  # one t per sample, shared by its coordinates
    assert 0 <= x.min() and x.max() <= 1 and x[:, 0].std() > 0.2  # spread over the segment


def test_gradient_penalty_leaves_no_grads_and_differentiates_into_the_critic_only():
    critic = linear_critic([3.0, 4.0], b=0.5)
    gen = nn.Linear(2, 2)
    fake = gen(torch.randn(8, 2))  # with the generator's graph, as ctx.fake is
    term = GradientPenalty(GradientPenaltyParams())
    value = term(context(critic, torch.randn(8, 2), fake))
    # autograd.grad w.r.t. the interpolate only: nothing accumulated yet
    assert all(p.grad is None for p in [*critic.parameters(), *gen.parameters()])
    value.backward()  # the loop's one backward: second order through the penalty
    w = critic.weight.detach()
    expected = 2 * (w.norm() - 1) * w / w.norm()  # d/dw (||w|| - 1)^2
    torch.testing.assert_close(critic.weight.grad, expected)
    assert critic.bias.grad is None or not critic.bias.grad.any()  # the bias does not move the gradient
    assert all(p.grad is None for p in gen.parameters())  # the generator learns nothing from the penalty


def test_gradient_penalty_works_on_a_frozen_critic():
    critic = linear_critic([3.0, 4.0]).requires_grad_(False)
    value = GradientPenalty(GradientPenaltyParams())(context(critic, torch.randn(4, 2), torch.randn(4, 2)))
    assert value.item() == pytest.approx(16.0, abs=1e-4)


def test_gradient_penalty_is_finite_where_the_gradient_vanishes():
    critic = linear_critic([0.0, 0.0])
    value = GradientPenalty(GradientPenaltyParams())(context(critic, torch.randn(4, 2), torch.randn(4, 2)))
    value.backward()
    assert value.item() == pytest.approx(1.0) and torch.isfinite(critic.weight.grad).all()


# ---------------------------------------------------------------------------------- R1, R2, drift
def test_r1_on_a_linear_critic():
    critic = linear_critic([3.0, 4.0], b=-1.0)
    term = R1(R1Params(gamma=10.0))
    value = term(context(critic, torch.randn(8, 2), None))
    assert value.item() == pytest.approx(10.0 / 2 * 25.0)  # gamma/2 * ||w||^2
    assert all(p.grad is None for p in critic.parameters())
    value.backward()
    torch.testing.assert_close(critic.weight.grad, 10.0 * critic.weight.detach())  # d/dw gamma/2 ||w||^2


def test_r1_measures_the_gradient_on_real_data_and_r2_on_detached_fakes():
    # D(x) = sum(x^2)/2: grad = x, so the penalty is gamma/2 * E||x||^2 on the samples it is taken at
    class Quadratic(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.tensor(1.0))

        def forward(self, x):
            return 0.5 * self.scale * x.square().sum(dim=1)

    critic, gen = Quadratic(), nn.Linear(2, 2)
    real = torch.tensor([[1.0, 0.0], [0.0, 3.0]])
    fake = gen(torch.randn(2, 2))
    ctx = context(critic, real, fake)
    assert R1(R1Params(gamma=2.0))(ctx).item() == pytest.approx((1 + 9) / 2)
    r2 = R2(R1Params(gamma=2.0))(ctx)
    assert r2.item() == pytest.approx(fake.detach().square().sum(dim=1).mean().item())
    r2.backward()
    assert critic.scale.grad is not None and all(p.grad is None for p in gen.parameters())


def test_drift_on_a_linear_critic():
    critic = linear_critic([1.0, -2.0], b=0.5)
    real = torch.tensor([[1.0, 1.0], [2.0, 0.0], [0.0, 0.0]])
    outs = [1 - 2 + 0.5, 2 + 0.5, 0.5]
    value = Drift(DriftParams())(context(critic, real, None))
    assert value.item() == pytest.approx(0.001 * sum(o * o for o in outs) / 3)
    assert Drift(DriftParams(epsilon=0.1))(context(critic, real, None)).item() == pytest.approx(
        0.1 * sum(o * o for o in outs) / 3)


@pytest.mark.parametrize("reg", ["gradient_penalty", "r1", "r2", "drift"])
def test_penalties_refuse_a_network_that_takes_latents(tmp_path, reg):
    """Refused while validating (the terms declare they need a data-taking network), before anything is built."""
    with pytest.raises(RecipeError, match="input = 'latent'") as exc:
        _run("wgangp_ring.toml", tmp_path, [f"regularizers=[{{type='{reg}', network='generator'}}]"])
    assert exc.value.key == "regularizers[0].network"


# ------------------------------------------------------------------------ through the real loop
def test_weight_clipping_after_every_critic_step(tmp_path):
    run = _run("wgan_shapes.toml", tmp_path)
    c = 0.01
    d, opt = run.networks["discriminator"], run.optimizers["discriminator"]
    assert any(p.abs().max() > c for p in d.parameters())  # N(0, 0.02) init and BatchNorm scales near 1
    at_step = []  # the largest critic weight when each critic update begins
    opt.register_step_pre_hook(lambda *a: at_step.append(max(p.abs().max().item() for p in d.parameters())))
    train(run, until=3)
    assert len(at_step) == 3 * 5  # n_critic = 5
    assert all(m <= c for m in at_step[1:])  # clamped after each update, before the next one
    assert all(p.abs().max() <= c for p in d.parameters())
    assert max(p.abs().max().item() for p in d.parameters()) == pytest.approx(c)  # the clip bites
    assert any(p.abs().max() > c for p in run.networks["generator"].parameters())  # the generator is free


def test_weight_clipping_clamps_every_parameter():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.uniform_(-1, 1)
    net[1].running_var.fill_(5.0)
    WeightClipping(WeightClippingParams(clip=0.05)).after_step(context(net, None, None))
    assert all(p.abs().max() <= 0.05 for p in net.parameters())
    assert (net[1].running_var == 5.0).all()  # buffers are not parameters


def test_lazy_r1_fires_every_16_steps_with_weight_times_16(tmp_path):
    run = _run("wgangp_ring.toml", tmp_path, [
        LINEAR_CRITIC, "loss={type='non_saturating'}",
        "regularizers=[{type='r1', gamma=2.0, weight=0.5, every=16}]", "schedule.n_critic=1"])
    w = run.networks["discriminator"][0].weight
    grads, fired = _GradSwitch(run.networks), {}
    for step in range(40):
        logs = StepLogs()
        expected = 0.5 * 16 * (2.0 / 2) * w.detach().square().sum().item()  # weight * every * gamma/2 ||w||^2
        run_step(run, step, logs, grads)
        means = logs.means()
        if "discriminator/r1" in means:
            fired[step] = means["discriminator/r1"]
            assert fired[step] == pytest.approx(expected, rel=1e-5)
    assert list(fired) == [0, 16, 32]


def test_gradient_penalty_step_matches_the_analytic_update(tmp_path):
    """One critic update through the loop, with SGD: w moves by -lr * (E[fake] - E[real] + lambda * dGP/dw)."""
    run = _run("wgangp_ring.toml", tmp_path, [
        LINEAR_CRITIC, "regularizers=[{type='gradient_penalty'}]", "schedule.n_critic=1",
        "optimizers.discriminator={type='sgd', lr=0.1}"])
    d = run.networks["discriminator"]
    with torch.no_grad():
        d[0].weight.copy_(torch.tensor([[3.0, 4.0]]))
    inputs = []
    handle = d.register_forward_hook(lambda m, args, out: inputs.append(args[0].detach()))
    w0 = d[0].weight.detach().clone()
    run_step(run, 0, StepLogs(), _GradSwitch(run.networks))
    handle.remove()
    real, fake = inputs[0], inputs[1]  # the adversarial term's D(real), D(fake); then the interpolates
    grad = (fake.mean(0) - real.mean(0)) + 10.0 * 2 * (w0.norm() - 1) * w0 / w0.norm()
    torch.testing.assert_close(d[0].weight.detach(), w0 - 0.1 * grad)


def _train_recording(run, until: int) -> list[dict[str, float]]:
    """Train to step ``until`` and return each step's mean loss values (a callback reads them every step)."""
    history = []

    class Record:
        def on_train_start(self, run): pass
        def on_train_end(self, run): pass

        def on_step_end(self, run, logs):
            history.append(logs.means())
            logs.reset()

    train(run, until=until, callbacks=[Record()])
    return history


def test_n_critic_with_gradient_penalty_trains_the_critic_on_a_fixed_generator(tmp_path):
    run = _run("wgangp_ring.toml", tmp_path, [
        "regularizers=[{type='gradient_penalty'}]", "schedule.n_critic=5", "train.batch_size=64",
        "data.size=2048"])
    assert run.regularizers[0].weight == 10.0
    for group in run.optimizers["generator"].param_groups:  # hold the generator fixed
        group["lr"] = group["initial_lr"] = 0.0
    g_before = [p.detach().clone() for p in run.networks["generator"].parameters()]
    history = _train_recording(run, until=40)
    assert all(math.isfinite(v) for h in history for v in h.values())
    assert all(h["discriminator/gradient_penalty"] >= 0 for h in history)
    critic = [h["discriminator/adversarial"] for h in history]  # E[D(fake)] - E[D(real)]
    assert sum(critic[-5:]) / 5 < critic[0] - 0.05  # the critic separates real from fake: its loss falls
    for a, b in zip(g_before, run.networks["generator"].parameters()):
        assert torch.equal(a, b)


def test_hinge_with_r1_trains_through_the_loop(tmp_path):
    run = _run("wgangp_grid25.toml", tmp_path, ["loss={type='hinge'}", "regularizers=[{type='r1', every=4}, "
                                                "{type='drift'}]", "schedule.n_critic=1"])
    history = _train_recording(run, until=9)
    assert [("discriminator/r1" in h) for h in history] == [s % 4 == 0 for s in range(9)]
    assert all("discriminator/drift" in h for h in history)
    assert all(math.isfinite(v) for h in history for v in h.values())


# ------------------------------------------------------------------------------------- recipes
MINE = sorted([*ROOT.glob("recipes/wgan_*.toml"), *ROOT.glob("recipes/wgangp_*.toml"),
               *ROOT.glob("recipes/*_grid25.toml"), *ROOT.glob("recipes/*_ring.toml")])


@pytest.mark.parametrize("path", [p for p in MINE if "ring" in p.stem or "grid25" in p.stem],
                         ids=lambda p: p.stem)
def test_2d_recipes_measure_mode_coverage(path):
    recipe = load_recipe(path)
    assert any(m.type == "mode_coverage" for m in recipe.metrics)
    assert recipe.data.type == "gaussian_mixture"
    assert recipe.data.layout == ("grid" if "grid25" in path.stem else "ring")


def test_wgan_recipes_use_the_family(recipes_dir):
    wgan = load_recipe(recipes_dir / "wgan_shapes.toml")
    assert wgan.loss.type == "wasserstein" and wgan.schedule.n_critic == 5
    assert [(r.type, r.clip) for r in wgan.regularizers] == [("weight_clipping", 0.01)]
    assert wgan.optimizers["discriminator"].type == "rmsprop" and wgan.optimizers["discriminator"].lr == 5e-5
    gp = load_recipe(recipes_dir / "wgangp_shapes.toml")
    assert gp.loss.type == "wasserstein" and gp.schedule.n_critic == 5
    assert [(r.type, r.weight) for r in gp.regularizers] == [("gradient_penalty", 10.0)]
    assert gp.networks["discriminator"].batch_norm is False
    assert tuple(gp.optimizers["discriminator"].betas) == (0.0, 0.9) and gp.optimizers["discriminator"].lr == 1e-4
