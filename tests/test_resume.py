"""An interrupted run resumed from its checkpoint ends bitwise equal to an uninterrupted run."""
from __future__ import annotations

import json

import torch

from conftest import ROOT, tiny_overrides
from gancompose.checkpoint import Checkpoint
from gancompose.recipe import load_raw, load_recipe
from gancompose.runner import run_recipe


def _weights(path):
    return Checkpoint(path).tensors()


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if key.startswith("rng") or key == "counters" or torch.equal(a[key], b[key]):
            continue
        raise AssertionError(f"{key} differs")
    assert torch.equal(a["counters"], b["counters"])


def _recipe(name, tmp_path, extra=()):
    path = ROOT / "recipes" / name
    return load_recipe(path, [*tiny_overrides(load_raw(path), tmp_path), "train.steps=200", *extra])


def test_dcgan_100_plus_100_equals_200(tmp_path):
    # BatchNorm, Adam, reused fakes, EMA, an LR schedule and data epochs (64 samples / batch 4 = 16 batches
    # per epoch, so the resume point falls mid-epoch) all have to come back exactly.
    extra = ["train.ema={network='generator', decay=0.95}",
             "optimizers.generator.lr_schedule={type='linear_decay', start=0.25}"]
    recipe = _recipe("dcgan_shapes.toml", tmp_path / "a", extra)
    full = run_recipe(recipe, progress=False)

    recipe_b = _recipe("dcgan_shapes.toml", tmp_path / "b", extra)
    first = run_recipe(recipe_b, max_steps=100, progress=False)
    assert first.run.state.step == 100
    second = run_recipe(recipe_b, resume=first.run_dir / "checkpoints" / "last.safetensors", progress=False)
    assert second.run_dir == first.run_dir
    assert second.run.state.step == 200

    _assert_same(_weights(full.run_dir / "checkpoints" / "last.safetensors"),
                 _weights(second.run_dir / "checkpoints" / "last.safetensors"))
    # the metrics log continues where it stopped, without duplicated steps
    steps = [json.loads(x)["step"] for x in (second.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 201))


def test_resume_with_n_critic_mid_epoch(tmp_path):
    extra = ["schedule.n_critic=3", "train.steps=30"]
    full = run_recipe(_recipe("vanilla_gan_ring.toml", tmp_path / "a", extra), progress=False)
    recipe = _recipe("vanilla_gan_ring.toml", tmp_path / "b", extra)
    first = run_recipe(recipe, max_steps=7, progress=False)
    second = run_recipe(recipe, resume=first.run_dir / "checkpoints" / "last.safetensors", progress=False)
    assert second.run.state.images_seen == full.run.state.images_seen == 30 * 3 * 4
    _assert_same(_weights(full.run_dir / "checkpoints" / "last.safetensors"),
                 _weights(second.run_dir / "checkpoints" / "last.safetensors"))


def test_different_seed_differs(tmp_path):
    a = run_recipe(_recipe("vanilla_gan_ring.toml", tmp_path / "a", ["train.steps=5"]), progress=False)
    b = run_recipe(_recipe("vanilla_gan_ring.toml", tmp_path / "b", ["train.steps=5", "train.seed=1"]), progress=False)
    wa = _weights(a.run_dir / "checkpoints" / "last.safetensors")
    wb = _weights(b.run_dir / "checkpoints" / "last.safetensors")
    assert not torch.equal(wa["networks.generator.0.weight"], wb["networks.generator.0.weight"])


def test_format_1_checkpoints_count_the_data_position_in_batches(tmp_path):
    from safetensors.torch import load_file, save_file
    recipe = _recipe("dcgan_shapes.toml", tmp_path / "a")
    first = run_recipe(recipe, max_steps=5, progress=False)  # 64 samples / batch 4: mid-epoch at step 5
    ckpt = first.run_dir / "checkpoints" / "last.safetensors"
    tensors, meta = load_file(ckpt), dict(Checkpoint(ckpt).metadata)
    assert tensors["counters"].tolist()[2:] == [0, 20]  # epoch 0, 20 samples taken
    old = tmp_path / "old.safetensors"
    tensors["counters"][3] = 5  # what gancompose.checkpoint/1 wrote: 5 batches
    save_file(tensors, old, metadata={**meta, "format": "gancompose.checkpoint/1"})
    resumed = {}
    for name, path in (("new", ckpt), ("old", old)):
        resumed[name] = run_recipe(_recipe("dcgan_shapes.toml", tmp_path / name), resume=path, max_steps=8,
                                   progress=False)
    _assert_same(_weights(resumed["new"].last_checkpoint), _weights(resumed["old"].last_checkpoint))
