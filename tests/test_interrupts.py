"""Interrupts keep their promise (issue 22): the checkpoint within one step and before any end-of-run work;
messages that state what is on disk; exit 130 (SIGINT) / 143 (SIGTERM); the signal handlers restored."""
from __future__ import annotations

import os
import signal

import pytest
from click.testing import CliRunner

import gancompose.runner as runner_mod
from conftest import ROOT, tiny_overrides
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
