"""Hardening (issue 11): bad input, interruptions, numerical faults, files, plugins.

The fuzzing and kill loops run a bounded number of times; ``GANCOMPOSE_SOAK=1 pytest -m soak
tests/test_hardening.py`` runs the longer soak (more examples, 20 kills each).
"""
from __future__ import annotations

import copy
import errno
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import tomli_w
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gancompose.checkpoint as ckpt_mod
from conftest import ROOT, tiny_overrides
from gancompose import hookimpl
from gancompose.builder import build_run
from gancompose.builder.networks import MAX_NETWORK_BYTES, estimate_bytes
from gancompose.callbacks import Checkpointer
from gancompose.callbacks.nan_guard import NonFiniteError
from gancompose.checkpoint import Checkpoint, save_checkpoint
from gancompose.cli import cli
from gancompose.errors import CheckpointError, RecipeError
from gancompose.params import NoParams
from gancompose.recipe import load_raw, load_recipe, validate_recipe
from gancompose.registry import build_registry
from gancompose.rundir import new_run_dir
import gancompose.runner as runner_mod
from gancompose.runner import run_recipe

RING = ROOT / "recipes" / "vanilla_gan_ring.toml"
SOAK = bool(os.environ.get("GANCOMPOSE_SOAK"))
soak = pytest.mark.skipif(not SOAK, reason="long soak: GANCOMPOSE_SOAK=1 pytest -m soak")


def invoke(*args):
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, [str(a) for a in args])


def tiny_ring_raw(out: Path) -> dict:
    """The ring recipe as a dict, tiny: small MLPs, 64 samples, batch 4, no metrics."""
    raw = load_raw(RING)
    raw["networks"]["generator"]["hidden"] = [16, 16]
    raw["networks"]["discriminator"]["hidden"] = [16, 16]
    raw["data"]["size"] = 64
    raw["train"].update(batch_size=4, log_every=1, sample_every=0, checkpoint_every=0, samples=4, device="cpu",
                        output_dir=out.as_posix(), steps=20)
    raw.pop("metrics", None)
    return raw


def ring(tmp_path, *extra):
    return load_recipe(RING, [*tiny_overrides(load_raw(RING), tmp_path), "metrics=[]",
                              "networks.generator.hidden=[16, 16]", "networks.discriminator.hidden=[16, 16]",
                              *extra])


