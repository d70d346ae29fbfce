"""Composition as a property: every architecture family trains with every registered adversarial loss and
with every discriminator regularizer, in a tiny version, for two steps on the CPU.

The rows are the recipes of each family (shrunk by ``tiny_overrides``); the columns come from the registry,
so a loss or regularizer a third-party plugin registers joins the matrix by itself. A cell passes when
both steps give finite losses and every trained network's weights moved. A combination that cannot work
must be refused by the validator with a RecipeError before anything trains (never another exception).
"""
from __future__ import annotations

import math

import pytest
import torch

from conftest import ROOT, tiny_overrides
from gancompose.builder import build_run
from gancompose.engine.loop import StepLogs, _GradSwitch, run_step
from gancompose.errors import RecipeError
from gancompose.recipe import load_raw, validate_recipe
from gancompose.recipe.load import apply_overrides
from gancompose.registry import default_registry

#: family -> (recipe, the discriminators a regularizer can be attached to)
FAMILIES = {
    "mlp": ("vanilla_gan_ring.toml", ["discriminator"]),
    "dcgan": ("dcgan_shapes.toml", ["discriminator"]),
    "sngan_resnet": ("sngan_shapes.toml", ["discriminator"]),
    "resnet_patchgan_pair": ("cyclegan_shapes.toml", ["D_A", "D_B"]),
    "progressive": ("progan_shapes.toml", ["discriminator"]),
    "stylegan2": ("stylegan2_shapes.toml", ["discriminator"]),
}
#: regularizers that regularize a discriminator on real and generated images (any family)
D_REGULARIZERS = ("gradient_penalty", "r1", "r2", "drift", "weight_clipping")

_REG = default_registry()
LOSSES = _REG.names("loss")


def _raw(family: str, tmp_path) -> dict:
    path = ROOT / "recipes" / FAMILIES[family][0]
    raw = load_raw(path)
    raw = apply_overrides(raw, [*tiny_overrides(raw, tmp_path), "metrics=[]", "train.batch_size=4"])
    raw.setdefault("name", path.stem)
    return raw


def _train_two_steps(raw: dict) -> None:
    run = build_run(validate_recipe(raw))
    before = {n: [p.detach().clone() for p in run.networks[n].parameters()] for n in run.optimizers}
    logs, grads = StepLogs(), _GradSwitch(run.networks)
    run.networks.train()
    for step in range(2):
        run_step(run, step, logs, grads)
        run.state.step += 1
    values = logs.means()
    assert values and all(math.isfinite(v) for v in values.values()), values
    for name, old in before.items():
        moved = any(not torch.equal(a, b) for a, b in zip(old, run.networks[name].parameters()))
        assert moved, f"{name}'s weights did not change"


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_trains_with_every_loss(family, loss, tmp_path):
    raw = _raw(family, tmp_path)
    raw["loss"] = {"type": loss}
    _train_two_steps(raw)


@pytest.mark.parametrize("reg", D_REGULARIZERS)
@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_trains_with_every_discriminator_regularizer(family, reg, tmp_path):
    raw = _raw(family, tmp_path)
    d = FAMILIES[family][1][-1]
    keep = [r for r in raw.get("regularizers", []) if r.get("type") != reg]
    raw["regularizers"] = [*keep, {"type": reg, "network": d}]
    _train_two_steps(raw)


OTHER_REGULARIZERS = [n for n in _REG.names("regularizer") if n not in D_REGULARIZERS]


@pytest.mark.parametrize("reg", OTHER_REGULARIZERS)
@pytest.mark.parametrize("family", FAMILIES)
def test_other_terms_train_or_are_refused_clearly(family, reg, tmp_path):
    """Terms with requirements (cycle terms need a pair, path length a style generator, the auxiliary
    classifier a class head...): either the combination trains, or it is a RecipeError."""
    raw = _raw(family, tmp_path)
    gens = [n for n, s in raw["networks"].items() if n.startswith("G") or n == "generator"]
    raw["regularizers"] = [*raw.get("regularizers", []), {"type": reg, "network": gens[0]}]
    try:
        _train_two_steps(raw)
    except RecipeError as exc:
        assert str(exc).strip()


def test_lazy_phases_run_lazy_regularizers_as_their_own_optimizer_steps(tmp_path):
    raw = _raw("stylegan2", tmp_path)
    raw["schedule"]["lazy_phases"] = True
    run = build_run(validate_recipe(raw))
    phases = {ph.name: ph for ph in run.schedule.phases(0)}
    assert list(phases) == ["discriminator", "discriminator_reg", "generator", "generator_reg"]
    assert [t.name for t in phases["discriminator_reg"].terms] == ["r1"]
    assert all(t.every > 1 for ph in ("discriminator_reg", "generator_reg") for t in phases[ph].terms)
    assert not any(t.every > 1 for ph in ("discriminator", "generator") for t in phases[ph].terms)
    # on a step where no lazy term fires, the extra optimizer steps do not happen
    steps = {"d": 0}
    opt = run.optimizers["discriminator"]
    opt.register_step_post_hook(lambda *a: steps.__setitem__("d", steps["d"] + 1))
    logs, grads = StepLogs(), _GradSwitch(run.networks)
    run_step(run, 1, logs, grads)
    assert steps["d"] == 1
    run_step(run, 16, logs, grads)  # R1 fires every 16: a second discriminator step
    assert steps["d"] == 3
    assert "discriminator_reg/r1" in logs.means()


