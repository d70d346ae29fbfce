"""The training loop: phases, n_critic, reused fakes, frozen networks, lazy terms, LR schedules, EMA, learning."""
from __future__ import annotations

import pytest
import torch

from conftest import ROOT, tiny_overrides
from gancompose import hookimpl
from gancompose.builder import build_run
from gancompose.engine import Constraint, RegularizerParams, RegularizerTerm, train
from gancompose.recipe import load_raw, load_recipe
from gancompose.registry import build_registry


class Probe(RegularizerTerm):
    """Records, each time it runs, the step and whether the discriminator's parameters require grad."""
    name = "probe"
    calls: list = []

    def __call__(self, ctx):
        Probe.calls.append((ctx.step, self.network, all(p.requires_grad for p in ctx.discriminator.parameters()),
                            all(p.requires_grad for p in ctx.generator.parameters())))
        return ctx.real.sum() * 0.0 + 1.0


class ProbePlugin:
    @hookimpl
    def register_regularizers(self, register):
        register("probe", Probe, RegularizerParams)


@pytest.fixture
def registry():
    Probe.calls = []
    return build_registry({"probe": ProbePlugin()})


def _run(tmp_path, registry, name="vanilla_gan_ring.toml", extra=()):
    path = ROOT / "recipes" / name
    recipe = load_recipe(path, [*tiny_overrides(load_raw(path), tmp_path), *extra], registry=registry)
    return build_run(recipe, registry=registry)


def _count_forwards(module):
    counter = {"n": 0}
    module.register_forward_hook(lambda *a: counter.__setitem__("n", counter["n"] + 1))
    return counter


def test_n_critic_runs_discriminator_phase_n_times_on_fresh_data(tmp_path, registry):
    run = _run(tmp_path, registry, extra=["schedule.n_critic=5"])
    d = _count_forwards(run.networks["discriminator"])
    train(run, until=2)
    assert run.state.images_seen == 2 * 5 * 4  # each critic update takes a new real batch
    assert d["n"] == 2 * (5 * 2 + 1)  # D(real) and D(fake) per critic update, D(G(z)) per generator update


@pytest.mark.parametrize("reuse, expected", [(True, 1), (False, 2)])
def test_reuse_fake_saves_a_generator_forward(tmp_path, registry, reuse, expected):
    run = _run(tmp_path, registry, extra=[f"schedule.reuse_fake={str(reuse).lower()}"])
    g = _count_forwards(run.networks["generator"])
    train(run, until=3)
    assert g["n"] == 3 * expected


def test_phases_freeze_the_network_they_do_not_train(tmp_path, registry):
    run = _run(tmp_path, registry, extra=["regularizers=[{type='probe', network='generator'}, "
                                          "{type='probe', network='discriminator'}]"])
    train(run, until=1)
    by_phase = {phase: (d_grad, g_grad) for _, phase, d_grad, g_grad in Probe.calls}
    assert by_phase["generator"] == (False, True)       # D frozen while G learns
    assert by_phase["discriminator"] == (True, False)   # G frozen while D learns (fakes not reused)
    assert all(p.requires_grad for p in run.networks.parameters())  # everything unfrozen after the step


def test_lazy_term_fires_every_n_steps_with_weight_times_n(tmp_path, registry):
    from gancompose.engine.loop import StepLogs, _GradSwitch, run_step
    run = _run(tmp_path, registry, extra=["regularizers=[{type='probe', every=4, weight=0.5}]"])
    logs, grads = StepLogs(), _GradSwitch(run.networks)
    for step in range(10):
        run_step(run, step, logs, grads)
    assert [c[0] for c in Probe.calls] == [0, 4, 8]
    # the probe returns 1 each time it fires; the loop adds it times weight * every = 0.5 * 4
    assert logs.means()["discriminator/probe"] == pytest.approx(2.0)


def test_regularizer_on_a_network_no_phase_trains(tmp_path, registry):
    from gancompose.errors import RecipeError
    with pytest.raises(RecipeError) as e:
        _run(tmp_path, registry, extra=["regularizers=[{type='probe', network='discriminatr'}]"])
    assert e.value.key == "regularizers[0].network" and "did you mean 'discriminator'" in str(e.value)


def test_lr_schedule_is_applied_per_step(tmp_path, registry):
    run = _run(tmp_path, registry, extra=["train.steps=10",
                                          "optimizers.generator.lr_schedule={type='linear_decay', start=0.5}"])
    base = run.optimizers["generator"].param_groups[0]["initial_lr"]
    train(run, until=8)  # the last step run was step 7: factor 1 - (7 - 5) / 5
    assert run.optimizers["generator"].param_groups[0]["lr"] == pytest.approx(base * 0.6)
    assert run.optimizers["discriminator"].param_groups[0]["lr"] == pytest.approx(1e-3)