def _clean_exit(result) -> None:
    """A run or one clear message: never a traceback."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"traceback: {result.exception!r}\n{result.output}")
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        assert "error: " in result.output and "Traceback" not in result.output, result.output


# =============================================================================== 1. recipe fuzzing
def _leaf_paths(obj, prefix=()):
    if isinstance(obj, dict):
        out = [prefix] if prefix else []
        for k, v in obj.items():
            out += _leaf_paths(v, (*prefix, k))
        return out
    if isinstance(obj, list):
        out = [prefix]
        for i, v in enumerate(obj):
            out += _leaf_paths(v, (*prefix, i))
        return out
    return [prefix]


def _set(obj, path, value):
    for part in path[:-1]:
        obj = obj[part]
    obj[path[-1]] = value


def _delete(obj, path):
    for part in path[:-1]:
        obj = obj[part]
    del obj[path[-1]]


_sizes = st.one_of(st.integers(-3, 300), st.integers(10 ** 12, 10 ** 15), st.integers(-(10 ** 15), -(10 ** 12)))
_values = st.one_of(
    _sizes, st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.text(max_size=8),
    st.lists(_sizes, max_size=3), st.dictionaries(st.text(max_size=5), _sizes, max_size=2),
    st.sampled_from(["mlp", "sequential", "adam", "bce", "latent", "data", "no_such_thing", "linear"]))
_mutation = st.tuples(st.sampled_from(["set", "delete", "unknown_key", "unknown_type", "extends"]),
                      st.integers(0, 10 ** 6), _values, st.text(min_size=1, max_size=6))


def _mutate(raw: dict, mutations) -> dict:
    raw = copy.deepcopy(raw)
    for kind, pick, value, name in mutations:
        paths = _leaf_paths(raw)
        if not paths:
            break
        path = paths[pick % len(paths)]
        tables = [p for p in paths if isinstance(_get(raw, p), dict)] or [()]
        table = tables[pick % len(tables)]
        if kind == "set":
            _set(raw, path, value)
        elif kind == "delete":
            _delete(raw, path)
        elif kind == "unknown_key":
            _get(raw, table)[name] = value
        elif kind == "unknown_type":
            _get(raw, table)["type"] = name
        else:
            raw["extends"] = name if pick % 3 else "recipe.toml"  # a missing file, or itself
    return raw


def _get(obj, path):
    for part in path:
        obj = obj[part]
    return obj


def _write(raw: dict, folder: Path) -> Path | None:
    try:
        text = tomli_w.dumps(raw)
    except (TypeError, ValueError):
        return None  # not representable in TOML (the writer refuses): nothing to test
    path = folder / "recipe.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _fuzz_validate(mutations):
    with tempfile.TemporaryDirectory() as tmp:
        raw = _mutate(tiny_ring_raw(Path(tmp) / "runs"), mutations)
        path = _write(raw, Path(tmp))
        if path is not None:
            _clean_exit(invoke("validate", path))


def _fuzz_run(mutations):
    with tempfile.TemporaryDirectory() as tmp:
        raw = _mutate(tiny_ring_raw(Path(tmp) / "runs"), mutations)
        path = _write(raw, Path(tmp))
        if path is not None:
            _clean_exit(invoke("run", path, "--max-steps", 1, "--quiet", "--output-dir", Path(tmp) / "runs"))


FUZZ = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@settings(max_examples=60, **FUZZ)
@given(st.lists(_mutation, min_size=1, max_size=3))
def test_fuzz_validate_never_tracebacks(mutations):
    _fuzz_validate(mutations)


@settings(max_examples=12, **FUZZ)
@given(st.lists(_mutation, min_size=1, max_size=2))
def test_fuzz_run_one_step_never_tracebacks(mutations):
    _fuzz_run(mutations)


@settings(max_examples=25, **FUZZ)
@given(st.binary(min_size=1, max_size=64))
def test_fuzz_non_utf8_bytes(garbage):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "recipe.toml"
        path.write_bytes(b"\xff\xfe" + garbage + tomli_w.dumps(tiny_ring_raw(Path(tmp))).encode())
        result = invoke("validate", path)
        _clean_exit(result)
        assert result.exit_code == 2 and "cannot read the recipe" in result.output


@pytest.mark.soak
@soak
@settings(max_examples=2000, **{**FUZZ, "derandomize": False})
@given(st.lists(_mutation, min_size=1, max_size=5))
def test_soak_fuzz_validate(mutations):
    _fuzz_validate(mutations)


@pytest.mark.soak
@soak
@settings(max_examples=200, **{**FUZZ, "derandomize": False})
@given(st.lists(_mutation, min_size=1, max_size=3))
def test_soak_fuzz_run(mutations):
    _fuzz_run(mutations)


def test_cyclic_extends(tmp_path):
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n')
    result = invoke("validate", tmp_path / "a.toml")
    _clean_exit(result)
    assert result.exit_code == 2 and "cycle" in result.output


def test_absurd_sizes_refused_before_allocation(tmp_path):
    # 1e6 x 1e6 float32 weights: 3.6 TiB; refused from a meta-device build, with the estimate and the key path
    result = invoke("validate", RING, "--set", "networks.generator.hidden=[1000000, 1000000]")
    assert result.exit_code == 2
    out = " ".join(result.output.split())
    assert "networks.generator: network 'generator' (mlp) would need 3.6 TiB of weights" in out
    # a sequential network is refused at the layer that crosses the limit
    raw = tiny_ring_raw(tmp_path)
    raw["networks"]["generator"] = {"type": "sequential", "input": "latent", "layers": [
        {"type": "linear", "out_features": 64}, {"type": "linear", "out_features": 10 ** 7},
        {"type": "linear", "out_features": 10 ** 7}, {"type": "linear", "out_features": 2}]}
    result = invoke("validate", _write(raw, tmp_path))
    assert result.exit_code == 2, result.output
    out = " ".join(result.output.split())
    assert "networks.generator.layers[2]: network 'generator' would need" in out and "TiB" in out


def test_size_estimate_matches_the_real_network():
    from torch import nn
    real = nn.Sequential(nn.Linear(3, 50), nn.BatchNorm1d(50), nn.Linear(50, 7))
    expected = sum(t.numel() * t.element_size() for t in [*real.parameters(), *real.buffers()])
    state = torch.get_rng_state()
    assert estimate_bytes(lambda: nn.Sequential(nn.Linear(3, 50), nn.BatchNorm1d(50), nn.Linear(50, 7))) == expected
    assert torch.equal(torch.get_rng_state(), state)  # the meta build leaves the seed's stream alone
    assert MAX_NETWORK_BYTES >= 2 ** 30


# ============================================================================== 3. numerical faults
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


def _all_finite(path) -> bool:
    return all(torch.isfinite(t).all() for k, t in Checkpoint(path).tensors("networks.").items()
               if t.is_floating_point())


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
    assert Checkpoint(folder / "last.safetensors").counters()[0] == 20 and _all_finite(folder / "last.safetensors")


def test_nan_gradient_stops_too(tmp_path, monkeypatch):
    # a finite loss with a NaN gradient in D's step: D's weights turn NaN, so the generator's loss of the same
    # step is NaN (the next loss that reads them); no checkpoint after it
    _poison(monkeypatch, {25}, grad=True)
    recipe = ring(tmp_path, "train.steps=60", "train.log_every=5", "train.checkpoint_every=10")
    with pytest.raises(NonFiniteError, match="non-finite loss at step 25: .*generator/adversarial = nan"):
        run_recipe(recipe, progress=False)
    last = next(tmp_path.glob("*/*/checkpoints/last.safetensors"))
    assert Checkpoint(last).counters()[0] == 20 and _all_finite(last)


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
    assert _all_finite(result.run_dir / "checkpoints" / "last.safetensors")
    lines = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [x.get("skipped_steps") for x in lines] == [2, 4, 4]
    assert all(v == v for x in lines for v in x.values())  # no NaN in the logged means


def test_nan_skip_catches_gradients(tmp_path, monkeypatch):
    _poison(monkeypatch, {5}, grad=True, once=False)
    result = run_recipe(ring(tmp_path, "train.steps=8", "train.on_nan='skip'"), progress=False)
    assert result.run.skipped_steps == 1 and _all_finite(result.run_dir / "checkpoints" / "last.safetensors")


def test_nan_rollback_reloads_with_lower_lr(tmp_path, monkeypatch):
    fired = _poison(monkeypatch, {25})
    recipe = ring(tmp_path, "train.steps=40", "train.log_every=5", "train.checkpoint_every=10",
                  "train.on_nan='rollback'", "train.rollback_lr_factor=0.25")
    result = run_recipe(recipe, progress=False)
    assert fired == {25} and result.run.state.step == 40
    for name, opt in result.run.optimizers.items():
        assert opt.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.25), name
    last = result.run_dir / "checkpoints" / "last.safetensors"
    assert _all_finite(last)
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


# =========================================================================== 2. interruptions
def _cli_run(out: Path, *extra) -> subprocess.Popen:
    sets = [*tiny_overrides(load_raw(RING), out), "metrics=[]", "networks.generator.hidden=[16, 16]",
            "networks.discriminator.hidden=[16, 16]", "train.steps=100000", "train.checkpoint_every=10",
            "train.log_every=10", "train.keep_checkpoints=2", *extra]
    args = [sys.executable, "-c", "from gancompose.cli import main; main()", "run", str(RING), "--quiet"]
    for s in sets:
        args += ["--set", s]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)


def _wait_for_checkpoint(out: Path, proc, timeout=60.0) -> Path:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        found = list(out.glob("*/*/checkpoints/last.safetensors"))
        if found:
            return found[0]
        if proc.poll() is not None:
            raise AssertionError(proc.communicate()[1])
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("no checkpoint appeared")


class _Reference:
    """An uninterrupted in-process run of the same recipe, its checkpoints kept every 10 steps."""

    def __init__(self, tmp_path):
        self.tmp, self.result, self.upto = tmp_path / "reference", None, 0

    def checkpoint(self, step: int) -> dict:
        if step > self.upto:
            self.upto = max(step, 60)
            folder = self.tmp / f"to{self.upto}"
            recipe = ring(folder, "train.steps=100000", "train.checkpoint_every=10", "train.log_every=10",
                          "train.keep_checkpoints=100000")
            self.result = run_recipe(recipe, max_steps=self.upto, progress=False)
        return Checkpoint(self.result.run_dir / "checkpoints" / f"step_{step:07d}.safetensors").tensors()


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if not key.startswith("rng"):
            assert torch.equal(a[key], b[key]), key


def _resume_matches(last: Path, reference: _Reference, tmp_path) -> int:
    """The killed run's last checkpoint loads; resumed, it reproduces the uninterrupted run."""
    step = Checkpoint(last).counters()[0]
    target = (step // 10 + 2) * 10
    recipe = ring(tmp_path / "resumed", "train.steps=100000", "train.checkpoint_every=10", "train.log_every=10")
    resumed = run_recipe(recipe, resume=last, max_steps=target, progress=False)
    _same(Checkpoint(resumed.run_dir / "checkpoints" / "last.safetensors").tensors(), reference.checkpoint(target))
    return step


def test_sigterm_checkpoints_and_prints_resume_command(tmp_path):
    out = tmp_path / "runs"
    proc = _cli_run(out)
    last = _wait_for_checkpoint(out, proc)
    time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err  # 128 + SIGTERM, after the checkpoint
    assert "SIGTERM: finishing this step" in err and "stopped early at step" in err
    resume_line = next(line for line in err.splitlines() if line.startswith("resume with: "))
    assert resume_line == f"resume with: gancompose run --resume {last.parent.parent}"
    stopped = int(err.split("stopped early at step ")[1].split(":")[0])
    assert Checkpoint(last).counters()[0] == stopped  # the checkpoint is of the step it stopped at
    _resume_matches(last, _Reference(tmp_path), tmp_path)


def _sigkill_loop(tmp_path, kills: int, seed: int):
    rng = random.Random(seed)
    reference = _Reference(tmp_path)
    for i in range(kills):
        out = tmp_path / f"kill{i}"
        proc = _cli_run(out)
        last = _wait_for_checkpoint(out, proc)
        time.sleep(rng.uniform(0.0, 0.5))  # mid-step, mid-write of a checkpoint, between steps...
        proc.kill()
        proc.communicate()
        leftovers = [p.name for p in last.parent.glob(".*.tmp")]  # a write cut short: harmless, never loaded
        step = _resume_matches(last, reference, tmp_path / f"r{i}")
        assert step >= 10
        print(f"kill {i}: last checkpoint at step {step}, unfinished temporary files: {leftovers}")


def test_sigkill_at_random_points(tmp_path):
    _sigkill_loop(tmp_path, kills=3, seed=11)


@pytest.mark.soak
@soak
def test_soak_sigkill_x20(tmp_path):
    _sigkill_loop(tmp_path, kills=20, seed=int(time.time()))


def test_double_interrupt_leaves_last_checkpoint_whole(tmp_path):
    out = tmp_path / "runs"
    proc = _cli_run(out)
    last = _wait_for_checkpoint(out, proc)
    time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err  # 128 + SIGINT, whether the first stop had finished or not
    print(f"double Ctrl-C: exit {proc.returncode}")
    ck = Checkpoint(last)  # loads: whole
    assert ck.counters()[0] >= 10 and _all_finite(last)


def _saved_once_then_failing(tmp_path, monkeypatch, exc: BaseException, partial: bytes):
    """A run with one checkpoint written, then every write leaving ``partial`` bytes and raising ``exc``:
    (run, checkpointer, the bytes of last.safetensors before)."""
    run = build_run(ring(tmp_path))
    ckpts = Checkpointer(tmp_path / "ck", every=0, keep=2)
    ckpts.save(run)
    before = (tmp_path / "ck" / "last.safetensors").read_bytes()

    def failing(tensors, filename, metadata=None):
        Path(filename).write_bytes(partial)
        raise exc

    monkeypatch.setattr(ckpt_mod, "save_file", failing)
    return run, ckpts, before


def test_second_interrupt_during_a_write_keeps_the_previous_file(tmp_path, monkeypatch):
    run, ckpts, before = _saved_once_then_failing(tmp_path, monkeypatch, KeyboardInterrupt(), b"half")
    run.state.step = 5
    with pytest.raises(KeyboardInterrupt):
        ckpts.save(run)
    assert (tmp_path / "ck" / "last.safetensors").read_bytes() == before
    assert not list((tmp_path / "ck").glob(".*tmp"))


# ================================================================================== 4. files
@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EACCES])
def test_disk_full_or_permission_error_keeps_previous(tmp_path, monkeypatch, err):
    run, ckpts, before = _saved_once_then_failing(tmp_path, monkeypatch, OSError(err, os.strerror(err)), b"partial")
    run.state.step = 7
    with pytest.raises(CheckpointError) as info:
        ckpts.save(run)
    msg = str(info.value)
    assert f"cannot write the checkpoint {tmp_path / 'ck' / 'step_0000007.safetensors'}" in msg
    assert os.strerror(err) in msg
    assert (tmp_path / "ck" / "last.safetensors").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["last.safetensors", "step_0000000.safetensors"]


