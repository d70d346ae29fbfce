"""Plugins: discovery through the ``gancompose`` entry-point group, isolation of broken plugins,
conflicts, and a third-party package used end to end from the command line.

Third-party packages are real distributions: a module plus a ``*.dist-info`` folder (METADATA and
entry_points.txt) in a temporary folder put on ``sys.path``, which importlib.metadata scans.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import json
import re
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel, Field

import gancompose
from gancompose import Params, hookimpl, hookspecs
from gancompose.builder import build_run
from gancompose.cli import cli
from gancompose.errors import GancomposeError, RecipeError
from conftest import ROOT, tiny_ring_raw
from gancompose.params import NoParams
from gancompose.recipe import load_raw, load_recipe, recipe_model, validate_recipe
from gancompose.registry import HOOK_KINDS, KINDS, build_registry, default_registry

REPO = Path(__file__).resolve().parent.parent
PACKAGE = Path(gancompose.__file__).resolve().parent
BUILTIN = {"core": "gancompose_core", "dcgan": "gancompose_dcgan", "data": "gancompose_data"}


def invoke(*args):
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, [str(a) for a in args])


def one_line(text: str) -> str:
    return " ".join(text.split())


# ------------------------------------------------------------------------ temporary distributions
@pytest.fixture
def make_dist(tmp_path, monkeypatch):
    """``make_dist(dist, {module: source}, {ep_name: module})``: an installed distribution on sys.path.

    Clears the registry cache before and after, and forgets the modules afterwards.
    """
    made: list[str] = []
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    default_registry.cache_clear()

    def _make(dist: str, modules: dict[str, str], entry_points: dict[str, str]) -> Path:
        for mod, source in modules.items():
            (site / f"{mod}.py").write_text(textwrap.dedent(source))
            made.append(mod)
        info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
        eps = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[gancompose]\n{eps}")
        importlib.invalidate_caches()
        default_registry.cache_clear()
        return site

    yield _make
    for mod in made:
        sys.modules.pop(mod, None)
    default_registry.cache_clear()
    importlib.invalidate_caches()


@pytest.fixture(scope="module")
def builtin_keys():
    return set(build_registry().components)


# ------------------------------------------------------------------------ built-ins via entry points
def test_builtin_plugins_are_entry_points():
    eps = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="gancompose")}
    for name, module in BUILTIN.items():
        assert eps.get(name) == module

    reg = build_registry()
    assert reg.failures == []
    assert set(BUILTIN) <= set(reg.plugins)
    assert reg.get("loss", "bce").plugin == "objectives"
    assert reg.get("optimizer", "adam").plugin == "core"
    assert reg.get("layer", "linear").plugin == "core"
    assert reg.get("schedule", "alternating").plugin == "core"
    assert reg.get("block", "dcgan_generator").plugin == "dcgan"
    assert reg.get("block", "dcgan_discriminator").plugin == "dcgan"
    assert reg.get("dataset", "shapes").plugin == "data"
    assert reg.get("dataset", "gaussian_mixture").plugin == "data"
    # every component comes from a plugin that has an entry point
    assert {c.plugin for c in reg} <= set(eps)
    assert {c.plugin for c in reg} >= set(BUILTIN)


def test_core_has_no_builtin_components_without_entry_points():
    reg = build_registry(entry_points=False)
    assert reg.components == {}
    assert reg.plugins == []


def test_core_package_never_imports_plugins():
    pattern = re.compile(r"\b(import|from)\s+gancompose_|import_module\(\s*['\"]gancompose_")
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 10  # the real package, not an empty folder
    offenders = [f"{f.relative_to(REPO)}:{i}: {line.strip()}"
                 for f in files for i, line in enumerate(f.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == []


# ------------------------------------------------------------------------ every hook is reachable
class HookParams(Params):
    """Parameters of the test components."""
    strength: float = Field(1.0, description="how strong")


def _factory(kind: str):
    def factory(params, *args):
        return (kind, params, args)
    factory.__doc__ = f"The test {kind}.\n\nA second paragraph that is not the one-line doc."
    return factory


class EveryHook:
    """Implements every register_* hook, each registering one component."""

    @hookimpl
    def register_layers(self, register):
        register("test_layer", _factory("layer"), HookParams)

    @hookimpl
    def register_blocks(self, register):
        register("test_block", _factory("block"), HookParams)

    @hookimpl
    def register_losses(self, register):
        register("test_loss", _factory("loss"), HookParams, doc="an explicit one-line doc")

    @hookimpl
    def register_regularizers(self, register):
        register("test_regularizer", _factory("regularizer"), HookParams)

    @hookimpl
    def register_optimizers(self, register):
        register("test_optimizer", _factory("optimizer"), HookParams)

    @hookimpl
    def register_lr_schedules(self, register):
        register("test_lr_schedule", _factory("lr_schedule"), HookParams)

    @hookimpl
    def register_initializers(self, register):
        register("test_initializer", _factory("initializer"))  # no params

    @hookimpl
    def register_conditioners(self, register):
        register("test_conditioner", _factory("conditioner"), HookParams)

    @hookimpl
    def register_augmentations(self, register):
        register("test_augmentation", _factory("augmentation"), HookParams)

    @hookimpl
    def register_datasets(self, register):
        register("test_dataset", _factory("dataset"), HookParams)

    @hookimpl
    def register_metrics(self, register):
        register("test_metric", _factory("metric"), HookParams)

    @hookimpl
    def register_schedules(self, register):
        register("test_schedule", _factory("schedule"), HookParams)


def _hookspec_names() -> set[str]:
    return {name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
            if hasattr(fn, "gancompose_spec")}


#: hooks that add something other than a component kind
NON_COMPONENT_HOOKS = {"register_commands", "register_sample_options", "register_capabilities"}


def test_every_hookspec_has_a_kind_and_the_test_plugin_covers_them():
    specs = _hookspec_names() - NON_COMPONENT_HOOKS
    assert len(specs) == 12
    assert set(HOOK_KINDS) == specs
    assert set(KINDS) == set(HOOK_KINDS.values())
    implemented = {name for name, _ in inspect.getmembers(EveryHook, inspect.isfunction)
                   if name.startswith("register_")}
    assert implemented == specs


def test_a_plugin_adds_commands_and_a_broken_one_does_not_take_the_others_down():
    import click

    class Adds:
        @hookimpl
        def register_commands(cli):
            @click.command("hello-plugin")
            def hello():
                """Say hello."""
                click.echo("hello from a plugin")
            cli.add_command(hello)

    class Breaks:
        @hookimpl
        def register_commands(cli):
            raise RuntimeError("boom")

    reg = build_registry(extra_plugins={"adds": Adds, "breaks": Breaks}, entry_points=False)
    group = click.Group("cli")
    group.add_command(click.Group("import"))
    reg.add_commands(group)
    assert "hello-plugin" in group.commands
    assert [(f.plugin, f.stage) for f in reg.failures] == [("breaks", "register_commands")]
    assert CliRunner().invoke(group, ["hello-plugin"]).output == "hello from a plugin\n"


def test_a_plugin_adds_sample_options_and_a_broken_or_clashing_one_is_reported(tmp_path, monkeypatch):
    """register_sample_options: a plugin's options join ``gancompose sample`` (a grid of its own, keyword
    arguments it refuses for a generator); a hook that raises, a registration that is not a SampleOption and an
    option whose flag is taken are reported by plugin name, and the other options still work."""
    import click
    import torch
    import gancompose.cli as cli_mod
    from conftest import refusal
    from gancompose.runner import run_recipe
    from gancompose.sampling import Grid, SampleOption

    class Corners(SampleOption):
        options = (click.Option(["--corners"], type=int, help="A grid of N points at (1, 1)."),
                   click.Option(["--picky"], is_flag=True, help="Refuses every generator."))

        def forward_kwargs(self, net, values):
            if values["picky"]:
                raise GancomposeError(f"--picky does not take {type(net).__name__}")
            return {}

        def grid(self, run, values, *, seed, use_ema, label, per_class, forward_kwargs):
            if values["corners"] is None:
                return None
            return Grid(torch.ones(values["corners"], 2), 4, f"{values['corners']} corners")

    class Adds:
        @hookimpl
        def register_sample_options(register):
            register(Corners())

    class Breaks:
        @hookimpl
        def register_sample_options(register):
            raise RuntimeError("boom")

    class NotAnOption:
        @hookimpl
        def register_sample_options(register):
            register(object())

    class Clashes:
        @hookimpl
        def register_sample_options(register):
            class Seed(SampleOption):
                options = (click.Option(["--seed"], type=int),)
            register(Seed())

    reg = build_registry(extra_plugins={"adds": Adds, "breaks": Breaks, "not_an_option": NotAnOption,
                                        "clashes": Clashes})
    sample = cli.commands["sample"]
    built_in = {id(p) for _, option in default_registry().sample_options() for p in option.options}
    monkeypatch.setattr(sample, "params", [p for p in sample.params if id(p) not in built_in])  # as at start-up
    monkeypatch.setattr(cli_mod._Group, "_plugins_added", False)
    import gancompose.commands.context as context
    monkeypatch.setattr(cli_mod, "default_registry", lambda: reg)
    monkeypatch.setattr(context, "default_registry", lambda: reg)
    from gancompose.recipe import load_recipe as load
    result = run_recipe(load(ROOT / "recipes" / "vanilla_gan_ring.toml",
                             ["train.steps=1", "metrics=[]", f"train.output_dir={tmp_path}"]), progress=False)
    ckpt = result.run_dir / "checkpoints" / "last.safetensors"
    res = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["sample", str(ckpt), "--corners", "3",
                                                         "-o", str(tmp_path / "c.png")])
    assert res.exit_code == 0, res.output
    assert "wrote 3 corners to" in res.output and (tmp_path / "c.png").is_file()
    failures = {(f.plugin, f.stage): f.error for f in reg.failures}
    assert set(failures) == {("breaks", "register_sample_options"), ("not_an_option", "register_sample_options"),
                             ("clashes", "register_sample_options")}
    assert "boom" in failures[("breaks", "register_sample_options")]
    assert "SampleOption" in failures[("not_an_option", "register_sample_options")]
    assert "--seed" in failures[("clashes", "register_sample_options")]
    assert "plugin 'clashes' failed" in res.output  # reported in the CLI, the run still went on
    msg = refusal(CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["sample", str(ckpt), "--picky",
                                                                 "-o", str(tmp_path / "p.png")]))
    assert "--picky does not take" in msg and not (tmp_path / "p.png").exists()
    assert "--truncation" in CliRunner().invoke(cli, ["sample", "--help"]).output  # the built-in ones are still there


def test_every_capability_says_what_it_means_and_the_plugin_that_provides_it_says_so():
    """The core declares only the capabilities it checks itself; every other one is explained by a plugin
    (register_capabilities), so a family's vocabulary lives in the family's folder."""
    from gancompose.compatibility import CORE_MEANING
    reg = default_registry()
    caps = {cap for c in reg for cap in (*c.requires, *c.provides)}
    assert {"cycle_pair", "growing", "style_generator", "data_input"} <= caps
    assert [cap for cap in sorted(caps) if not reg.meaning(cap)] == []
    assert reg.capabilities["cycle_pair"][1] == "cycle" and reg.capabilities["growing"][1] == "progan"
    assert set(CORE_MEANING) == {"data_input", "latent_input", "image_to_image", "unnormalized_weights"}


def test_a_capability_two_plugins_explain_keeps_one_meaning_with_a_warning():
    class First:
        @hookimpl
        def register_capabilities(register):
            register("wobbly", "it wobbles")

    class Second:
        @hookimpl
        def register_capabilities(register):
            register("wobbly", "it wobbles differently")

    class Broken:
        @hookimpl
        def register_capabilities(register):
            raise RuntimeError("boom")

    reg = build_registry(extra_plugins={"first": First, "second": Second, "broken": Broken}, entry_points=False)
    assert reg.meaning("wobbly") in ("it wobbles", "it wobbles differently")
    assert any("'wobbly'" in w and "'first'" in w and "'second'" in w for w in reg.warnings)
    assert [(f.plugin, f.stage) for f in reg.failures] == [("broken", "register_capabilities")]


def test_the_cycle_family_commands_come_from_its_plugin():
    res = CliRunner().invoke(cli, ["import", "--help"])
    assert "cyclegan" in res.output
    from gancompose_cycle import commands
    assert cli.get_command(None, "import").get_command(None, "cyclegan") is commands.import_cyclegan


def test_every_hook_registers_a_component(builtin_keys):
    reg = build_registry(extra_plugins={"testplug": EveryHook()})
    assert reg.failures == []
    assert "testplug" in reg.plugins
    for kind in KINDS:
        comp = reg.get(kind, f"test_{kind}")
        assert (comp.kind, comp.name, comp.plugin) == (kind, f"test_{kind}", "testplug")
        if kind == "loss":
            assert comp.doc == "an explicit one-line doc"
        else:
            assert comp.doc == f"The test {kind}."
        if kind == "initializer":
            assert comp.params is NoParams
        else:
            assert comp.params is HookParams
        # the factory is the one registered, called with the params
        p = comp.params()
        assert comp.build(p, "x") == (kind, p, ("x",))
        js = comp.to_json()
        assert js["plugin"] == "testplug" and js["kind"] == kind and js["doc"] == comp.doc
        if kind != "initializer":
            assert js["params"]["properties"]["strength"]["description"] == "how strong"
    # the built-ins are untouched
    assert builtin_keys <= set(reg.components)
    assert len(reg.components) == len(builtin_keys) + len(KINDS)


def test_test_components_enter_the_recipe_schema():
    reg = build_registry(extra_plugins={"testplug": EveryHook()})
    text = json.dumps(recipe_model(reg).model_json_schema())
    for kind in KINDS:
        assert f"test_{kind}" in text, kind


# ------------------------------------------------------------------------ broken plugins are isolated
BROKEN_SOURCES = {
    "import": ("gc_broken_plugin", """
        raise RuntimeError("gc_broken_plugin exploded at import")
    """, "RuntimeError: gc_broken_plugin exploded at import"),
    "hook_raises": ("gc_hook_raises", """
        from gancompose import hookimpl

        @hookimpl
        def register_losses(register):
            raise ValueError("the loss hook blew up")
    """, "ValueError: the loss hook blew up"),
    "invalid_name": ("gc_invalid_name", """
        from gancompose import hookimpl

        def good(p):
            '''fine'''

        @hookimpl
        def register_losses(register):
            register("staged_ok_loss", good)
            register("not a name!", good)
    """, "invalid loss name 'not a name!'"),
    "params_not_params": ("gc_bad_params", """
        from pydantic import BaseModel
        from gancompose import hookimpl

        class Plain(BaseModel):
            x: int = 1

        @hookimpl
        def register_losses(register):
            register("plain_params_loss", lambda p: None, Plain)
    """, "params must be a subclass of gancompose.Params"),
    "factory_not_callable": ("gc_not_callable", """
        from gancompose import hookimpl

        @hookimpl
        def register_losses(register):
            register("not_callable_loss", 42)
    """, "is not callable"),
}


@pytest.mark.parametrize("case", list(BROKEN_SOURCES))
def test_broken_plugin_is_reported_and_others_load(case, make_dist, builtin_keys):
    module, source, message = BROKEN_SOURCES[case]
    make_dist(module.replace("_", "-"), {module: source}, {"broken": module})
    assert "broken" in {ep.name for ep in importlib.metadata.entry_points(group="gancompose")}

    reg = build_registry()
    assert len(reg.failures) == 1, reg.failures
    failure = reg.failures[0]
    assert failure.plugin == "broken"
    assert failure.stage == ("import" if case == "import" else "register_losses")
    assert message in failure.error
    # every built-in component is still there, and nothing of the broken hook was half-registered
    assert set(reg.components) == builtin_keys
    assert set(BUILTIN) <= set(reg.plugins)


def test_broken_plugin_is_a_warning_in_the_cli(make_dist):
    make_dist("gc-broken-plugin", {"gc_broken_plugin": BROKEN_SOURCES["import"][1]}, {"broken": "gc_broken_plugin"})
    res = invoke("list-components", "--kind", "loss")
    assert res.exit_code == 0, res.output
    err = one_line(res.stderr)
    assert "warning" in err and "'broken'" in err and "exploded at import" in err
    assert "bce" in res.stdout
    assert "Traceback" not in res.output


def test_other_hooks_of_a_plugin_with_one_failing_hook_still_load(make_dist):
    make_dist("gc-half", {"gc_half": """
        from gancompose import hookimpl

        def ok_layer(p, in_shape):
            '''A layer that loads.'''

        @hookimpl
        def register_layers(register):
            register("half_ok_layer", ok_layer)

        @hookimpl
        def register_losses(register):
            raise RuntimeError("no loss today")
    """}, {"half": "gc_half"})
    reg = build_registry()
    assert [(f.plugin, f.stage) for f in reg.failures] == [("half", "register_losses")]
    assert reg.get("layer", "half_ok_layer").plugin == "half"


# ------------------------------------------------------------------------ conflicts
class _Registers:
    def __init__(self, kind_hook: str, name: str):
        def hook(register):
            register(name, lambda p: None)
        setattr(self, kind_hook, hookimpl(hook))


def test_two_plugins_same_component_keep_both_under_qualified_names_and_warn():
    a, b = _Registers("register_losses", "dup_loss"), _Registers("register_losses", "dup_loss")
    reg = build_registry(extra_plugins={"alpha_plugin": a, "beta_plugin": b}, entry_points=False)
    assert reg.clashes == {("loss", "dup_loss"): ["alpha_plugin", "beta_plugin"]}
    assert reg.get("loss", "alpha_plugin:dup_loss").plugin == "alpha_plugin"
    assert reg.get("loss", "beta_plugin:dup_loss").plugin == "beta_plugin"
    assert len(reg.warnings) == 1 and "alpha_plugin" in reg.warnings[0] and "beta_plugin" in reg.warnings[0]
    with pytest.raises(RecipeError) as info:  # the bare name says neither: refused naming both and the way out
        reg.get("loss", "dup_loss")
    msg = str(info.value)
    assert "alpha_plugin" in msg and "beta_plugin" in msg and 'type = "beta_plugin:dup_loss"' in msg


def test_same_name_different_kinds_is_fine():
    a, b = _Registers("register_losses", "shared"), _Registers("register_layers", "shared")
    reg = build_registry(extra_plugins={"alpha_plugin": a, "beta_plugin": b}, entry_points=False)
    assert reg.get("loss", "shared").plugin == "alpha_plugin"
    assert reg.get("layer", "shared").plugin == "beta_plugin"


def test_clash_with_a_builtin_warns_and_every_command_still_works(make_dist, tmp_path):
    """Two plugins registering hinge used to stop every command (exit 2), list-components included."""
    make_dist("gc-clash", {"gc_clash": """
        from gancompose import hookimpl
        from gancompose_objectives.losses import HingeLoss, HingeParams

        @hookimpl
        def register_losses(register):
            register("hinge", HingeLoss, HingeParams)
    """}, {"clash": "gc_clash"})
    res = invoke("list-components", "--kind", "loss")
    assert res.exit_code == 0, res.output
    assert "objectives:hinge" in res.output and "clash:hinge" in res.output
    assert "warning" in res.output and "'clash'" in res.output and "'objectives'" in res.output
    res = invoke("validate", str(ROOT / "recipes" / "dcgan_shapes.toml"))  # does not use hinge: unaffected
    assert res.exit_code == 0, res.output
    recipe = ROOT / "recipes" / "sngan_shapes.toml"  # hinge loss: the bare name is refused, naming both
    res = invoke("validate", str(recipe))
    assert res.exit_code == 2 and "Traceback" not in res.output
    msg = one_line(res.output)
    assert "loss.type" in msg and "'objectives'" in msg and "'clash'" in msg and 'type = "clash:hinge"' in msg
    res = invoke("validate", str(recipe), "--set", "loss.type='clash:hinge'", "--set", "train.batch_size=4")
    assert res.exit_code == 0, res.output


def test_entry_point_name_clash_is_not_silent(make_dist):
    make_dist("gc-fake-core", {"gc_fake_core": """
        from gancompose import hookimpl

        @hookimpl
        def register_losses(register):
            register("fake_core_loss", lambda p: None)
    """}, {"core": "gc_fake_core"})
    reg = build_registry()  # both load: the built-in core keeps its name, the other is named after its package
    assert reg.find("loss", "bce") is not None and reg.find("loss", "fake_core_loss") is not None
    assert any("gc-fake-core" in w and "'gancompose'" in w for w in reg.warnings)


# ------------------------------------------------------------------------ a third-party package
THIRDPARTY = """
    import torch
    from pydantic import Field
    from torch import nn

    from gancompose import Params, hookimpl
    from gancompose.protocols import AdversarialLoss

    CALLS = {"loss": 0, "layer": 0}


    class HingeTestParams(Params):
        margin: float = Field(1.0, gt=0, description="the hinge margin")


    class HingeTest(AdversarialLoss):
        '''Hinge loss for tests: relu(m - D(x)) + relu(m + D(G(z))).'''

        def __init__(self, p):
            self.p = p

        def discriminator(self, real_out, fake_out):
            CALLS["loss"] += 1
            return torch.relu(self.p.margin - real_out).mean() + torch.relu(self.p.margin + fake_out).mean()

        def generator(self, fake_out, real_out=None):
            return -fake_out.mean()


    class ScaleParams(Params):
        factor: float = Field(description="the multiplier")


    class Scale(nn.Module):
        def __init__(self, factor):
            super().__init__()
            self.factor = factor

        def forward(self, x):
            CALLS["layer"] += 1
            return x * self.factor


    def scale(p, in_shape):
        '''Multiply by a constant factor.'''
        return Scale(p.factor)


    @hookimpl
    def register_losses(register):
        register("hinge_test", HingeTest, HingeTestParams)


    @hookimpl
    def register_layers(register):
        register("scale", scale, ScaleParams)