def test_ema_averages_the_weights(tmp_path, registry):
    run = _run(tmp_path, registry, extra=["train.ema={network='generator', decay=0.9}"])
    ema = run.ema["generator"]
    before = [p.detach().clone() for p in ema.parameters()]
    train(run, until=1)
    for b, e, p in zip(before, ema.parameters(), run.networks["generator"].parameters()):
        torch.testing.assert_close(e, 0.9 * b + 0.1 * p.detach())


def _mode_distance(run, n=512):
    with torch.no_grad():
        pts = run.networks["generator"](run.sample_latent(n))
    centers = run.dataset.centers
    return torch.cdist(pts, centers).min(dim=1).values.mean().item()


def test_vanilla_gan_learns_the_ring(tmp_path, registry):
    path = ROOT / "recipes" / "vanilla_gan_ring.toml"
    recipe = load_recipe(path, [f'train.output_dir="{tmp_path}"', "train.batch_size=128"], registry=registry)
    run = build_run(recipe, registry=registry)
    before = _mode_distance(run)
    train(run, until=800)
    after = _mode_distance(run)
    assert after < before / 2, (before, after)  # generated points move onto the ring's modes


def test_discriminator_loss_falls_against_a_fixed_generator(tmp_path, registry):
    run = _run(tmp_path, registry, extra=["train.batch_size=64"])
    d, opt = run.networks["discriminator"], run.optimizers["discriminator"]

    def d_loss():
        with torch.no_grad():
            return run.loss.discriminator(d(run.next_batch()["image"]),
                                          d(run.networks["generator"](run.sample_latent(64)))).item()
    start = d_loss()
    for _ in range(100):
        real, fake = run.next_batch()["image"], run.networks["generator"](run.sample_latent(64)).detach()
        loss = run.loss.discriminator(d(real), d(fake))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert d_loss() < start * 0.5


def test_metrics_are_logged_and_leave_training_untouched(tmp_path):
    from gancompose.runner import run_recipe
    import json
    path = ROOT / "recipes" / "vanilla_gan_ring.toml"
    base = [*tiny_overrides(load_raw(path), tmp_path), "train.steps=4"]
    with_metric = run_recipe(load_recipe(path, [*base, "metrics=[{type='mode_coverage', every=2, samples=200}]"]),
                             progress=False)
    without = run_recipe(load_recipe(path, [*base, "metrics=[]"]), progress=False)
    lines = [json.loads(x) for x in (with_metric.run_dir / "metrics.jsonl").read_text().splitlines()]
    evals = [x for x in lines if "mode_coverage/modes" in x]
    assert [x["step"] for x in evals] == [2, 4]
    assert all(0 <= x["mode_coverage/modes"] <= 8 and 0 <= x["mode_coverage/high_quality"] <= 1 for x in evals)
    for a, b in zip(with_metric.run.networks.parameters(), without.run.networks.parameters()):
        assert torch.equal(a, b)  # evaluating did not consume the training random stream


class Clamp(Constraint):
    """A constraint: clamps the regularized network's weights after each optimizer step."""
    name = "clamp"

    def after_step(self, ctx):
        with torch.no_grad():
            for p in ctx.run.networks[self.network].parameters():
                p.clamp_(-0.001, 0.001)


def test_constraints_run_after_the_optimizer_step(tmp_path):
    class Plugin:
        @hookimpl
        def register_regularizers(self, register):
            register("clamp", Clamp, RegularizerParams)
    reg = build_registry({"clamp": Plugin()})
    run = _run(tmp_path, reg, extra=["regularizers=[{type='clamp'}]", "schedule.n_critic=2"])
    assert run.schedule.phases(0)[0].constraints and not run.schedule.phases(0)[1].constraints
    train(run, until=2)
    assert all(p.abs().max() <= 0.001 for p in run.networks["discriminator"].parameters())
    assert any(p.abs().max() > 0.001 for p in run.networks["generator"].parameters())


def test_a_regularizer_term_with_after_step_must_declare_itself_a_constraint():
    with pytest.raises(TypeError, match="subclass gancompose.engine.Constraint"):
        class Undeclared(RegularizerTerm):  # noqa: F841  (refused when the class is defined, at plugin import)
            def after_step(self, ctx):
                pass
    with pytest.raises(TypeError, match="is a constraint"):
        Clamp(RegularizerParams(network="discriminator"))(None)  # never summed into a loss by mistake
