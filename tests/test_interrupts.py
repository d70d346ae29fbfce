"""Interrupts keep their promise (issue 22): the checkpoint within one step and before any end-of-run work;
messages that state what is on disk; exit 130 (SIGINT) / 143 (SIGTERM); the signal handlers restored.

Then a real ``gancompose run`` subprocess (issue 11): SIGTERM, SIGKILL at random points (3 kills; ``GANCOMPOSE_SOAK=1
pytest -m soak tests/test_interrupts.py``: 20) and Ctrl-C twice; the last checkpoint always loads, and resumed, it
reproduces the uninterrupted run bitwise."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import gancompose.runner as runner_mod
from conftest import ROOT, all_finite, soak, tiny_overrides
from gancompose.callbacks import Evaluation
from gancompose.checkpoint import Checkpoint
from gancompose.cli import cli
from gancompose.recipe import load_raw, load_recipe
from gancompose.runner import RunInterrupted, run_recipe

RING = ROOT / "recipes" / "vanilla_gan_ring.toml"
SMALL = ["networks.generator.hidden=[16, 16]", "networks.discriminator.hidden=[16, 16]", "train.steps=1000",
         "train.log_every=5", "train.checkpoint_every=0"]


def ring(tmp_path, *extra):
    return load_recipe(RING, [*tiny_overrides(load_raw(RING), tmp_path), "metrics=[]", *SMALL, *extra])


class _Send:
    """A callback that sends signals to this process at the end of given steps."""

    def __init__(self, plan: dict[int, list[int]]):
        self.plan = plan

    def on_train_start(self, run): pass
    def on_train_end(self, run): pass

    def on_step_end(self, run, logs):
        for sig in self.plan.get(run.state.step, []):
            os.kill(os.getpid(), sig)


def _signals_at(monkeypatch, plan):
    real = runner_mod.train

    def train(run, *, until=None, callbacks=()):
        return real(run, until=until, callbacks=[_Send(plan), *callbacks])
    monkeypatch.setattr(runner_mod, "train", train)


@pytest.fixture
def handlers():
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield before
    for s, h in before.items():
        assert signal.getsignal(s) is h, f"{signal.Signals(s).name} handler not restored"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_one_signal_checkpoints_within_the_step_and_restores_handlers(tmp_path, monkeypatch, handlers, sig):
    _signals_at(monkeypatch, {7: [sig]})
    result = run_recipe(ring(tmp_path), progress=False)
    assert result.interrupted == sig and result.stopped_early and result.run.state.step == 7
    assert Checkpoint(result.run_dir / "checkpoints/last.safetensors").counters()[0] == 7
    assert signal.getsignal(signal.SIGINT) is handlers[signal.SIGINT]


def test_the_checkpoint_comes_before_the_end_of_run_metrics(tmp_path, monkeypatch, handlers):
    seen = []
    real_end = Evaluation.on_train_end

    def end(self, run):
        last = self.path.parent / "checkpoints" / "last.safetensors"
        seen.append(Checkpoint(last).counters()[0] if last.exists() else None)
        return real_end(self, run)
    monkeypatch.setattr(Evaluation, "on_train_end", end)
    _signals_at(monkeypatch, {6: [signal.SIGINT]})
    result = run_recipe(ring(tmp_path, "metrics=[{type='mode_coverage', every=1000}]"), progress=False)
    assert seen == [6] and result.interrupted == signal.SIGINT


def test_a_second_signal_skips_the_end_of_run_metrics_and_names_the_checkpoint(tmp_path, monkeypatch, handlers):
    ran = []

    def end(self, run):  # the end-of-run evaluation: a signal arrives while it runs
        os.kill(os.getpid(), signal.SIGINT)
        ran.append("finished")
    monkeypatch.setattr(Evaluation, "on_train_end", end)
    _signals_at(monkeypatch, {4: [signal.SIGINT]})
    with pytest.raises(RunInterrupted) as info:
        run_recipe(ring(tmp_path, "metrics=[{type='mode_coverage', every=1000}]"), progress=False)
    assert ran == [] and info.value.signum == signal.SIGINT
    last = next(tmp_path.glob("*/*/checkpoints/last.safetensors"))
    assert f"the last checkpoint is {last} (step 4), whole" in str(info.value)
    assert f"gancompose run --resume {last.parent.parent}" in str(info.value)


def test_a_second_signal_before_any_checkpoint_says_there_is_none(tmp_path, monkeypatch, handlers):
    _signals_at(monkeypatch, {3: [signal.SIGTERM, signal.SIGTERM]})
    with pytest.raises(RunInterrupted) as info:
        run_recipe(ring(tmp_path), progress=False)
    assert info.value.signum == signal.SIGTERM
    assert "stopped at once (SIGTERM) at step 3; no checkpoint was written, so there is nothing to resume" \
        == str(info.value)
    assert not list(tmp_path.glob("*/*/checkpoints/*.safetensors"))


def test_handlers_restored_when_training_raises(tmp_path, monkeypatch, handlers):
    class Boom:
        def on_train_start(self, run): pass
        def on_train_end(self, run): pass

        def on_step_end(self, run, logs):
            raise RuntimeError("boom")
    real = runner_mod.train
    monkeypatch.setattr(runner_mod, "train",
                        lambda run, *, until=None, callbacks=(): real(run, until=until, callbacks=[Boom(), *callbacks]))
    with pytest.raises(RuntimeError, match="boom"):
        run_recipe(ring(tmp_path), progress=False)


@pytest.mark.parametrize("plan, code, says", [
    ({5: [signal.SIGINT]}, 130, "stopped early at step 5"),
    ({5: [signal.SIGTERM]}, 143, "stopped early at step 5"),
    ({2: [signal.SIGINT, signal.SIGINT]}, 130, "stopped at once (Ctrl-C) at step 2; no checkpoint was written"),
])
def test_exit_codes_from_the_command_line(tmp_path, monkeypatch, handlers, plan, code, says):
    _signals_at(monkeypatch, plan)
    args = ["run", str(RING), "--quiet"]
    for s in [*tiny_overrides(load_raw(RING), tmp_path), "metrics=[]", *SMALL]:
        args += ["--set", s]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == code, res.output
    assert isinstance(res.exception, SystemExit) and "Traceback" not in res.output
    assert says in " ".join(res.output.split())
    assert "is whole" not in res.output or "last checkpoint is" in res.output


# ---------------------------------------------------------- a real process: SIGTERM, SIGKILL, Ctrl-C twice
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
    assert ck.counters()[0] >= 10 and all_finite(last)


def test_two_quick_interrupts_before_training_leave_without_a_traceback(tmp_path):
    """Two Ctrl-C a few milliseconds apart as the run starts: the first stops it outside the training loop, the
    second used to interrupt the interpreter's own shutdown (a KeyboardInterrupt in torch's atexit callback,
    printed as a traceback). Now one message and exit 130."""
    proc = _cli_run(tmp_path / "runs")
    t0 = time.monotonic()
    line = ""
    while "performance" not in line and time.monotonic() - t0 < 60:
        line = proc.stderr.readline()
        assert line or proc.poll() is None, "the run ended before it started training"
    proc.send_signal(signal.SIGINT)
    time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert proc.returncode in (130, -signal.SIGINT), (proc.returncode, err)
