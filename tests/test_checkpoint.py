"""Checkpoints: contents, atomic writes, retention, loading without the recipe file."""
from __future__ import annotations

import json

import pytest
import torch

import gancompose.checkpoint as ckpt_mod
from conftest import ROOT, tiny_overrides
from gancompose import __version__
from gancompose.builder import build_run
from gancompose.checkpoint import Checkpoint, save_checkpoint
from gancompose.errors import CheckpointError
from gancompose.recipe import load_raw, load_recipe
from gancompose.runner import load_for_sampling, run_recipe
from gancompose.sampling import generate


def _recipe(tmp_path, name="dcgan_shapes.toml", extra=()):
    path = ROOT / "recipes" / name
    return load_recipe(path, [*tiny_overrides(load_raw(path), tmp_path), *extra])


def test_checkpoint_holds_everything_needed(tmp_path):
    recipe = _recipe(tmp_path, extra=["train.ema={network='generator'}"])
    result = run_recipe(recipe, max_steps=2, progress=False)
    ck = Checkpoint(result.run_dir / "checkpoints" / "last.safetensors")
    assert ck.metadata["gancompose_version"] == __version__
    assert ck.recipe == json.loads(json.dumps(recipe.model_dump(mode="json")))
    keys = set(ck.keys)
    assert "networks.generator.main.0.weight" in keys            # names follow the recipe's structure
    assert "networks.discriminator.main.3.running_mean" in keys  # buffers too
    assert "ema.generator.main.0.weight" in keys
    assert {"optimizers.generator.0.exp_avg", "optimizers.discriminator.0.exp_avg_sq", "rng.cpu", "counters"} <= keys
    assert ck.counters()[:2] == [2, 2 * 4]


def test_write_is_atomic(tmp_path, monkeypatch):
    run = build_run(_recipe(tmp_path))
    target = tmp_path / "ck.safetensors"
    save_checkpoint(run, target)
    before = target.read_bytes()

    def broken_save(tensors, filename, metadata=None):
        with open(filename, "wb") as fh:
            fh.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt_mod, "save_file", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(run, target)
    assert target.read_bytes() == before                      # the old checkpoint is intact
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["ck.safetensors"]  # no temp file left


def test_keeps_the_last_n(tmp_path):
    recipe = _recipe(tmp_path, extra=["train.checkpoint_every=1", "train.keep_checkpoints=2"])
    result = run_recipe(recipe, max_steps=5, progress=False)
    names = sorted(p.name for p in (result.run_dir / "checkpoints").glob("*.safetensors"))
    assert names == ["last.safetensors", "step_0000004.safetensors", "step_0000005.safetensors"]
    assert Checkpoint(result.run_dir / "checkpoints" / "last.safetensors").counters()[0] == 5


def test_sampling_from_the_checkpoint_alone(tmp_path):
    result = run_recipe(_recipe(tmp_path), max_steps=2, progress=False)
    loaded = load_for_sampling(result.run_dir / "checkpoints" / "last.safetensors")
    torch.testing.assert_close(generate(loaded, 8, seed=3), generate(result.run, 8, seed=3))


def test_resume_refuses_other_networks(tmp_path):
    result = run_recipe(_recipe(tmp_path), max_steps=1, progress=False)
    other = _recipe(tmp_path, extra=["networks.generator.ngf=4"])
    with pytest.raises(CheckpointError, match="other networks"):
        run_recipe(other, resume=result.run_dir / "checkpoints" / "last.safetensors", progress=False)


def test_not_a_checkpoint(tmp_path):
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        Checkpoint(bad)
    with pytest.raises(CheckpointError, match="not found"):
        Checkpoint(tmp_path / "missing.safetensors")


def test_the_cuda_generator_state_is_the_run_devices_and_older_files_still_resume():
    """A checkpoint keeps the CUDA state of the run's device only (rng.cuda): under torchrun every process
    draws the same global numbers, so process 0's state is every process's, and a file written on an 8-GPU
    machine resumes on a 1-GPU one. Older files hold one rng.cuda.<i> per device of the writing machine."""
    from gancompose.checkpoint import cuda_rng_state
    a, b, c = (torch.full((4,), v, dtype=torch.uint8) for v in (1, 2, 3))
    assert cuda_rng_state({"cpu": a, "cuda": b}, torch.device("cuda", 3)) is b
    older = {"cpu": a, "cuda.0": b, "cuda.1": c}
    assert cuda_rng_state(older, torch.device("cuda")) is b
    assert cuda_rng_state(older, torch.device("cuda", 1)) is c
    assert cuda_rng_state(older, torch.device("cuda", 5)) is b  # written on fewer GPUs than this machine has
    assert cuda_rng_state({"cpu": a}, torch.device("cuda")) is None  # written on the CPU
    assert cuda_rng_state({"cpu": a, "cuda": b}, torch.device("cpu")) is None
