"""Tracebacks where a message belongs (issue 22): each of these is one ``error:`` (file, key path, what was
expected), exit 2, no traceback."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import ROOT, tiny_overrides, invoke, refusal
from gancompose.checkpoint import Checkpoint
from gancompose.recipe import load_raw
from gancompose.recipe.sections import MAX_BATCH, MAX_SAMPLES

RING = ROOT / "recipes" / "vanilla_gan_ring.toml"


def user_error(result) -> str:
    return " ".join(refusal(result).split())


def _extends(tmp_path: Path, body: str, name="r.toml") -> Path:
    path = tmp_path / name
    path.write_text(f"extends = {json.dumps(str(RING))}\n{body}")
    return path


# ------------------------------------------------------------------------------------------ recipe reading
def test_toml_nested_thousands_of_levels(tmp_path):
    (tmp_path / "deep.toml").write_text("x = " + "[" * 2500 + "]" * 2500 + "\n")
    msg = user_error(invoke("validate", tmp_path / "deep.toml"))
    assert "deep.toml" in msg and "nested too deeply" in msg
    (tmp_path / "deep2.toml").write_text("x = " + "[" * 100 + "]" * 100 + "\n")  # parses, then refused
    assert "x[0][0]" in user_error(invoke("validate", tmp_path / "deep2.toml"))
    (tmp_path / "dotted.toml").write_text(".".join(["a"] * 3000) + " = 1\n")
    assert "nested more than 32 levels deep" in user_error(invoke("validate", tmp_path / "dotted.toml"))


def test_an_integer_of_thousands_of_digits(tmp_path):
    msg = user_error(invoke("validate", _extends(tmp_path, "[train]\nseed = " + "9" * 5000 + "\n")))
    assert "r.toml" in msg and "(line 3)" in msg and "5000 digits" in msg


def test_an_extends_chain_a_thousand_files_deep(tmp_path):
    for i in range(1000):
        (tmp_path / f"c{i}.toml").write_text(f"extends = 'c{i + 1}.toml'\n")
    msg = user_error(invoke("validate", tmp_path / "c0.toml"))
    assert "c0.toml: extends: 'extends' chains more than 32 files" in msg


def test_an_extends_name_longer_than_the_filesystem_allows(tmp_path):
    (tmp_path / "r.toml").write_text("extends = '" + "a" * 300 + ".toml'\n")
    msg = user_error(invoke("validate", tmp_path / "r.toml"))
    assert "r.toml: extends: cannot read the extended recipe" in msg and "File name too long" in msg
    assert "a" * 200 not in msg  # the name is shortened in the message


@pytest.mark.parametrize("target", ["/dev/zero", "/proc", "/dev/null"])
def test_extends_a_device_or_folder(tmp_path, target):
    (tmp_path / "r.toml").write_text(f"extends = '{target}'\n")
    msg = user_error(invoke("validate", tmp_path / "r.toml"))
    assert "r.toml: extends:" in msg and ("not a regular file" in msg or "not found" in msg)


def test_a_recipe_larger_than_4_mib(tmp_path):
    (tmp_path / "big.toml").write_text("description = '" + "x" * (5 * 2 ** 20) + "'\n")
    assert "larger than 4 MiB" in user_error(invoke("validate", tmp_path / "big.toml"))


@pytest.mark.parametrize("seed", [2 ** 64, -(2 ** 63) - 1, 10 ** 30])
def test_seeds_beyond_64_bits(tmp_path, seed):
    msg = user_error(invoke("validate", _extends(tmp_path, f"[train]\nseed = {seed}\n")))
    assert "train.seed: the integer" in msg and "out of range" in msg


def test_the_largest_seed_trains(tmp_path):
    sets = sum((["--set", s] for s in [*tiny_overrides(load_raw(RING), tmp_path), "metrics=[]"]), [])
    res = invoke("run", RING, *sets, "--seed", 2 ** 64 - 1, "--max-steps", 2, "--quiet")
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("body, key", [
    ("[optimizers.generator]\nlr = inf\n", "optimizers.generator.lr: expected a finite number, got inf"),
    ("[optimizers.generator]\nbetas = [nan, 0.9]\n", "optimizers.generator.betas[0]: expected a finite number"),
    ("[train]\nema = {decay = -inf}\n", "train.ema.decay: expected a finite number, got -inf"),
])
def test_non_finite_floats(tmp_path, body, key):
    assert key in user_error(invoke("validate", _extends(tmp_path, body)))


def test_non_finite_from_the_command_line(tmp_path):
    assert "optimizers.generator.lr: expected a finite number, got inf" in user_error(
        invoke("validate", RING, "--set", "optimizers.generator.lr=inf"))


@pytest.mark.parametrize("key, value, bound", [("batch_size", "1e12", MAX_BATCH), ("samples", "1e9", MAX_SAMPLES)])
def test_absurd_batch_and_sample_counts(tmp_path, key, value, bound):
    msg = user_error(invoke("validate", _extends(tmp_path, f"[train]\n{key} = {value}\n")))
    assert f"train.{key}: expected: less than or equal to {bound}" in msg


# ------------------------------------------------------------------------------------------ checkpoints
@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    sets = sum((["--set", s] for s in [*tiny_overrides(load_raw(RING), out), "metrics=[]"]), [])
    assert invoke("run", RING, *sets, "--max-steps", 3, "--quiet").exit_code == 0
    return next(out.glob("*/*/checkpoints/last.safetensors")), sets


def _altered(src: Path, dst: Path, change) -> Path:
    tensors, meta = load_file(src), dict(Checkpoint(src).metadata)
    change(tensors, meta)
    save_file(tensors, dst, metadata=meta)
    return dst


@pytest.mark.parametrize("change, says", [
    (lambda t, m: t.pop("counters"), "the tensor 'counters' is missing"),
    (lambda t, m: t.update(counters=t["counters"][:2].clone()), "'counters' is int64 [2], expected int64 [4]"),
    (lambda t, m: t.pop("rng.cpu"), "the tensor 'rng.cpu' (the random generator's state) is missing"),
    (lambda t, m: t.update({"rng.cpu": t["rng.cpu"][:100].clone()}), "'rng.cpu' is uint8 [100], expected uint8 [5056]"),
    (lambda t, m: [t.pop(k) for k in list(t) if k.startswith("optimizers.generator.")],
     "the optimizer state of 'generator' is incomplete"),
    (lambda t, m: m.pop("optimizers"), "the checkpoint has no optimizer state for 'generator'"),
    (lambda t, m: t.update({"networks.generator.0.weight": t["networks.generator.0.weight"].to(torch.int8)}),
     "network 'generator': 1 tensor(s) of the checkpoint do not fit the network: 0.weight: int8 [128, 2] in the "
     "file, float32 [128, 2] here"),
    (lambda t, m: t.update({"networks.discriminator.0.bias": t["networks.discriminator.0.bias"].bool()}),
     "0.bias: bool [128] in the file, float32 [128] here"),
])
def test_resume_from_an_altered_checkpoint(ring_run, tmp_path, change, says):
    last, sets = ring_run
    bad = _altered(last, tmp_path / "bad.safetensors", change)
    msg = user_error(invoke("run", RING, *sets, "--max-steps", 5, "--quiet", "--resume", bad))
    assert says in msg, msg


# ------------------------------------------------------------------------------------------ output locations
@pytest.mark.parametrize("where", ["file", "under_file", "/proc", "/proc/gancompose"])
def test_unwritable_output_dir(tmp_path, where):
    (tmp_path / "file").write_text("x")
    out = {"file": tmp_path / "file", "under_file": tmp_path / "file" / "sub"}.get(where, where)
    msg = user_error(invoke("run", RING, "--set", "metrics=[]", "--max-steps", 1, "--quiet", "--output-dir", out))
    assert f"cannot write a run folder in {out}" in msg and "--output-dir" in msg


# ------------------------------------------------------------------------------------------ sample
@pytest.mark.parametrize("output, says", [
    ("x.xyz", "-o {tmp}/x.xyz: unknown image extension '.xyz'"),
    ("grid", "-o {tmp}/grid: no image extension"),
])
def test_sample_output_names(ring_run, tmp_path, output, says):
    last, _ = ring_run
    msg = user_error(invoke("sample", last, "-n", 4, "-o", tmp_path / output))
    assert says.format(tmp=tmp_path) in msg and ".png" in msg


def test_sample_into_a_folder(ring_run, tmp_path):
    last, _ = ring_run
    res = invoke("sample", last, "-n", 4, "-o", f"{tmp_path}/")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "samples.png").is_file()
    (tmp_path / "d").mkdir()
    assert invoke("sample", last, "-n", 4, "-o", tmp_path / "d").exit_code == 0
    assert (tmp_path / "d" / "samples.png").is_file()


def test_sample_counts_are_bounded(ring_run, tmp_path):
    last, _ = ring_run
    res = invoke("sample", last, "-n", 100_000_000, "-o", tmp_path / "x.png")
    assert res.exit_code == 2 and "65536" in res.output and not (tmp_path / "x.png").exists()


def test_sample_from_nan_weights_is_refused(ring_run, tmp_path):
    last, _ = ring_run

    def poison(t, m):
        t["networks.generator.0.weight"][0, 0] = float("nan")
    bad = _altered(last, tmp_path / "nan.safetensors", poison)
    msg = user_error(invoke("sample", bad, "-n", 4, "-o", tmp_path / "x.png"))
    assert "the generated samples hold NaN or Inf" in msg and "weights hold NaN/Inf: 0.weight" in msg
    assert not (tmp_path / "x.png").exists()
