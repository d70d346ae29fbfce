"""The example third-party package examples/gancompose-relativistic, installed as a user would
(``pip install``, offline, into a temporary folder put on PYTHONPATH): its components are discovered
through the entry point, its recipe trains, its own tests pass, and without it the recipe error names the
missing components and the package that provides them (the recipe's ``requires``)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import installed as is_installed, subprocess_env

from gancompose.errors import RecipeError
from gancompose.recipe.load import load_recipe, validate_recipe

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "gancompose-relativistic"
RECIPE_IN_PACKAGE = Path("gancompose_relativistic") / "recipes" / "rasgan_spiral.toml"


def _gancompose(*args: str, site: Path | None, cwd: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gancompose.cli", *args], cwd=cwd, env=subprocess_env(site),
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """(site folder holding the installed package, copy of its source): ``pip install`` of a copy, so the
    build's ``build/`` and ``*.egg-info`` never land in the repository."""
    # asked through the installed distributions: importlib's find_spec("pip") would make setuptools' distutils
    # hack step aside for the rest of the process, and inductor (which imports setuptools) then fails to compile
    if not is_installed("pip") or not is_installed("setuptools"):
        pytest.skip("needs pip and setuptools (both in the dev extra)")
    base = tmp_path_factory.mktemp("example_plugin")
    src, site = base / "src", base / "site"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                           "--disable-pip-version-check", "-q", "--target", str(site), str(src)],
                          env=subprocess_env(None), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (site / RECIPE_IN_PACKAGE).is_file()  # the recipe ships inside the package
    assert list(site.glob("gancompose_relativistic-*.dist-info/entry_points.txt"))
    return site, src


def test_discovered_through_the_entry_point(installed, tmp_path):
    site, _ = installed
    proc = _gancompose("list-components", "--json", site=site, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    ours = {(c["kind"], c["name"]) for c in listing["components"] if c["plugin"] == "relativistic"}
    assert ours == {("loss", "relativistic"), ("layer", "minibatch_discrimination"), ("block", "minibatch_mlp"),
                    ("dataset", "spiral"), ("metric", "spiral_fit")}
    assert listing["failures"] == []
    assert ("loss", "bce") in {(c["kind"], c["name"]) for c in listing["components"]}  # built-ins still there
    # (the CLI lists gancompose.registry.default_registry(), which every command and load_recipe use)


def test_its_recipe_trains(installed, tmp_path):
    site, _ = installed
    proc = _gancompose("run", str(site / RECIPE_IN_PACKAGE), "--max-steps", "2", "--output-dir", str(tmp_path),
                       "--quiet", "--device", "cpu", "--set", "train.batch_size=16", "--set", "train.log_every=1",
                       "--set", "train.samples=16", "--set", "metrics[0].samples=64",
                       site=site, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run_dir = next((tmp_path / "rasgan_spiral").iterdir())
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines if "discriminator/adversarial" in line] == [1, 2]
    assert any("spiral_fit/coverage" in line for line in lines)
    assert (run_dir / "checkpoints" / "last.safetensors").is_file()
    assert (run_dir / "samples" / "step_0000002.png").is_file()


def test_its_own_tests_pass(installed):
    site, src = installed
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", str(src / "tests")],
                          cwd=src, env=subprocess_env(site), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout


def test_without_the_package_the_error_names_it(installed, tmp_path):
    site, _ = installed
    proc = _gancompose("validate", str(site / RECIPE_IN_PACKAGE), site=None, cwd=tmp_path)  # "uninstalled"
    assert proc.returncode == 2
    err = " ".join(proc.stderr.split())  # rich may wrap long lines
    for component in ("unknown loss 'relativistic'", "unknown block 'minibatch_mlp'", "unknown dataset 'spiral'",
                      "unknown metric 'spiral_fit'"):
        assert component in err, err
    assert ("this recipe requires gancompose-relativistic (pip install gancompose-relativistic), which is not "
            "installed") in err
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------------------------- the ``requires`` mechanism itself
def _raw(**over) -> dict:
    raw = {"networks": {"generator": {"type": "mlp", "input": "latent", "out_shape": [2]},
                        "discriminator": {"type": "mlp", "input": "data"}},
           "loss": {"type": "bce"}, "optimizers": {"generator": {"type": "adam"}, "discriminator": {"type": "adam"}},
           "schedule": {"type": "alternating"}, "data": {"type": "gaussian_mixture"}}
    raw.update(over)
    return raw


def test_requires_adds_the_package_to_unknown_component_errors():
    raw = _raw(requires=["gancompose-not-a-real-package"], loss={"type": "relativistic_nope"})
    with pytest.raises(RecipeError) as info:
        validate_recipe(raw)
    assert info.value.key == "loss.type"
    assert info.value.message == ("unknown loss 'relativistic_nope': this recipe requires gancompose-not-a-real-package "
                                  "(pip install gancompose-not-a-real-package), which is not installed")
    # a required package that is installed adds nothing: the component is unknown for another reason
    with pytest.raises(RecipeError) as info:
        validate_recipe(_raw(requires=["pydantic"], loss={"type": "relativistic_nope"}))
    assert info.value.message == "unknown loss 'relativistic_nope'"
    # and no requires: the error as before
    with pytest.raises(RecipeError) as info:
        validate_recipe(_raw(loss={"type": "relativistic_nope"}))
    assert info.value.message == "unknown loss 'relativistic_nope'"


def test_requires_is_validated_and_kept():
    assert validate_recipe(_raw(requires=["pydantic", "gancompose-x"])).requires == ["pydantic", "gancompose-x"]
    assert validate_recipe(_raw()).requires == []
    with pytest.raises(RecipeError) as info:
        validate_recipe(_raw(requires=["not a name"]))
    assert info.value.key == "requires[0]"
    with pytest.raises(RecipeError) as info:
        validate_recipe(_raw(requires="gancompose-x"))
    assert info.value.key == "requires"


def test_requires_are_merged_through_extends(tmp_path):
    import tomli_w
    (tmp_path / "base.toml").write_text(tomli_w.dumps(_raw(requires=["pkg-a", "pkg-b"])))
    (tmp_path / "child.toml").write_text('extends = "base.toml"\nrequires = ["pkg-b", "pkg-c"]\n')
    assert load_recipe(tmp_path / "child.toml").requires == ["pkg-a", "pkg-b", "pkg-c"]
    (tmp_path / "plain.toml").write_text('extends = "base.toml"\n')
    assert load_recipe(tmp_path / "plain.toml").requires == ["pkg-a", "pkg-b"]
