"""``--resume`` never changes a run silently (issue 22): the recipe is compared with the checkpoint's, key by key;
a change is refused unless named with ``--allow-change``, then applied and recorded; the networks' architecture
never changes; ``RUN/recipe.toml`` is never rewritten; ``--resume RUN_DIR`` and ``--resume latest``."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from conftest import ROOT, tiny_overrides, invoke, refusal
from gancompose.checkpoint import Checkpoint
from gancompose.errors import CheckpointError
from gancompose.recipe import load_raw, load_recipe
from gancompose.runner import run_recipe

RING = ROOT / "recipes" / "vanilla_gan_ring.toml"
SMALL = ["metrics=[]", "networks.generator.hidden=[16, 16]", "networks.discriminator.hidden=[16, 16]"]


def _sets(out: Path, *extra) -> list[str]:
    args = []
    for s in [*tiny_overrides(load_raw(RING), out), *SMALL, *extra]:
        args += ["--set", s]
    return args


user_error = refusal


@pytest.fixture
def started(tmp_path):
    """A ring run of 4 steps: (output dir, run dir, the bytes of its recipe.toml, of its last checkpoint)."""
    out = tmp_path / "runs"
    res = invoke("run", RING, *_sets(out), "--max-steps", 4, "--quiet")
    assert res.exit_code == 0, res.output
    (run_dir,) = [p.parent for p in out.glob("*/*/recipe.toml")]
    return out, run_dir, (run_dir / "recipe.toml").read_bytes(), (run_dir / "checkpoints/last.safetensors").read_bytes()


@pytest.mark.parametrize("change, line", [
    ("optimizers.generator.lr=1e-4", "optimizers.generator.lr: 0.001 -> 0.0001"),
    ("train.batch_size=8", "train.batch_size: 4 -> 8"),
    ("train.seed=5", "train.seed: 0 -> 5"),
    ("loss={type='hinge'}", 'loss.type: "bce" -> "hinge"'),
    ("optimizers.discriminator={type='sgd', lr=0.01}", 'optimizers.discriminator.type: "adam" -> "sgd"'),
])
def test_a_changed_recipe_is_refused_with_the_diff(started, change, line):
    out, run_dir, recipe_before, ckpt_before = started
    msg = user_error(invoke("run", RING, *_sets(out, change), "--max-steps", 6, "--quiet", "--resume", run_dir))
    assert "differs from the one" in msg and line in msg, msg
    assert "--allow-change " + line.split(":")[0] in msg  # the hint names the flag and the key
    assert (run_dir / "recipe.toml").read_bytes() == recipe_before
    assert (run_dir / "checkpoints/last.safetensors").read_bytes() == ckpt_before  # nothing ran
    assert not (run_dir / "changes.jsonl").exists()


def test_seed_option_is_compared_too(started):
    out, run_dir, _, _ = started
    msg = user_error(invoke("run", RING, *_sets(out), "--seed", 3, "--max-steps", 6, "--resume", run_dir))
    assert "train.seed: 0 -> 3" in msg


def test_keys_that_do_not_change_the_training_may_differ(started):
    out, run_dir, recipe_before, _ = started
    res = invoke("run", RING, *_sets(out, "train.log_every=2", "train.checkpoint_every=3",
                                     "train.keep_checkpoints=9", "train.on_nan='skip'", "performance.precision='fp32'"),
                 "--output-dir", out / "elsewhere", "--max-steps", 6, "--quiet", "--resume", run_dir)
    assert res.exit_code == 0, res.output
    assert Checkpoint(run_dir / "checkpoints/last.safetensors").counters()[0] == 6
    assert not (run_dir / "changes.jsonl").exists() and not (out / "elsewhere").exists()
    assert (run_dir / "recipe.toml").read_bytes() == recipe_before


def test_a_longer_run_is_a_change_to_name(tmp_path):
    """A step-based lr schedule is a function of the total: lengthening a run changes its learning rates from the
    step it resumes at, so train.steps is refused unless named, then applied and recorded."""
    out = tmp_path / "runs"
    decay = "optimizers.generator.lr_schedule={type='linear_decay', start=0.0, end_factor=0.0}"
    ring = lambda *extra: load_recipe(RING, [*tiny_overrides(load_raw(RING), out), *SMALL, decay,  # noqa: E731
                                             *extra])
    first = run_recipe(ring("train.steps=20"), max_steps=10, progress=False)
    with pytest.raises(CheckpointError, match=r"train.steps: 20 -> 40") as err:
        run_recipe(ring("train.steps=40"), resume=first.run_dir, max_steps=12, progress=False)
    assert "--allow-change train.steps" in str(err.value)
    longer = run_recipe(ring("train.steps=40"), resume=first.run_dir, max_steps=12, progress=False,
                        allow_changes=["train.steps"])
    fresh = run_recipe(ring("train.steps=40"), max_steps=12, progress=False)
    lr = longer.run.optimizers["generator"].param_groups[0]["lr"]
    assert lr == pytest.approx(fresh.run.optimizers["generator"].param_groups[0]["lr"])  # the 40-step schedule
    changes = [json.loads(x) for x in (first.run_dir / "changes.jsonl").read_text().splitlines()]
    assert [(c["key"], c["old"], c["new"], c["step"]) for c in changes] == [("train.steps", 20, 40, 10)]


def test_allowed_lr_change_is_applied_and_recorded(tmp_path):
    out = tmp_path / "runs"
    ring = lambda *extra: load_recipe(RING, [*tiny_overrides(load_raw(RING), out), *SMALL, *extra])  # noqa: E731
    first = run_recipe(ring(), max_steps=4, progress=False)
    recipe_before = (first.run_dir / "recipe.toml").read_bytes()
    changed = ring("optimizers.generator.lr=1e-4", "optimizers.generator.betas=[0.0, 0.99]")
    with pytest.raises(CheckpointError, match="optimizers.generator.betas"):
        run_recipe(changed, resume=first.run_dir, max_steps=6, progress=False,
                   allow_changes=["optimizers.generator.lr"])
    second = run_recipe(changed, resume=first.run_dir, max_steps=6, progress=False,
                        allow_changes=["optimizers.generator.lr", "optimizers.generator.betas"])
    assert second.run_dir == first.run_dir
    g = second.run.optimizers["generator"].param_groups[0]
    assert g["lr"] == g["initial_lr"] == pytest.approx(1e-4) and tuple(g["betas"]) == (0.0, 0.99)
    d = second.run.optimizers["discriminator"].param_groups[0]
    assert d["lr"] == pytest.approx(1e-3) and tuple(d["betas"]) == (0.5, 0.999)  # unchanged
    ck = Checkpoint(second.run_dir / "checkpoints/last.safetensors")
    assert json.loads(ck.metadata["optimizers"])["generator"]["param_groups"][0]["lr"] == pytest.approx(1e-4)
    assert ck.recipe["optimizers"]["generator"]["lr"] == pytest.approx(1e-4)
    lines = [json.loads(x) for x in (first.run_dir / "changes.jsonl").read_text().splitlines()]
    assert [(x["step"], x["key"], x["old"], x["new"]) for x in lines] == [
        (4, "optimizers.generator.lr", 1e-3, 1e-4), (4, "optimizers.generator.betas", [0.5, 0.999], [0.0, 0.99])]
    assert (first.run_dir / "recipe.toml").read_bytes() == recipe_before  # the record of what was started
    # the checkpoint now carries the changed recipe: resuming with it again is no change
    third = run_recipe(ring("optimizers.generator.lr=1e-4", "optimizers.generator.betas=[0.0, 0.99]"),
                       resume=first.run_dir, max_steps=8, progress=False)
    assert third.run.state.step == 8


def test_allowed_change_from_the_command_line_is_printed_once(started):
    out, run_dir, recipe_before, _ = started
    res = invoke("run", RING, *_sets(out, "optimizers.generator.lr=1e-4"), "--max-steps", 6, "--quiet",
                 "--resume", run_dir, "--allow-change", "optimizers.generator")
    assert res.exit_code == 0, res.output
    assert res.output.count("optimizers.generator.lr: 0.001 -> 0.0001") == 1, res.output
    assert (run_dir / "recipe.toml").read_bytes() == recipe_before
    assert json.loads((run_dir / "changes.jsonl").read_text())["new"] == 1e-4


def test_optimizer_type_change_starts_its_state_over(tmp_path):
    out = tmp_path / "runs"
    ring = lambda *extra: load_recipe(RING, [*tiny_overrides(load_raw(RING), out), *SMALL, *extra])  # noqa: E731
    first = run_recipe(ring(), max_steps=3, progress=False)
    second = run_recipe(ring("optimizers.discriminator={type='sgd', lr=0.01}"), resume=first.run_dir, max_steps=5,
                        progress=False, allow_changes=["optimizers.discriminator"])
    opt = second.run.optimizers["discriminator"]
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["lr"] == pytest.approx(0.01)


@pytest.mark.parametrize("allow", [[], ["latent.dim"], ["latent"]])
def test_architecture_changes_stay_refused(started, allow):
    out, run_dir, recipe_before, _ = started
    msg = user_error(invoke("run", RING, *_sets(out, "latent.dim=3"), "--max-steps", 6, "--resume", run_dir,
                            *sum((["--allow-change", a] for a in allow), [])))
    assert "other networks" in msg and "latent.dim: 2 -> 3" in msg and "init_from" in msg
    assert "size mismatch" not in msg
    msg = user_error(invoke("run", RING, *_sets(out, "networks.generator.hidden=[8]"), "--max-steps", 6,
                            "--resume", run_dir, "--allow-change", "networks"))
    assert "networks.generator.hidden: [16, 16] -> [8]" in msg
    assert (run_dir / "recipe.toml").read_bytes() == recipe_before


def test_resume_a_run_folder_without_the_recipe(started):
    out, run_dir, recipe_before, _ = started
    res = invoke("run", "--resume", run_dir, "--max-steps", 7, "--quiet")
    assert res.exit_code == 0, res.output
    assert f"done at step 7: {run_dir}" in " ".join(res.output.split())
    assert Checkpoint(run_dir / "checkpoints/last.safetensors").counters()[0] == 7
    assert (run_dir / "recipe.toml").read_bytes() == recipe_before
    assert len(list(out.glob("*/*/recipe.toml"))) == 1
    # a --set on the run's own recipe is a change like any other
    msg = user_error(invoke("run", "--resume", run_dir, "--set", "train.batch_size=2", "--max-steps", 9))
    assert "train.batch_size: 4 -> 2" in msg


def test_resume_latest(tmp_path):
    out = tmp_path / "runs"
    for steps in (2, 3):
        res = invoke("run", RING, *_sets(out), "--max-steps", steps, "--quiet")
        assert res.exit_code == 0, res.output
    runs = sorted(p.parent for p in out.glob("*/*/recipe.toml"))
    assert len(runs) == 2
    newest = max(runs, key=lambda p: (p.name.split("-")[0], p.name))
    res = invoke("run", RING, *_sets(out), "--max-steps", 5, "--quiet", "--resume", "latest")
    assert res.exit_code == 0, res.output
    assert Checkpoint(newest / "checkpoints/last.safetensors").counters()[0] == 5
    msg = user_error(invoke("run", RING, *_sets(tmp_path / "empty"), "--resume", "latest"))
    assert "no run of 'vanilla_gan_ring'" in msg
    msg = user_error(invoke("run", "--resume", "latest"))
    assert "needs the RECIPE" in msg


def test_run_without_recipe_or_resume_is_a_clear_error(tmp_path):
    assert "give a RECIPE" in user_error(invoke("run"))
    assert "no checkpoints/last.safetensors" in user_error(invoke("run", "--resume", tmp_path))
    assert "only applies with --resume" in user_error(invoke("run", RING, "--allow-change", "train.seed"))