def test_unwritable_folder_is_a_clear_error(tmp_path, monkeypatch):
    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(ckpt_mod.tempfile, "mkstemp", denied)
    with pytest.raises(CheckpointError, match="cannot write the checkpoint .*x.safetensors: Permission denied"):
        ckpt_mod.atomic_save({"a": torch.zeros(1)}, tmp_path / "x.safetensors", {})


@pytest.mark.parametrize("kind", ["torch_save", "pickle2", "pickle5"])
def test_pickle_file_as_checkpoint(tmp_path, kind):
    path = tmp_path / "model.pt"
    obj = {"w": torch.ones(2)} if kind == "torch_save" else {"w": [1.0, 2.0]}
    if kind == "torch_save":
        torch.save(obj, path)
    else:
        path.write_bytes(pickle.dumps(obj, protocol=2 if kind == "pickle2" else 5))
    with pytest.raises(CheckpointError, match="is a pickle / torch.save file, not a gancompose checkpoint"):
        Checkpoint(path)
    result = invoke("sample", path, "-o", tmp_path / "g.png")
    assert result.exit_code == 2 and result.output.startswith("error:") and "pickle" in result.output
    assert len(result.output.strip().splitlines()) == 2  # the message and its hint


def test_truncated_and_foreign_files(tmp_path):
    run = build_run(ring(tmp_path))
    good = save_checkpoint(run, tmp_path / "good.safetensors")
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        Checkpoint(cut)
    from safetensors.torch import save_file
    save_file({"x": torch.zeros(3)}, tmp_path / "foreign.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="is not a gancompose checkpoint"):
        Checkpoint(tmp_path / "foreign.safetensors")


def test_existing_run_folder_never_reused(tmp_path, monkeypatch):
    monkeypatch.setattr("gancompose.rundir.time.strftime", lambda fmt: "20260101-000000")
    first = new_run_dir(tmp_path, "r")
    (first / "metrics.jsonl").write_text("precious\n")
    second = new_run_dir(tmp_path, "r")
    third = new_run_dir(tmp_path, "r")
    assert (first.name, second.name, third.name) == ("20260101-000000", "20260101-000000-2", "20260101-000000-3")
    assert (first / "metrics.jsonl").read_text() == "precious\n" and not any(second.iterdir())


# ================================================================================ 5. plugins
class _FactoryRaises:
    @hookimpl
    def register_losses(self, register):
        def explode(params):
            """A loss whose factory fails."""
            raise ZeroDivisionError("the factory divided by zero")
        register("exploding_loss", explode, NoParams)


def test_plugin_raising_in_its_factory_is_named(tmp_path):
    registry = build_registry({"gc_exploding": _FactoryRaises()})
    raw = tiny_ring_raw(tmp_path)
    raw["loss"] = {"type": "exploding_loss"}
    recipe = validate_recipe(raw, registry=registry)
    with pytest.raises(RecipeError) as info:
        build_run(recipe, registry=registry, with_data=False)
    msg = str(info.value)
    assert msg.startswith("loss: loss 'exploding_loss' (plugin 'gc_exploding') failed while building")
    assert "ZeroDivisionError: the factory divided by zero" in msg
    # the other plugins still work
    raw["loss"] = {"type": "bce"}
    assert build_run(validate_recipe(raw, registry=registry), registry=registry, with_data=False).loss is not None
