"""Declared protocols (issue 23): what the core calls on a schedule is declared, with a default, on
gancompose.engine.Schedule, and the core never probes a schedule with getattr/hasattr."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import ROOT, tiny_overrides
from gancompose.engine import Schedule
from gancompose.errors import RecipeError

CORE = ROOT / "gancompose"


def _core_sources() -> dict[Path, str]:
    return {p: p.read_text(encoding="utf-8") for p in CORE.rglob("*.py") if p.name != "docgen.py"}


def test_every_method_the_core_calls_on_a_schedule_is_declared_on_its_base():
    called = set()
    for text in _core_sources().values():
        called |= set(re.findall(r"\b(?:run|self)\.schedule\.([a-z_]+)\(", text))
    assert called, "the pattern found no call: the test would prove nothing"
    undeclared = sorted(name for name in called if not callable(getattr(Schedule, name, None)))
    assert not undeclared, f"called on run.schedule but not declared on gancompose.engine.Schedule: {undeclared}"


def test_the_core_never_probes_a_schedule():
    probes = [f"{path.relative_to(ROOT)}:{i}" for path, text in _core_sources().items()
              for i, line in enumerate(text.splitlines(), 1)
              if re.search(r"(getattr|hasattr)\((run\.|self\.|recipe\.)?schedule\b", line)]
    assert not probes, probes


def test_the_defaults_do_nothing():
    s = Schedule()
    batch = {"image": object()}
    assert s.prepare_batch(batch) is batch and s.callbacks(None, None) == [] and s.status(None) == {}
    assert s.describe() == [] and s.sample_grid(None, 4) is None and s.state_dict() == {}
    with pytest.raises(NotImplementedError):
        s.phases(0)


def test_a_schedule_that_is_not_a_schedule_is_refused_naming_its_plugin(tmp_path):
    from gancompose import hookimpl
    from gancompose.builder import build_run
    from gancompose.recipe import load_raw, validate_recipe
    from gancompose.recipe.load import apply_overrides
    from gancompose.registry import build_registry

    class Plain:  # the old duck-typed contract: roles and phases only
        roles = {"generator": "generator", "discriminator": "discriminator"}

        def phases(self, step):
            return []

    class Plugin:
        @hookimpl
        def register_schedules(register):
            register("plain", lambda params, run: Plain())

    reg = build_registry({"plainplug": Plugin})
    path = ROOT / "recipes" / "vanilla_gan_ring.toml"
    raw = apply_overrides(load_raw(path), [*tiny_overrides(load_raw(path), tmp_path), "schedule={type='plain'}"])
    raw["name"] = "x"
    with pytest.raises(RecipeError, match="plainplug.*gancompose.engine.Schedule"):
        build_run(validate_recipe(raw, registry=reg), registry=reg)
