"""The documentation: the site builds with warnings as errors, every recipe is documented and listed in the
README, the exported JSON Schema accepts every recipe, and the generated references cover every component
and command."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Annotated, Literal, Optional

import pytest
from annotated_types import Gt
from click.testing import CliRunner
from pydantic import Field

import docgen  # docs/hooks/docgen.py (tests/conftest.py puts docs/hooks on the path)
from gancompose import Params, hookimpl
from gancompose.cli import cli
from gancompose.recipe import load_raw
from gancompose.recipe.load import expand_like
from gancompose.registry import build_registry, default_registry

ROOT = Path(__file__).resolve().parent.parent
RECIPE_NAMES = sorted(p.stem for p in (ROOT / "recipes").glob("*.toml"))


# ------------------------------------------------------------------------------ the site
@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None,
                    reason="mkdocs and mkdocs-material are not installed (pip install -e '.[dev]')")
def test_docs_build_strict(tmp_path):
    site = tmp_path / "site"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(site)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # the hook generated the reference pages and they were rendered
    components = (site / "reference" / "components" / "index.html").read_text(encoding="utf-8")
    for c in default_registry():
        assert f'id="{c.kind}-{c.name}"' in components, (c.kind, c.name)
    cli_page = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    assert 'id="gancompose-run"' in cli_page and "--max-steps" in cli_page
    recipes = (site / "reference" / "recipes" / "index.html").read_text(encoding="utf-8")
    for name in RECIPE_NAMES:
        assert f'id="{name}"' in recipes, name
    compat = (site / "reference" / "compatibility" / "index.html").read_text(encoding="utf-8")
    assert 'id="matrix-discriminator-conditioning"' in compat and 'id="grid-conditioner"' in compat
    for page in ("index.html", "concepts/index.html", "tutorials/dcgan/index.html", "schema/index.html"):
        assert (site / page).exists(), page


# ------------------------------------------------------------------- recipes in docs and README
def test_every_recipe_has_a_tutorial_page():
    found = docgen.tutorial_index(ROOT / "docs", RECIPE_NAMES)
    missing = [name for name, pages in found.items() if not pages]
    assert not missing, f"recipes no page under docs/tutorials/ names (as `name`): {missing}"


def _readme_recipe_rows() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Recipes", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\|\s*`([A-Za-z0-9_]+)`\s*\|", section, flags=re.M)


def test_readme_recipe_table_matches_recipes_folder():
    rows = _readme_recipe_rows()
    assert len(rows) == len(set(rows)), "a recipe is listed twice in the README table"
    assert sorted(set(rows) - set(RECIPE_NAMES)) == [], "README rows naming no file in recipes/"
    assert sorted(set(RECIPE_NAMES) - set(rows)) == [], "recipes missing from the README table"


def test_readme_rows_have_status_and_command():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Recipes", 1)[1].split("\n## ", 1)[0]
    header = next(line for line in section.splitlines() if line.startswith("| "))
    cols = [c.strip() for c in header.strip("|").split("|")]
    assert cols[:1] == ["recipe"] and "status" in cols and "command" in cols, cols
    for line in section.splitlines():
        m = re.match(r"^\|\s*`([A-Za-z0-9_]+)`\s*\|", line)
        if m:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            assert len(cells) == len(cols), line
            assert f"recipes/{m.group(1)}.toml" in cells[cols.index("command")], line
            assert cells[cols.index("status")], line


# ----------------------------------------------------------------------------- the schema
@pytest.fixture(scope="module")
def schema_validator():
    jsonschema = pytest.importorskip("jsonschema")
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("name", RECIPE_NAMES)
def test_schema_validates_every_recipe(schema_validator, name):
    raw = expand_like(load_raw(ROOT / "recipes" / f"{name}.toml"))  # extends and like resolved, as load_recipe
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in schema_validator.iter_errors(raw)]
    assert errors == []


def test_schema_rejects_what_the_loader_rejects(schema_validator):
    raw = expand_like(load_raw(ROOT / "recipes" / "dcgan_shapes.toml"))
    assert schema_validator.is_valid(raw)
    assert not schema_validator.is_valid({**raw, "loss": {"type": "bcee"}})            # unknown component
    assert not schema_validator.is_valid({**raw, "loss": {"type": "bce", "margn": 1}})  # unknown key
    bad_train = {**raw, "train": {**raw.get("train", {}), "batch_size": "big"}}
    assert not schema_validator.is_valid(bad_train)                                   # wrong type
    # extends/like are loader instructions: the schema describes the resolved recipe (docs/schema.md)
    assert not schema_validator.is_valid({**raw, "extends": "dcgan_shapes.toml"})


# ------------------------------------------------------------------ generated references
def test_component_reference_lists_every_component():
    reg = default_registry()
    text = docgen.render_components(reg)
    sections = re.split(r"^### ", text, flags=re.M)[1:]
    by_id = {re.search(r"\{#([^}]+)\}", s.splitlines()[0]).group(1): s for s in sections}
    assert len(by_id) == len(list(reg))
    for c in reg:
        section = by_id[f"{c.kind}-{c.name}"]
        assert f"plugin `{c.plugin}`" in section
        for key in c.params.model_fields:
            assert f"| `{key}` |" in section, (c.kind, c.name, key)


class _ProbeParams(Params):
    margin: Annotated[float, Gt(0)] = Field(0.5, description="how far apart | the two sides are")
    width: Optional[Annotated[int, Gt(0)]] = Field(None, description="inferred when omitted")
    mode: Literal["mean", "sum"] = Field("mean", description="how to reduce")
    betas: tuple[float, float] = Field((0.5, 0.999), description="two coefficients")
    layers: int = Field(description="required, no default")


class _Probe:
    """A probe loss that exists only in this test."""

    def __init__(self, p):
        self.p = p


@hookimpl
def _register_probe(register):
    register("docs_probe", _Probe, _ProbeParams)


_probe_plugin = types.ModuleType("docs_probe_plugin")
_probe_plugin.register_losses = _register_probe


def test_component_reference_renders_a_third_party_component():
    reg = build_registry({"docs_probe_plugin": _probe_plugin})
    text = docgen.render_components(reg)
    section = text.split("### `docs_probe` {#loss-docs_probe}", 1)[1].split("\n### ", 1)[0]
    assert "A probe loss that exists only in this test." in section
    assert "plugin `docs_probe_plugin`" in section
    assert "| `margin` | float (&gt; 0) | `0.5` | how far apart \\| the two sides are |" in section
    assert "| `width` | int (&gt; 0), optional | unset | inferred when omitted |" in section
    assert '| `mode` | "mean" \\| "sum" | `"mean"` | how to reduce |' in section
    assert "| `betas` | [float, float] | `[0.5, 0.999]` | two coefficients |" in section
    assert "| `layers` | int | required | required, no default |" in section


def test_cli_reference_lists_every_command_and_option():
    text = docgen.render_cli(cli)
    import click

    def walk(cmd, path):
        yield cmd, path
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                yield from walk(sub, f"{path} {name}")

    n = 0
    for cmd, path in walk(cli, "gancompose"):
        n += 1
        section = text.split(f"## `{path}` {{#", 1)[1].split("\n## ", 1)[0]
        for p in cmd.params:
            if isinstance(p, click.Option) and not p.hidden:
                assert f"`{p.opts[0]}`" in section, (path, p.opts)
            elif isinstance(p, click.Argument):
                assert f"`{p.human_readable_name}`" in section, (path, p.name)
    assert n >= 15
    assert "Sentinel" not in text and "typing." not in text


def test_generated_recipe_reference_links_each_recipe_to_its_tutorial():
    text = docgen.render_recipes(ROOT / "recipes", ROOT / "docs")
    for name in RECIPE_NAMES:
        assert f"## `{name}` {{#{name}}}" in text
        assert f"gancompose run recipes/{name}.toml" in text
    row = next(line for line in text.splitlines() if line.startswith("| [`lsgan_shapes`]"))
    assert "(../tutorials/lsgan.md)" in row
    assert "Extends [`dcgan_shapes`](#dcgan_shapes)" in text


def test_write_reference_only_rewrites_changed_pages(tmp_path):
    docs = tmp_path / "docs"
    (docs / "tutorials").mkdir(parents=True)
    paths = docgen.write_reference(docs, ROOT / "recipes")
    assert sorted(p.name for p in paths) == ["cli.md", "compatibility.md", "components.md", "recipes.md"]
    mtimes = {p: p.stat().st_mtime_ns for p in paths}
    os.utime(paths[0], ns=(1, 1))
    docgen.write_reference(docs, ROOT / "recipes")
    assert paths[0].stat().st_mtime_ns == 1  # unchanged content: not rewritten (mkdocs serve does not loop)
    assert all(p.stat().st_mtime_ns == mtimes[p] for p in paths[1:])


def test_compatibility_page_tabulates_capabilities_and_the_matrix_cells():
    import matrix
    from gancompose.compatibility import capability_table
    reg = default_registry()
    text = docgen.render_compatibility(reg, ROOT / "recipes")
    for cap, _, _ in capability_table(reg):
        assert f"| `{cap}` |" in text
    # the conditioner grid: which blocks a head conditioning can go on
    grid = text.split("{#grid-conditioner}", 1)[1].split("\n## ", 1)[0]
    assert "| block `progan_discriminator` | ✓ | ✓ |" in grid and "| block `patchgan_discriminator` | ✗ | ✗ |" in grid
    # every cell of the matrix test, under its column, with the test that trains it
    for column, (title, test) in matrix.COLUMNS.items():
        section = text.split(f"### {title} {{#matrix-", 1)[1].split("\n### ", 1)[0]
        assert f"`{test}`" in section
        for cell in (c for c in matrix.cells(reg) if c.column == column):
            row = next(line for line in section.splitlines() if line.startswith(f"| `{cell.name}` |"))
            assert cell.family in section.splitlines()[4]  # the header row names the family
            if cell.claim == matrix.TRAINS:
                assert "**trains**" in row
    cond = text.split("{#matrix-discriminator-conditioning}", 1)[1]
    for name in ("projection", "auxiliary_classifier", "concat"):
        row = next(line for line in cond.splitlines() if line.startswith(f"| `{name}` |"))
        assert row.count("**trains**") == len(matrix.SINGLE_PAIR)
    # cycle terms on a single pair: refused while validating, with the validator's message
    other = text.split("{#matrix-other-term}", 1)[1].split("\n### ", 1)[0]
    assert "- `cycle_consistency` on mlp: regularizers[0].type: 'cycle_consistency' needs cycle_pair" in other
