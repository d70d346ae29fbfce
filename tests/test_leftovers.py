"""Leftovers (issue 22): a run cleans the temporary files an interrupted write left in its folder when it starts
or resumes; a run that fails before its first step leaves no run folder."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import ROOT, tiny_overrides
from gancompose.cli import cli
from gancompose.recipe import load_raw, load_recipe
from gancompose.rundir import clean_orphans
from gancompose.runner import run_recipe

RING = ROOT / "recipes" / "vanilla_gan_ring.toml"
DCGAN = ROOT / "recipes" / "dcgan_shapes.toml"


def ring(tmp_path, *extra):
    return load_recipe(RING, [*tiny_overrides(load_raw(RING), tmp_path), "metrics=[]", *extra])


def test_resume_removes_orphan_temporary_files(tmp_path):
    first = run_recipe(ring(tmp_path), max_steps=2, progress=False)
    ck = first.run_dir / "checkpoints"
    orphans = [ck / ".tmpAb12Cd", ck / ".step_0000004.safetensors.k2j3h4g5.tmp", ck / ".last.safetensors.tmp",
               first.run_dir / ".recipe.toml.tmp"]
    for p in orphans:
        p.write_bytes(b"half a file")
    kept = [ck / "notes.txt", ck / ".tmp-mine-longer-name", first.run_dir / "metrics.jsonl"]
    kept[0].write_text("mine")
    kept[1].write_text("mine")
    res = CliRunner().invoke(cli, ["run", "--resume", str(first.run_dir), "--max-steps", "3", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "removed 4 unfinished temporary file(s) of an interrupted write" in " ".join(res.output.split())
    assert not [p for p in orphans if p.exists()]
    assert all(p.exists() for p in kept)
    assert clean_orphans(first.run_dir) == []


def test_a_run_failing_on_a_bad_image_leaves_no_run_folder(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(8):
        Image.new("RGB", (16, 16), (i * 20, 0, 0)).save(images / f"{i}.png")
    (images / "bad.png").write_bytes(b"not an image")
    out = tmp_path / "runs"
    sets = [*tiny_overrides(load_raw(DCGAN), out), f"data={{type='image_folder', root='{images}', image_size=16}}"]
    res = CliRunner().invoke(cli, ["run", str(DCGAN), "--max-steps", "2", "--quiet",
                                   *sum((["--set", s] for s in sets), [])])
    assert res.exit_code == 2 and "bad.png" in res.output and "Traceback" not in res.output, res.output
    assert not out.exists() or not list(out.rglob("*")), list(out.rglob("*"))


def test_a_run_failing_before_its_first_step_keeps_other_runs(tmp_path, monkeypatch):
    done = run_recipe(ring(tmp_path), max_steps=1, progress=False)
    import gancompose.runner as runner_mod

    def boom(run, **kwargs):
        raise RuntimeError("before the first step")
    monkeypatch.setattr(runner_mod, "train", boom)
    with pytest.raises(RuntimeError):
        run_recipe(ring(tmp_path), max_steps=1, progress=False)
    assert [p for p in done.run_dir.parent.iterdir()] == [done.run_dir]  # only the earlier run's folder
