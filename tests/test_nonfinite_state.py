"""Nothing non-finite is ever checkpointed, and a run diverging with finite losses is stopped (issue 22).

Adam's ``exp_avg_sq`` overflows to Inf under huge finite gradients while the weights and the losses stay finite;
a loss of 1e16 is finite too. Both are faults handled as ``train.on_nan`` says; a run stopped on a fault exits
non-zero."""
from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

import gancompose.runner as runner_mod
from conftest import ROOT, tiny_overrides
from gancompose.builder import build_run
from gancompose.callbacks.nan_guard import NonFiniteError, nonfinite_state
from gancompose.checkpoint import Checkpoint, NonFiniteStateError, nonfinite, save_checkpoint
from gancompose.cli import cli
from gancompose.recipe import load_raw, load_recipe
from gancompose.runner import run_recipe

RING = ROOT / "recipes" / "vanilla_gan_ring.toml"


def ring(tmp_path, *extra):
    return load_recipe(RING, [*tiny_overrides(load_raw(RING), tmp_path), "metrics=[]",
                              "networks.generator.hidden=[16, 16]", "networks.discriminator.hidden=[16, 16]",
                              "train.steps=40", "train.log_every=5", "train.checkpoint_every=10", *extra])


def _explode_gradient(monkeypatch, at_step: int, factor: float = 1e30):
    """At ``at_step``, D's first weight gets a gradient x ``factor``: finite, but its square overflows float32,
    so Adam's exp_avg_sq becomes Inf while the weights (the update is exp_avg / sqrt(Inf) = 0) and losses stay
    finite."""
    real_build = runner_mod.build_run
    fired = []

    def build(*args, **kwargs):
        run = real_build(*args, **kwargs)
        p = next(run.networks["discriminator"].parameters())

        def hook(g):
            if run.state.step == at_step and not fired:
                fired.append(at_step)
                return g * factor
            return g
        p.register_hook(hook)
        return run
    monkeypatch.setattr(runner_mod, "build_run", build)
    return fired


def _scale_output(monkeypatch, at_step: int, factor: float):
    real_build = runner_mod.build_run

    def build(*args, **kwargs):
        run = real_build(*args, **kwargs)
        run.networks["discriminator"].register_forward_hook(
            lambda m, a, out: out * factor if run.state.step == at_step else out)
        return run
    monkeypatch.setattr(runner_mod, "build_run", build)


def _checkpoints_finite(folder) -> list[int]:
    steps = []
    for path in sorted(folder.glob("*.safetensors")):
        assert not nonfinite(Checkpoint(path).tensors()), path
        steps.append(Checkpoint(path).counters()[0])
    return steps


def test_inf_optimizer_state_with_finite_weights_and_losses_stops(tmp_path, monkeypatch):
    fired = _explode_gradient(monkeypatch, 13)
    with pytest.raises(NonFiniteError) as info:
        run_recipe(ring(tmp_path), progress=False)
    assert fired == [13]
    msg = str(info.value)
    assert "non-finite values (NaN/Inf) by step 20 in optimizers.discriminator.0.exp_avg_sq" in msg, msg
    assert "step_0000010" in msg and "stopped (train.on_nan = 'stop')" in msg
    folder = next(tmp_path.glob("*/*/checkpoints"))
    assert _checkpoints_finite(folder) == [10, 10]  # last + step 10; nothing at step 20 or at the end


def test_skip_cannot_drop_a_state_already_made_non_finite(tmp_path, monkeypatch):
    _explode_gradient(monkeypatch, 13)
    with pytest.raises(NonFiniteError, match="exp_avg_sq.*'skip' cannot drop it"):
        run_recipe(ring(tmp_path, "train.on_nan='skip'"), progress=False)
    assert _checkpoints_finite(next(tmp_path.glob("*/*/checkpoints"))) == [10, 10]


def test_rollback_reloads_the_last_good_checkpoint(tmp_path, monkeypatch):
    _explode_gradient(monkeypatch, 13)
    result = run_recipe(ring(tmp_path, "train.on_nan='rollback'"), progress=False)
    assert result.run.state.step == 40
    assert result.run.optimizers["discriminator"].param_groups[0]["lr"] == pytest.approx(5e-4)
    assert not nonfinite_state(result.run)
    assert _checkpoints_finite(result.run_dir / "checkpoints")[-1] == 40


