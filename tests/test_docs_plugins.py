"""docs/plugins.md is executed, so the plugin guide cannot drift from the code (issue 21, item 6).

Every fenced code block of the page is preceded by a marker saying what it is, and this test does it:

- ``<!-- docs-test: file PATH -->``: a whole file of the guide's package, written to PATH in a work folder;
- ``<!-- docs-test: run FOLDER -->``: shell lines run in the work folder: ``pip install ./PKG`` installs the
  package offline into a private site folder (``--target``, no index), ``gancompose ...`` runs the CLI with
  that folder on PYTHONPATH (a ``run`` without ``--max-steps`` gets ``--max-steps 5``); each must exit 0;
- ``<!-- docs-test: excerpt FILE -->``: every line is in FILE of the repository (``...`` matches anything);
- ``<!-- docs-test: output-without-package RECIPE -->``: the output the guide shows for ``$ gancompose ...``
  without the package installed (``...`` matches anything).

A block without a marker fails the test.
"""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import installed, subprocess_env

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "plugins.md"
MARKER = re.compile(r"<!-- docs-test: (\S+)(?: (\S+))? -->\n```[a-z]*\n(.*?)```", re.S)
FENCE = re.compile(r"^```", re.M)


def _blocks() -> list[tuple[str, str, str]]:
    return [(m.group(1), m.group(2) or "", m.group(3)) for m in MARKER.finditer(PAGE.read_text())]


def _pattern(line: str) -> re.Pattern:
    return re.compile(".*".join(re.escape(part) for part in line.split("...")))


def test_every_code_block_has_a_marker():
    fences = len(FENCE.findall(PAGE.read_text())) // 2
    assert fences == len(_blocks()), "a code block of docs/plugins.md has no <!-- docs-test: ... --> marker"
    assert {kind for kind, _, _ in _blocks()} <= {"file", "run", "excerpt", "output-without-package"}


@pytest.mark.parametrize("index", [i for i, b in enumerate(_blocks()) if b[0] == "excerpt"])
def test_excerpts_are_in_the_example_package(index):
    _, target, body = _blocks()[index]
    text = "".join((ROOT / target).read_text().split())  # whitespace aside: a statement wrapped over lines matches
    for line in body.splitlines():
        code = line.split("  #")[0].strip() if not line.strip().startswith("#") else ""
        if not code or code == "...":
            continue
        assert _pattern("".join(code.split())).search(text), f"{target} has no line like {code!r}"


def _run_block(body: str, cwd: Path, site: Path) -> None:
    for line in body.splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if words[:2] == ["pip", "install"]:
            proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                                   "--no-index", "--disable-pip-version-check", "-q", "--target", str(site),
                                   *[w for w in words[2:] if w != "-e"]],
                                  cwd=cwd, env=subprocess_env(None), capture_output=True, text=True, timeout=300)
        else:
            assert words[0] == "gancompose", line
            if words[1] == "run" and "--max-steps" not in words:
                words += ["--max-steps", "5"]
            proc = subprocess.run([sys.executable, "-m", "gancompose.cli", *words[1:]], cwd=cwd, env=subprocess_env(site),
                                  capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{line}\n{proc.stdout}\n{proc.stderr}"
        assert "Traceback" not in proc.stderr, proc.stderr


@pytest.fixture
def pip_available():
    if not installed("pip") or not installed("setuptools"):
        pytest.skip("needs pip and setuptools (both in the dev extra)")


def test_the_first_example_builds_installs_and_trains(tmp_path, pip_available):
    work, site = tmp_path / "work", tmp_path / "site"
    ran = False
    for kind, target, body in _blocks():
        if kind == "file" and not target.startswith("examples/"):
            path = work / target
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body)
        elif kind == "run" and not target.startswith("examples/"):
            _run_block(body, work, site)
            ran = True
    assert ran
    listing = subprocess.run([sys.executable, "-m", "gancompose.cli", "list-components", "--kind", "loss"],
                             env=subprocess_env(site), capture_output=True, text=True, timeout=120, cwd=work)
    assert "pearson_chi2" in listing.stdout and "warning" not in listing.stderr  # no clash with a built-in
    runs = list((work / "runs" / "fgan_ring").glob("*/metrics.jsonl"))
    assert runs and runs[0].read_text().strip()


def test_the_example_package_commands_run(tmp_path, pip_available):
    work, site = tmp_path / "work", tmp_path / "site"
    example = ROOT / "examples" / "gancompose-relativistic"
    shutil.copytree(example, work / "examples" / example.name,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    for kind, target, body in _blocks():
        if kind == "run" and target.startswith("examples/"):
            _run_block(body, work, site)


def test_the_output_shown_without_the_package_is_what_gancompose_says(tmp_path):
    (kind, target, body), = [b for b in _blocks() if b[0] == "output-without-package"]
    if installed("gancompose-relativistic"):
        pytest.skip("the example package is installed here")
    recipe = ROOT / target
    shutil.copy(recipe, tmp_path / recipe.name)
    command, *expected = body.strip().splitlines()
    words = shlex.split(command.lstrip("$ "), comments=True)
    proc = subprocess.run([sys.executable, "-m", "gancompose.cli", *words[1:]], cwd=tmp_path, env=subprocess_env(None),
                          capture_output=True, text=True, timeout=120)
    got = (proc.stdout + proc.stderr).splitlines()
    assert proc.returncode != 0
    for line in expected:
        if line.strip() == "...":
            continue
        pattern = _pattern(line.strip())
        assert any(pattern.search(have) for have in got), f"no line like {line!r} in:\n" + "\n".join(got)
