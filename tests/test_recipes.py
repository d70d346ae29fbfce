"""Every recipe in recipes/ validates, builds and trains a few steps (shrunk by tiny overrides)."""
from __future__ import annotations

import json
import math

import pytest

from conftest import RECIPES, tiny_overrides
from gancompose.recipe import load_raw, load_recipe
from gancompose.rundir import recipe_toml
from gancompose.runner import run_recipe


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_trains(path, tmp_path):
    recipe = load_recipe(path, tiny_overrides(load_raw(path), tmp_path))
    result = run_recipe(recipe, max_steps=3, progress=False)
    lines = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    lines = [x for x in lines if "img_per_s" in x]  # training lines; [[metrics]] add their own
    assert [x["step"] for x in lines] == [1, 2, 3]
    losses = {k: v for k, v in lines[-1].items() if "/" in k}
    assert losses and all(math.isfinite(v) for v in losses.values())
    assert (result.run_dir / "checkpoints" / "last.safetensors").is_file()
    assert list((result.run_dir / "samples").glob("*.png"))


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_documents_itself(path):
    text = path.read_text()
    assert text.lstrip().startswith("#"), "every recipe opens with a comment saying what it trains and from where"
    assert load_recipe(path).description


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_resolved_recipe_round_trips(path, tmp_path):
    recipe = load_recipe(path)
    out = tmp_path / "resolved.toml"
    out.write_text(recipe_toml(recipe))
    assert load_recipe(out) == recipe


REAL_DATA = [p for p in RECIPES if load_raw(p).get("data", {}).get("type") in ("mnist", "cifar10", "image_folder",
                                                                                 "monet2photo", "unpaired_folders")]


@pytest.mark.parametrize("path", REAL_DATA, ids=[p.stem for p in REAL_DATA])
def test_recipe_without_its_data_names_the_fix(path, tmp_path):
    from click.testing import CliRunner
    from gancompose.cli import cli
    data = load_raw(path)["data"]
    root = tmp_path / "nothing-here"
    res = CliRunner().invoke(cli, ["run", str(path), "--set", f"data.root='{root}'", "--max-steps", "1",
                                   "--output-dir", str(tmp_path / "runs")])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and str(root) in res.output
    if data["type"] in ("mnist", "cifar10", "monet2photo"):
        assert f"gancompose data download {data['type']} --root" in res.output
    if data.get("prepare"):  # the recipe's own instructions for its data
        assert " ".join(data["prepare"].split()) in " ".join(res.output.split())
    if data["type"] == "monet2photo":
        assert f"gancompose data prepare monet2photo --from monet2photo.zip --root" in res.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.safetensors"))
