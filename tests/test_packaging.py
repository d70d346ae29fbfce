"""What a user gets from ``pip install gancompose`` (issue 24, item 1): the recipes ship with the package and run by
name, from a clone and from an installed wheel alike."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import installed, subprocess_env
from click.testing import CliRunner

from gancompose.cli import cli
from gancompose.recipe.load import tomllib
from gancompose.recipe.shipped import resolve, shipped_recipes

ROOT = Path(__file__).resolve().parent.parent
RECIPES = sorted(p.stem for p in (ROOT / "recipes").glob("*.toml"))


def test_every_package_folder_is_listed_in_pyproject():
    """Packages are listed (so recipes/ can map to gancompose_recipes): a new one must not be left out."""
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed, dirs = set(tool["packages"]), tool["package-dir"]
    found = {".".join(p.relative_to(ROOT).parent.parts) for p in (ROOT / "gancompose").rglob("__init__.py")}
    found |= {p.parent.name for p in (ROOT / "plugins").glob("*/__init__.py")}
    assert found | {"gancompose_recipes"} == listed
    assert all(dirs[p.parent.name] == f"plugins/{p.parent.name}" for p in (ROOT / "plugins").glob("*/__init__.py"))
    assert dirs["gancompose_recipes"] == "recipes"
    eps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["gancompose"]
    assert set(eps.values()) == {p.parent.name for p in (ROOT / "plugins").glob("*/__init__.py")}


def test_every_recipe_ships_and_resolves_by_name(tmp_path, monkeypatch):
    shipped = shipped_recipes()
    assert set(RECIPES) <= set(shipped)
    monkeypatch.chdir(tmp_path)  # no recipes/ folder here
    assert resolve("vanilla_gan_ring") == shipped["vanilla_gan_ring"].path
    assert resolve("recipes/vanilla_gan_ring.toml") == shipped["vanilla_gan_ring"].path  # the README's command
    (tmp_path / "vanilla_gan_ring.toml").write_text("")
    assert resolve("vanilla_gan_ring.toml") == Path("vanilla_gan_ring.toml")  # a file that exists wins


def test_recipes_lists_every_recipe_with_its_data_status(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["recipes", "--json"])
    assert res.exit_code == 0, res.output
    import json
    rows = {r["name"]: r for r in json.loads(res.output)}
    assert set(RECIPES) <= set(rows)
    assert rows["vanilla_gan_ring"]["status"] == "generated (no download)"
    assert rows["cgan_mnist"]["status"].startswith("needs data: run: gancompose data download mnist")
    assert "gancompose data download monet2photo" in rows["cyclegan_monet2photo"]["status"]
    assert rows["vanilla_gan_ring"]["description"]
    res = CliRunner().invoke(cli, ["recipes"], terminal_width=200)
    assert res.exit_code == 0 and "cgan_digits" in res.output


def test_recipes_copy_writes_an_editable_copy_with_what_it_extends(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["recipes", "copy", "lsgan_shapes", "mine/"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "mine" / "lsgan_shapes.toml").is_file() and (tmp_path / "mine" / "dcgan_shapes.toml").is_file()
    res = CliRunner().invoke(cli, ["validate", "mine/lsgan_shapes.toml", "--set", "train.batch_size=4"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, ["recipes", "copy", "lsgan_shapes", "mine/"])
    assert res.exit_code == 2 and "--force" in res.output  # never overwritten silently
    res = CliRunner().invoke(cli, ["recipes", "copy", "lsgan_shape"])
    assert res.exit_code == 2 and "lsgan_shapes" in res.output


def test_a_misspelled_recipe_name_says_which_ones_exist(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["validate", "vanila_gan_ring"])
    assert res.exit_code == 2 and "did you mean 'vanilla_gan_ring'" in res.output and "gancompose recipes" in res.output


def test_run_by_name_in_an_empty_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["run", "vanilla_gan_ring", "--max-steps", "5", "--quiet"])
    assert res.exit_code == 0, res.output
    runs = list((tmp_path / "runs" / "vanilla_gan_ring").glob("*/recipe.toml"))
    assert len(runs) == 1


@pytest.fixture(scope="module")
def wheel_site(tmp_path_factory) -> Path:
    """gancompose built as a wheel and installed (no dependencies: torch and the rest are those of this
    environment) into a folder put first on PYTHONPATH."""
    if not installed("pip") or not installed("setuptools"):
        pytest.skip("needs pip and setuptools (both in the dev extra)")
    base = tmp_path_factory.mktemp("wheel")
    import shutil
    src = base / "src"
    top = {".git", "runs", "data", "build", "site", ".hypothesis", "examples", "dist"}

    def ignore(folder, names):  # the checkout's own outputs at its top, caches anywhere
        return [n for n in names if (Path(folder) == ROOT and n in top) or n == "__pycache__"
                or n.endswith(".egg-info")]
    shutil.copytree(ROOT, src, ignore=ignore)
    env = subprocess_env()
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "-q", "-w", str(base / "dist"), str(src)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wheel, = (base / "dist").glob("gancompose-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"gancompose_recipes/{r}.toml" for r in RECIPES} <= set(names)
    assert "gancompose/py.typed" in names and "gancompose_cycle/__init__.py" in names
    site = base / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target",
                           str(site), str(wheel)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return site


def _gancompose(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gancompose.cli", *args], cwd=cwd, env=subprocess_env(site),
                          capture_output=True, text=True, timeout=300)


def test_the_wheel_runs_the_readme_commands_in_an_empty_folder(wheel_site, tmp_path):
    where = _gancompose(wheel_site, tmp_path, "--version")
    assert where.returncode == 0
    probe = subprocess.run([sys.executable, "-c", "import gancompose, gancompose_recipes; print(gancompose.__file__)"],
                           env={**os.environ, "PYTHONPATH": str(wheel_site)}, capture_output=True, text=True,
                           cwd=tmp_path)
    assert probe.stdout.startswith(str(wheel_site))  # the installed copy, not the checkout
    res = _gancompose(wheel_site, tmp_path, "recipes")
    assert res.returncode == 0 and "vanilla_gan_ring" in res.stdout, res.stderr
    res = _gancompose(wheel_site, tmp_path, "explain", "cyclegan_monet2photo")
    assert res.returncode == 0, res.stderr
    assert "11,378,179" in res.stdout and "2,764,737" in res.stdout
    res = _gancompose(wheel_site, tmp_path, "run", "recipes/vanilla_gan_ring.toml", "--max-steps", "20", "--quiet")
    assert res.returncode == 0, res.stderr
    assert list((tmp_path / "runs" / "vanilla_gan_ring").glob("*/checkpoints/last.safetensors"))
    res = _gancompose(wheel_site, tmp_path, "validate", "lsgan_shapes")  # extends between shipped recipes
    assert res.returncode == 0, res.stderr
