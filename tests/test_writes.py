"""Writes that fail (issue 11): a checkpoint write cut short by a full disk, a refused permission or a second Ctrl-C
keeps the previous file byte-identical and leaves no partial file; an unwritable folder is one clear error; an
existing run folder is never reused."""
from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import torch

import gancompose.checkpoint as ckpt_mod
from conftest import ROOT, tiny_overrides
from gancompose.builder import build_run
from gancompose.callbacks import Checkpointer
from gancompose.errors import CheckpointError
from gancompose.recipe import load_raw, load_recipe
from gancompose.rundir import new_run_dir

RING = ROOT / "recipes" / "vanilla_gan_ring.toml"


def ring(tmp_path, *extra):
    return load_recipe(RING, [*tiny_overrides(load_raw(RING), tmp_path), "metrics=[]",
                              "networks.generator.hidden=[16, 16]", "networks.discriminator.hidden=[16, 16]",
                              *extra])


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


def test_second_interrupt_during_a_write_keeps_the_previous_file(tmp_path, monkeypatch):
    run, ckpts, before = _saved_once_then_failing(tmp_path, monkeypatch, KeyboardInterrupt(), b"half")
    run.state.step = 5
    with pytest.raises(KeyboardInterrupt):
        ckpts.save(run)
    assert (tmp_path / "ck" / "last.safetensors").read_bytes() == before
    assert not list((tmp_path / "ck").glob(".*tmp"))


def test_existing_run_folder_never_reused(tmp_path, monkeypatch):
    monkeypatch.setattr("gancompose.rundir.time.strftime", lambda fmt: "20260101-000000")
    first = new_run_dir(tmp_path, "r")
    (first / "metrics.jsonl").write_text("precious\n")
    second = new_run_dir(tmp_path, "r")
    third = new_run_dir(tmp_path, "r")
    assert (first.name, second.name, third.name) == ("20260101-000000", "20260101-000000-2", "20260101-000000-3")
    assert (first / "metrics.jsonl").read_text() == "precious\n" and not any(second.iterdir())