REQUIRING = [c for c in _REG.components.values() if c.kind == "regularizer" and c.requires]


@pytest.mark.parametrize("comp", REQUIRING, ids=[c.name for c in REQUIRING])
def test_each_declared_requirement_is_refused_while_validating(comp, tmp_path):
    """On the plain MLP recipe nothing provides what these terms need: validation says so, naming the term,
    the capability and the components that would provide it, before anything is built."""
    raw = _raw("mlp", tmp_path)
    raw["regularizers"] = [{"type": comp.name, "network": "generator"}]
    with pytest.raises(RecipeError) as err:
        validate_recipe(raw)
    msg = str(err.value)
    assert "regularizers[0].type" in msg and repr(comp.name) in msg
    for cap in comp.requires:
        assert cap in msg
        givers = [c for c in _REG.components.values() if cap in c.provides]
        assert givers and all(repr(c.name) in msg for c in givers)


def test_requirements_can_be_declared_at_registration():
    from gancompose import hookimpl
    from gancompose.registry import build_registry

    class Plugin:
        @hookimpl
        def register_regularizers(register):
            register("needs_magic", lambda p: None, requires=("magic",))

        @hookimpl
        def register_schedules(register):
            register("magic_schedule", lambda p, run: None, provides=("magic",))

    reg = build_registry(extra_plugins={"magic": Plugin}, entry_points=False)
    assert reg.get("regularizer", "needs_magic").requires == ("magic",)
    assert reg.get("schedule", "magic_schedule").provides == ("magic",)
    assert reg.get("regularizer", "needs_magic").to_json()["requires"] == ["magic"]


def test_cli_tells_what_combines_and_where_terms_come_from():
    from click.testing import CliRunner
    from gancompose.cli import cli
    import json
    res = CliRunner().invoke(cli, ["list-components", "--compatible-with", "cycle_consistency", "--kind", "schedule",
                                   "--json"])
    assert res.exit_code == 0, res.output
    rel = {c["name"]: c["with"] for c in json.loads(res.output)["components"]}
    assert rel["cycle"].startswith("provides what it needs (cycle_pair)")
    assert rel["alternating"].startswith("cannot go with it")
    res = CliRunner().invoke(cli, ["list-components", "--compatible-with", "nothing_like_this"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    res = CliRunner(env={"COLUMNS": "250"}).invoke(cli, ["explain", str(ROOT / "recipes" / "cyclegan_shapes.toml")])
    assert res.exit_code == 0, res.output
    assert "where each term comes from" in res.output and "cycle_pair -> schedule 'cycle'" in res.output


AUGMENTATIONS = _REG.names("augmentation")
CONDITIONS = _REG.names("conditioner")


def _discriminators(family: str) -> list[str]:
    return FAMILIES[family][1]


@pytest.mark.parametrize("aug", AUGMENTATIONS)
@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_trains_with_every_augmentation_or_refuses_it(family, aug, tmp_path):
    """Augmenting the discriminator(s): trains, or (2-D data) a RecipeError at the augment key."""
    raw = _raw(family, tmp_path)
    for d in _discriminators(family):
        raw["networks"][d] = {**raw["networks"][d], "augment": {"type": aug}}
    try:
        _train_two_steps(raw)
    except RecipeError as exc:
        assert family == "mlp" and "augment" in str(exc), str(exc)


#: how a discriminator is conditioned, and the generator conditions that go with it
D_CONDITIONS = [c for c in CONDITIONS if c != "conditional_batch_norm"]
G_CONDITIONS = ("conditional_batch_norm", "concat")


@pytest.mark.parametrize("cond", D_CONDITIONS)
@pytest.mark.parametrize("family", [f for f in FAMILIES if f != "resnet_patchgan_pair"])
def test_every_single_pair_family_trains_with_every_conditioning_or_refuses_it(family, cond, tmp_path):
    """Class-conditioning on labelled data (D by ``cond``, G by conditional batch norm or concatenation):
    trains with one of the generator conditions, or every try is a RecipeError (never another exception)."""
    refusals = []
    for g_cond in G_CONDITIONS:
        raw = _raw(family, tmp_path / g_cond)
        if family != "mlp":
            raw["data"] = {**raw["data"], "type": "shapes"}
        raw["networks"]["generator"] = {**raw["networks"]["generator"], "condition": {"type": g_cond}}
        raw["networks"]["discriminator"] = {**raw["networks"]["discriminator"], "condition": {"type": cond}}
        if cond == "auxiliary_classifier":
            raw["regularizers"] = [*raw.get("regularizers", []),
                                   {"type": "auxiliary_classifier", "network": "discriminator"}]
        try:
            _train_two_steps(raw)
            return
        except RecipeError as exc:
            refusals.append(str(exc))
    assert all(msg.strip() for msg in refusals)