"""

THIRDPARTY_RECIPE = """
description = "third-party loss and layer"

[latent]
dim = 2

[networks.generator]
type = "sequential"
input = "latent"
layers = [
    { type = "linear", out_features = 16 },
    { type = "relu" },
    { type = "linear", out_features = 2 },
    { type = "scale", factor = 0.5 },
]

[networks.discriminator]
type = "mlp"
input = "data"
hidden = [16]
out_shape = [1]

[loss]
type = "hinge_test"
margin = 2.0

[optimizers.generator]
type = "adam"

[optimizers.discriminator]
type = "adam"

[schedule]
type = "alternating"

[data]
type = "gaussian_mixture"
size = 64

[train]
batch_size = 8
log_every = 1
"""


@pytest.fixture
def thirdparty(make_dist, tmp_path):
    make_dist("gc-thirdparty", {"gc_thirdparty": THIRDPARTY}, {"thirdparty": "gc_thirdparty"})
    recipe = tmp_path / "thirdparty.toml"
    recipe.write_text(THIRDPARTY_RECIPE)
    return recipe


def test_thirdparty_in_list_components(thirdparty):
    res = invoke("list-components")
    assert res.exit_code == 0, res.output
    rows = {tuple(c.strip() for c in line.strip("│ ").split("│"))[:4] for line in res.stdout.splitlines() if "│" in line}
    assert ("loss", "hinge_test", "thirdparty", "Hinge loss for tests: relu(m - D(x)) + relu(m + D(G(z))).") in rows
    assert ("layer", "scale", "thirdparty", "Multiply by a constant factor.") in rows
    assert ("loss", "bce", "objectives") in {r[:3] for r in rows}


def test_thirdparty_in_list_components_json(thirdparty):
    res = invoke("list-components", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["failures"] == []
    comps = {(c["kind"], c["name"]): c for c in data["components"]}
    hinge = comps[("loss", "hinge_test")]
    assert hinge["plugin"] == "thirdparty"
    assert hinge["params"]["properties"]["margin"]["description"] == "the hinge margin"
    assert hinge["params"]["properties"]["margin"]["default"] == 1.0
    scale = comps[("layer", "scale")]
    assert scale["plugin"] == "thirdparty"
    assert scale["params"]["required"] == ["factor"]
    # and it is part of the recipe schema
    schema = invoke("schema")
    assert schema.exit_code == 0
    assert '"hinge_test"' in schema.stdout and '"scale"' in schema.stdout


def test_thirdparty_recipe_trains(thirdparty, tmp_path):
    out = tmp_path / "runs"
    res = invoke("validate", thirdparty)
    assert res.exit_code == 0, res.output
    res = invoke("run", thirdparty, "--max-steps", 2, "--quiet", "--device", "cpu", "--output-dir", out)
    assert res.exit_code == 0, f"{res.output}\n{res.exception!r}"
    (run_dir,) = [p.parent for p in out.glob("*/*/recipe.toml")]
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 2
    assert (run_dir / "checkpoints" / "last.safetensors").exists()
    # the third-party code really ran in training
    calls = sys.modules["gc_thirdparty"].CALLS
    assert calls["loss"] >= 2 and calls["layer"] >= 2
    saved = load_recipe(run_dir / "recipe.toml")
    assert saved.loss.type == "hinge_test" and saved.loss.margin == 2.0
    assert saved.networks["generator"].layers[3].factor == 0.5


def test_thirdparty_loss_on_a_builtin_recipe(thirdparty, tmp_path):
    res = invoke("run", REPO / "recipes" / "vanilla_gan_ring.toml", "--set", 'loss.type="hinge_test"',
                 "--set", "train.batch_size=8", "--set", "data.size=64", "--max-steps", 2, "--quiet",
                 "--device", "cpu", "--output-dir", tmp_path / "runs")
    assert res.exit_code == 0, f"{res.output}\n{res.exception!r}"
    assert sys.modules["gc_thirdparty"].CALLS["loss"] >= 2


@pytest.mark.parametrize("override,key,hint", [
    ("loss.margn=2", "loss.margn", "did you mean 'margin'"),
    ("networks.generator.layers[3].factr=2", "networks.generator.layers[3].factr", "did you mean 'factor'"),
    ("loss.margin=-1", "loss.margin", "greater than 0"),
    ('loss.type="hinge_tst"', "loss.type", "did you mean 'hinge_test'"),
])
def test_thirdparty_param_errors_name_the_key(thirdparty, override, key, hint):
    res = invoke("validate", thirdparty, "--set", override)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    msg = one_line(res.output)
    assert "thirdparty.toml" in msg and key in msg and hint in msg


def test_thirdparty_missing_required_param(thirdparty, tmp_path):
    recipe = tmp_path / "noparam.toml"
    recipe.write_text(THIRDPARTY_RECIPE.replace('{ type = "scale", factor = 0.5 }', '{ type = "scale" }'))
    res = invoke("validate", recipe)
    assert res.exit_code == 2, res.output
    msg = one_line(res.output)
    assert "networks.generator.layers[3].factor" in msg and "missing" in msg


def test_thirdparty_gone_after_uninstall(make_dist):
    # the fixtures of the other tests cleaned up: a fresh registry knows nothing of the package
    assert "gc_thirdparty" not in sys.modules
    assert "hinge_test" not in build_registry().names("loss")


def test_validate_recipe_with_extra_plugin_registry():
    """A registry given explicitly (no entry points needed) validates recipes using its components."""
    class Thin:
        @hookimpl
        def register_losses(self, register):
            class P(Params):
                k: int = 3
            register("thin_loss", lambda p: None, P)

    reg = build_registry(extra_plugins={"thin": Thin()})
    raw = load_raw(REPO / "recipes" / "vanilla_gan_ring.toml")
    raw["loss"] = {"type": "thin_loss", "k": 5}
    recipe = validate_recipe(raw, registry=reg)
    assert recipe.loss.type == "thin_loss" and recipe.loss.k == 5
    with pytest.raises(gancompose.RecipeError):
        validate_recipe(raw)  # the default registry does not know it


# ----------------------------------------------------------- a plugin raising in a component's factory
class _FactoryRaises:
    @hookimpl
    def register_losses(self, register):
        def explode(params):
            """A loss whose factory fails."""
            raise ZeroDivisionError("the factory divided by zero")
        register("exploding_loss", explode, NoParams)


def test_plugin_raising_in_its_factory_is_named(tmp_path):
    registry = build_registry({"gc_exploding": _FactoryRaises()})
    raw = tiny_ring_raw(tmp_path)
    raw["loss"] = {"type": "exploding_loss"}
    recipe = validate_recipe(raw, registry=registry)
    with pytest.raises(RecipeError) as info:
        build_run(recipe, registry=registry, with_data=False)
    msg = str(info.value)
    assert msg.startswith("loss: loss 'exploding_loss' (plugin 'gc_exploding') failed while building")
    assert "ZeroDivisionError: the factory divided by zero" in msg
    # the other plugins still work
    raw["loss"] = {"type": "bce"}
    assert build_run(validate_recipe(raw, registry=registry), registry=registry, with_data=False).loss is not None