def test_a_huge_finite_loss_is_a_fault(tmp_path, monkeypatch):
    _scale_output(monkeypatch, 12, 1e12)
    with pytest.raises(NonFiniteError, match=r"loss beyond train.max_loss = 1e\+09 at step 12: "
                                             r"discriminator/adversarial = "):
        run_recipe(ring(tmp_path), progress=False)
    assert not list(tmp_path.glob("*/*/checkpoints/step_0000020.safetensors"))


def test_max_loss_is_a_recipe_setting(tmp_path, monkeypatch):
    _scale_output(monkeypatch, 12, 1e5)  # losses about 1e5: finite, gradients fine
    assert run_recipe(ring(tmp_path / "default"), progress=False).run.state.step == 40
    with pytest.raises(NonFiniteError, match=r"loss beyond train.max_loss = 1000 at step 12"):
        run_recipe(ring(tmp_path / "tight", "train.max_loss=1e3"), progress=False)


def test_save_checkpoint_refuses_non_finite_tensors(tmp_path):
    run = build_run(ring(tmp_path))
    save_checkpoint(run, tmp_path / "good.safetensors")
    with torch.no_grad():
        list(run.networks["generator"].parameters())[-1][0] = float("inf")
    with pytest.raises(NonFiniteStateError, match=r"not writing the checkpoint .*bad.safetensors: non-finite "
                                                  r"values \(NaN/Inf\) in networks.generator"):
        save_checkpoint(run, tmp_path / "bad.safetensors")
    assert not (tmp_path / "bad.safetensors").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["good.safetensors"]


@pytest.mark.parametrize("mode", ["stop", "skip", "rollback"])
def test_diverging_ring_exits_non_zero_in_every_mode(tmp_path, mode):
    """The report: the ring recipe at lr 1e3 ended 'done', exit 0, with Inf in its checkpoints."""
    res = CliRunner().invoke(cli, ["run", str(RING), "--set", "optimizers.generator.lr=1e3", "--set",
                                   f"train.on_nan='{mode}'", "--set", "metrics=[]", "--set", "train.sample_every=0",
                                   "--set", "train.steps=300", "--set", "train.checkpoint_every=100",
                                   "--device", "cpu", "--quiet", "--output-dir", str(tmp_path)])
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit), res.output
    assert "Traceback" not in res.output and "error: " in res.output
    assert "done at step" not in res.output
    for path in tmp_path.glob("*/*/checkpoints/*.safetensors"):
        assert not nonfinite(Checkpoint(path).tensors()), path


def test_a_checkpoint_altered_to_hold_nan_is_not_resumed_evaluated_or_exported(tmp_path):
    """gancompose never writes a non-finite tensor; a file altered by hand to hold one is refused where it would
    spread (resume, eval, export), naming the tensor. (Before, a resume trained from it and then called it "the last
    good checkpoint"; eval printed NaN measures; export wrote the NaN weights.)"""
    from safetensors.torch import load_file, save_file
    from safetensors import safe_open
    from conftest import invoke, refusal
    result = run_recipe(ring(tmp_path, "train.steps=10"), progress=False)
    good = result.last_checkpoint
    with safe_open(str(good), "pt") as f:
        metadata = f.metadata()
    tensors = load_file(str(good))
    name = next(k for k in tensors if k.startswith("networks.generator.") and tensors[k].is_floating_point())
    tensors[name][0] = float("nan")
    poisoned = tmp_path / "poisoned.safetensors"
    save_file(tensors, str(poisoned), metadata=metadata)
    for args in (["run", "--resume", poisoned, "--max-steps", 12], ["eval", poisoned, "--metric", "mode_coverage"],
                 ["export", poisoned, "-o", tmp_path / "g.safetensors"]):
        msg = " ".join(refusal(invoke(*args)).split())
        assert "holds non-finite values (NaN/Inf) in " + name in msg and "altered or damaged" in msg, (args, msg)
    assert not (tmp_path / "g.safetensors").exists()
    assert invoke("eval", good, "--metric", "mode_coverage").exit_code == 0  # the file it was made from is fine
