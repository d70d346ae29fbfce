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
    return {p: p.read_text(encoding="utf-8") for p in CORE.rglob("*.py") }


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
    assert s.prepare_batch(batch) is batch and s.callbacks(None, None) == [] and s.partial_networks() == set() and s.status(None) == {}
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


#: what the core may still look up by name: recipe tables (pydantic models whose fields differ by block), modules,
#: exceptions, entry points, a proxy forwarding to its module, and the requires/provides a factory may carry (the
#: registration's documented alternative to register(..., requires=...)). Never a built component.
NOT_COMPONENTS = re.compile(r"^(spec|recipe|recipe\.networks\[name\]|params|mod|exc|ep|pm\.hook|factory|self\._module"
                            r"|importlib\.import_module\(.*\))$")


def test_the_core_never_probes_a_component():
    """Every optional method or attribute the core reads on a dataset, loss, augmentation, lr schedule, network,
    schedule or callback is declared on its base (gancompose/protocols.py, gancompose.engine): no getattr/hasattr
    on them in gancompose/."""
    probes, seen = [], 0
    for path, text in _core_sources().items():
        for i, line in enumerate(text.splitlines(), 1):
            for m in re.finditer(r"\b(?:getattr|hasattr)\(([^,]+),", line):
                seen += 1
                if not NOT_COMPONENTS.match(m.group(1).strip()):
                    probes.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert seen, "the pattern found no getattr at all: the test would prove nothing"
    assert not probes, "probes on components (declare the attribute on the kind's base instead):\n" + "\n".join(probes)


def test_every_optional_method_of_a_base_has_a_default_that_does_nothing_or_refuses():
    from gancompose.protocols import AdversarialLoss, Augmentation, Dataset, implements
    ds = Dataset()
    assert ds.num_classes is None and ds.seeded_items is False and ds.stage(None) is False
    assert not implements(ds, "get_batch", Dataset) and not implements(Dataset, "download", Dataset)
    aug = Augmentation()
    assert aug.monitor() is None and aug.status() == {} and aug.observe(None) is None
    assert AdversarialLoss.needs_real_for_generator is False


@pytest.mark.parametrize("kind, hook, build, key", [
    ("dataset", "register_datasets", "data={type='plain'}", "data.type"),
    ("loss", "register_losses", "loss={type='plain'}", "loss.type"),
])
def test_a_component_that_is_not_its_kinds_base_is_refused_naming_its_plugin(tmp_path, kind, hook, build, key):
    """A loss or a dataset of the old duck-typed contract is refused at validate, naming its plugin and the base."""
    import torch
    from gancompose import hookimpl
    from gancompose.builder import build_run
    from gancompose.recipe import load_raw, validate_recipe
    from gancompose.recipe.load import apply_overrides
    from gancompose.registry import build_registry

    class PlainDataset:
        sample_shape, num_classes = (2,), None

        def __init__(self, p):
            pass

        def __len__(self):
            return 64

        def __getitem__(self, i):
            return {"image": torch.zeros(2)}

    class PlainLoss:
        def __init__(self, p):
            pass

        def discriminator(self, real_out, fake_out):
            return real_out.mean()

        def generator(self, fake_out, real_out=None):
            return fake_out.mean()

    class Plugin:
        pass

    factory = {"dataset": PlainDataset, "loss": PlainLoss}[kind]
    setattr(Plugin, hook, staticmethod(hookimpl(lambda register: register("plain", factory))))
    reg = build_registry({"plainplug": Plugin})
    path = ROOT / "recipes" / "vanilla_gan_ring.toml"
    raw = apply_overrides(load_raw(path), [*tiny_overrides(load_raw(path), tmp_path), build])
    raw["name"] = "x"
    with pytest.raises(RecipeError) as exc:
        build_run(validate_recipe(raw, registry=reg), registry=reg, with_data=False)
    msg = str(exc.value)
    assert "plainplug" in msg and "gancompose.protocols." in msg and msg.startswith(key), msg


FAMILY_WORDS = re.compile(r"cyclegan|progan|stylegan|pix2pix|truncation|style.?mixing", re.I)


def test_the_core_knows_no_family_by_name():
    """The acceptance grep of the families issue, minus prose: no identifier and no string the core uses (messages,
    hints, field descriptions, option names) names a family or a family's sampling trick; docstrings and comments
    may cite where an idea comes from."""
    import ast
    found = []
    for path, text in _core_sources().items():
        tree = ast.parse(text)
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant) and isinstance(node.body[0].value.value, str)}
        for node in ast.walk(tree):
            words = []
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                words.append(node.value)
            elif isinstance(node, ast.Name):
                words.append(node.id)
            elif isinstance(node, ast.Attribute):
                words.append(node.attr)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                words.append(node.name)
            elif isinstance(node, ast.alias):
                words.append(node.name)
            found += [f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}: {w[:80]!r}"
                      for w in words if FAMILY_WORDS.search(w)]
    assert not found, "\n".join(found)


def test_a_schedule_declares_the_input_it_feeds_a_network():
    """ScheduleParams.network_inputs: a network is built, checked and explained on what the schedule feeds it (the
    paired schedule's discriminator: the 6 channels of an (A, B) pair); the base declares nothing."""
    from gancompose.builder.run import network_input_shape
    from gancompose.engine import ScheduleParams
    from gancompose.recipe import load_recipe
    assert ScheduleParams().network_inputs((3, 8, 8)) == {}
    recipe = load_recipe(ROOT / "recipes" / "pix2pix_shapes.toml")
    data = type("Data", (), {"sample_shape": (3, 32, 32)})()
    assert network_input_shape("D", recipe.networks["D"], recipe, data) == (6, 32, 32)
    assert network_input_shape("G", recipe.networks["G"], recipe, data) == (3, 32, 32)
    plain = load_recipe(ROOT / "recipes" / "dcgan_shapes.toml")  # a schedule whose parameters declare nothing
    assert network_input_shape("discriminator", plain.networks["discriminator"], plain, data) == (3, 32, 32)
