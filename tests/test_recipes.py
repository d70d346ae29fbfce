"""Every recipe in recipes/ validates, builds and trains a few steps (shrunk by tiny overrides)."""
from __future__ import annotations

import json
import math

import pytest

from conftest import RECIPES, tiny_overrides
from gancompose.recipe import load_raw, load_recipe
from gancompose.rundir import recipe_toml
from gancompose.runner import run_recipe


def _weights_for_init_from(path, overrides: list[str], tmp_path) -> list[str]:
    """A recipe that starts from a file (init_from: an imported snapshot) gets one, made from its own tiny
    networks, so it trains here too; the overrides that point it there."""
    from gancompose.builder import build_run
    from gancompose.checkpoint import save_checkpoint
    nets = [n for n, spec in load_raw(path).get("networks", {}).items() if "init_from" in spec]
    if not nets:
        return []
    run = build_run(load_recipe(path, overrides), with_data=False, stand_in=True)
    assert set(run.missing_weights) == set(nets)  # not there yet: validate and explain said so, run refuses
    weights = tmp_path / "weights.safetensors"
    save_checkpoint(run, weights)
    return [f"networks.{n}.init_from.path='{weights.as_posix()}'" for n in nets]


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_trains(path, tmp_path):
    overrides = tiny_overrides(load_raw(path), tmp_path)
    overrides += _weights_for_init_from(path, overrides, tmp_path)
    recipe = load_recipe(path, overrides)
    result = run_recipe(recipe, max_steps=3, progress=False)
    if any(spec.init_from is not None for spec in recipe.networks.values()):
        assert result.run.init_reports  # the weights were loaded
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


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_a_recipe_validates_alike_with_the_model_of_the_components_it_names(path):
    """validate_recipe builds a model whose unions hold only the components the recipe names (the start-up of
    `validate` and `run`): the recipe it gives is the one the model of every component gives, and equal to it."""
    from gancompose.recipe.schema import recipe_model
    from gancompose.registry import default_registry
    recipe = load_recipe(path)
    full_model = recipe_model(default_registry())
    assert type(recipe) is not full_model  # the small model did the work
    full = full_model.model_validate(recipe.model_dump())
    assert full.model_dump() == recipe.model_dump() and full == recipe
    assert len(type(recipe).model_json_schema().get("$defs", {})) < len(full_model.model_json_schema()["$defs"])
