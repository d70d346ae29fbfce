"""A NaN loss or gradient under each ``train.on_nan`` policy (issue 11): ``stop`` keeps the last good checkpoint and
names the step, ``skip`` drops and counts the steps, ``rollback`` reloads with a lower rate and gives up after
``train.max_rollbacks``. Non-finite optimizer state and huge finite losses: tests/test_nonfinite_state.py."""
from __future__ import annotations

import json

import pytest

import gancompose.runner as runner_mod
from conftest import ROOT, all_finite, invoke, tiny_overrides
from gancompose.callbacks.nan_guard import NonFiniteError
from gancompose.checkpoint import Checkpoint
from gancompose.recipe import load_raw, load_recipe
from gancompose.runner import run_recipe

RING = ROOT / "recipes" / "vanilla_gan_ring.toml"


def ring(tmp_path, *extra):
    return load_recipe(RING, [*tiny_overrides(load_raw(RING), tmp_path), "metrics=[]",
                              "networks.generator.hidden=[16, 16]", "networks.discriminator.hidden=[16, 16]",
                              *extra])


def _poison(monkeypatch, steps, *, grad=False, once=True):
    """Make the discriminator's output (or, with ``grad``, its first weight's gradient) NaN at ``steps``."""
    real_build = runner_mod.build_run
    fired: set[int] = set()

    def build(*args, **kwargs):
        run = real_build(*args, **kwargs)

        def bad_now():
            s = run.state.step
            if s in steps and not (once and s in fired):
                return s
            return None

        if grad:
            p = next(run.networks["discriminator"].parameters())

            def hook(g):
                s = bad_now()
                if s is None:
                    return g
                fired.add(s)
                return g * float("nan")
            p.register_hook(hook)
        else:
            def fwd(module, args, out):
                s = bad_now()
                if s is None:
                    return out
                fired.add(s)
                return out * float("nan")
            run.networks["discriminator"].register_forward_hook(fwd)
        return run

    monkeypatch.setattr(runner_mod, "build_run", build)
    return fired


def test_nan_stop_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    _poison(monkeypatch, {22})
    recipe = ring(tmp_path, "train.steps=60", "train.log_every=5", "train.checkpoint_every=10")
    with pytest.raises(NonFiniteError) as info:
        run_recipe(recipe, progress=False)
    msg = str(info.value)
    assert "non-finite loss at step 22" in msg and "discriminator/adversarial = nan" in msg
    # found at the next log interval (no host sync per step), yet naming the exact step
    metrics = [json.loads(x) for x in next(tmp_path.glob("*/*/metrics.jsonl")).read_text().splitlines()]
    assert metrics[-1]["step"] == 25 and metrics[-2]["step"] == 20
    assert "train.on_nan = 'stop'" in msg and "--resume" in msg and "step_0000020" in msg
    folder = next(tmp_path.glob("*/*/checkpoints"))
    assert sorted(p.name for p in folder.glob("step_*")) == ["step_0000010.safetensors", "step_0000020.safetensors"]
    assert Checkpoint(folder / "last.safetensors").counters()[0] == 20 and all_finite(folder / "last.safetensors")


def test_nan_gradient_stops_too(tmp_path, monkeypatch):
    # a finite loss with a NaN gradient in D's step: D's weights turn NaN, so the generator's loss of the same
    # step is NaN (the next loss that reads them); no checkpoint after it
    _poison(monkeypatch, {25}, grad=True)
    recipe = ring(tmp_path, "train.steps=60", "train.log_every=5", "train.checkpoint_every=10")
    with pytest.raises(NonFiniteError, match="non-finite loss at step 25: .*generator/adversarial = nan"):
        run_recipe(recipe, progress=False)
    last = next(tmp_path.glob("*/*/checkpoints/last.safetensors"))
    assert Checkpoint(last).counters()[0] == 20 and all_finite(last)


def test_nan_stop_from_the_command_line(tmp_path, monkeypatch):
    _poison(monkeypatch, {3})
    result = invoke("run", RING, *sum((["--set", o] for o in tiny_overrides(load_raw(RING), tmp_path)), []),
                    "--set", "metrics=[]", "--set", "train.steps=10", "--quiet")
    assert result.exit_code == 2 and "\nerror: non-finite loss at step 3: discriminator/adversarial = nan" \
        in result.output and "Traceback" not in result.output
    assert "No checkpoint was written before it" in result.output


def test_nan_skip_drops_and_counts_steps(tmp_path, monkeypatch):
    _poison(monkeypatch, {3, 7}, once=False)  # each poisoned step: the D phase and the G phase both see NaN
    recipe = ring(tmp_path, "train.steps=12", "train.on_nan='skip'", "train.log_every=4")
    result = run_recipe(recipe, progress=False)
    assert result.run.state.step == 12 and result.run.skipped_steps == 4
    assert all_finite(result.run_dir / "checkpoints" / "last.safetensors")
    lines = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [x.get("skipped_steps") for x in lines] == [2, 4, 4]
    assert all(v == v for x in lines for v in x.values())  # no NaN in the logged means


def test_nan_skip_catches_gradients(tmp_path, monkeypatch):
    _poison(monkeypatch, {5}, grad=True, once=False)
    result = run_recipe(ring(tmp_path, "train.steps=8", "train.on_nan='skip'"), progress=False)
    assert result.run.skipped_steps == 1 and all_finite(result.run_dir / "checkpoints" / "last.safetensors")


def test_nan_rollback_reloads_with_lower_lr(tmp_path, monkeypatch):
    fired = _poison(monkeypatch, {25})
    recipe = ring(tmp_path, "train.steps=40", "train.log_every=5", "train.checkpoint_every=10",
                  "train.on_nan='rollback'", "train.rollback_lr_factor=0.25")
    result = run_recipe(recipe, progress=False)
    assert fired == {25} and result.run.state.step == 40
    for name, opt in result.run.optimizers.items():
        assert opt.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.25), name
    last = result.run_dir / "checkpoints" / "last.safetensors"
    assert all_finite(last)
    assert json.loads(Checkpoint(last).metadata["optimizers"])["generator"]["param_groups"][0]["lr"] == \
        pytest.approx(2.5e-4)
    steps = [json.loads(x)["step"] for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(5, 41, 5))  # the lines after the rollback point were replaced, not duplicated


def test_nan_rollback_gives_up(tmp_path, monkeypatch):
    _poison(monkeypatch, {25}, once=False)  # comes back after every rollback
    recipe = ring(tmp_path, "train.steps=40", "train.log_every=5", "train.checkpoint_every=10",
                  "train.on_nan='rollback'", "train.max_rollbacks=2")
    with pytest.raises(NonFiniteError, match=r"non-finite loss at step 25: .* \(after 2 rollbacks\)"):
        run_recipe(recipe, progress=False)
