"""Composition as a property: every architecture family trains with every registered adversarial loss, with
every discriminator regularizer, with every augmentation and (single-pair families, labelled data) with every
discriminator conditioning, in a tiny version, for two steps on the CPU.

The rows are the recipes of each family (shrunk by ``tiny_overrides``); the columns come from the registry,
so a loss or regularizer a third-party plugin registers joins the matrix by itself. Families, columns and
what each cell claims are defined once in ``docs/hooks/matrix.py``, which the generated compatibility page
lists too. A cell passes when both steps give finite losses and every trained network's weights moved. A
combination that cannot work must be refused with a RecipeError (never another exception), by the validator
before anything is built where the components declare what they need.
"""
from __future__ import annotations

import math

import pytest
import torch

from conftest import ROOT, tiny_overrides
import matrix  # docs/hooks/matrix.py (tests/conftest.py puts docs/hooks on the path)
from gancompose.builder import build_run
from gancompose.engine.loop import StepLogs, _GradSwitch, run_step
from gancompose.errors import RecipeError
from gancompose.recipe import load_raw, validate_recipe
from gancompose.recipe.load import apply_overrides
from gancompose.registry import default_registry

FAMILIES = matrix.FAMILIES
_REG = default_registry()
CELLS = matrix.cells(_REG)


def _cells(column: str) -> list[tuple[str, str]]:
    """(family, component) of every cell in one column of the matrix."""
    return [(c.family, c.name) for c in CELLS if c.column == column]


def _raw(family: str, tmp_path) -> dict:
    path = ROOT / "recipes" / FAMILIES[family][0]
    raw = load_raw(path)
    raw = apply_overrides(raw, [*tiny_overrides(raw, tmp_path), "metrics=[]", "train.batch_size=4"])
    raw.setdefault("name", path.stem)
    return raw


def _assert_declarations_took_effect(run) -> None:
    """What the recipe declares is what was built: every weighted layer of a ``spectral_norm = true`` network is
    normalized, a block's own class count is the data's, and no two terms of a phase share a log key."""
    from gancompose.builder.networks import is_normalized, weighted_layers
    for name, spec in run.recipe.networks.items():
        if spec.spectral_norm:
            layers = weighted_layers(run.networks[name])
            assert layers and all(is_normalized(m) for _, m in layers), name
        own = getattr(spec, "num_classes", None) if "num_classes" in type(spec).model_fields else None
        if own:
            assert own == run.dataset.num_classes, (name, own, run.dataset.num_classes)
    for phase in run.schedule.phases(0):
        names = [t.name for t in phase.terms]
        assert len(names) == len(set(names)), (phase.name, names)


def _train_two_steps(raw: dict):
    run = build_run(validate_recipe(raw))
    _assert_declarations_took_effect(run)
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
    return run


@pytest.mark.parametrize("family,loss", _cells("loss"))
def test_every_family_trains_with_every_loss(family, loss, tmp_path):
    _train_two_steps(matrix.with_loss(_raw(family, tmp_path), loss))


@pytest.mark.parametrize("family,reg", _cells("discriminator regularizer"))
def test_every_family_trains_with_every_discriminator_regularizer(family, reg, tmp_path):
    raw = matrix.with_d_regularizer(_raw(family, tmp_path), family, reg)
    if matrix.d_regularizer_claim(_REG, reg) == matrix.TRAINS:
        _train_two_steps(raw)
        return
    # weight clipping: trains on a critic with no spectral norm, refused on one with it (SNGAN's normalizes itself)
    from gancompose.builder.networks import is_normalized, weighted_layers
    plain = build_run(validate_recipe(_raw(family, tmp_path)))
    d = plain.networks[FAMILIES[family][1][-1]]
    if not any(is_normalized(m) for _, m in weighted_layers(d)):
        run = _train_two_steps(raw)
        # the constraint took effect: every parameter of the regularized critic is within the clip
        clip = run.regularizers[-1].clip
        assert all(p.abs().max() <= clip for p in run.networks[FAMILIES[family][1][-1]].parameters()), family
        return
    with pytest.raises(RecipeError, match="spectrally normalized") as err:
        build_run(validate_recipe(raw))
    assert "regularizers[" in str(err.value)


@pytest.mark.parametrize("family,flag", _cells("network flag"))
def test_every_family_trains_with_every_network_flag_on_its_discriminators(family, flag, tmp_path):
    """spectral_norm = true on ProGAN's and StyleGAN2's discriminators used to reach none of their layers; now
    every weighted layer of every family's discriminators is normalized (asserted by _train_two_steps)."""
    run = _train_two_steps(matrix.with_network_flag(_raw(family, tmp_path), family, flag))
    assert all(run.recipe.networks[d].spectral_norm for d in FAMILIES[family][1])


@pytest.mark.parametrize("family,reg", _cells("other term"))
def test_other_terms_train_or_are_refused_clearly(family, reg, tmp_path):
    """Terms with requirements (cycle terms need a pair, path length a style generator, the auxiliary
    classifier a class head...): either the combination trains, or it is a RecipeError."""
    try:
        _train_two_steps(matrix.with_other_term(_raw(family, tmp_path), reg))
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


from gancompose.compatibility import BUILT_NETWORK  # noqa: E402  (checked on the built network: test_declarations.py)
REQUIRING = [c for c in _REG.components.values() if c.kind == "regularizer"
             and any(cap not in BUILT_NETWORK for cap in c.requires)]


@pytest.mark.parametrize("comp", REQUIRING, ids=[c.name for c in REQUIRING])
def test_each_declared_requirement_is_refused_while_validating(comp, tmp_path):
    """On the plain MLP recipe nothing provides what these terms need: validation says so, naming the term,
    the capability and the components that would provide it, before anything is built."""
    from gancompose.compatibility import OWN_NETWORK
    raw = _raw("mlp", tmp_path)
    raw["regularizers"] = [{"type": comp.name, "network": "generator"}]
    with pytest.raises(RecipeError) as err:
        validate_recipe(raw)
    msg = str(err.value)
    if any(cap in OWN_NETWORK for cap in comp.requires):  # needs a data-taking network: refused at the network
        assert "regularizers[0].network" in msg and "takes input = 'latent'" in msg and repr(comp.name) in msg
        raw["regularizers"] = [{"type": comp.name, "network": "discriminator"}]
        if all(cap in OWN_NETWORK for cap in comp.requires):
            validate_recipe(raw)  # on the discriminator it is valid
        return
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


def test_cli_tells_which_blocks_a_head_conditioning_can_go_on():
    from click.testing import CliRunner
    from gancompose.cli import cli
    import json
    res = CliRunner().invoke(cli, ["list-components", "--compatible-with", "projection", "--kind", "block", "--json"])
    assert res.exit_code == 0, res.output
    rel = {c["name"]: c["with"] for c in json.loads(res.output)["components"]}
    for block in ("dcgan_discriminator", "progan_discriminator", "stylegan2_discriminator", "sngan_resnet_discriminator",
                  "mlp"):
        assert rel[block] == "provides what it needs (feature_head)", (block, rel[block])
    for block in ("patchgan_discriminator", "dcgan_generator"):
        assert rel[block].startswith("cannot take it: feature_head"), (block, rel[block])


@pytest.mark.parametrize("family,aug", _cells("augmentation"))
def test_every_family_trains_with_every_augmentation_or_refuses_it(family, aug, tmp_path):
    """Augmenting the discriminator(s): trains, or (2-D points, no images) refused while validating, at the
    augment key, from the declared capabilities (the data provides no ``images``)."""
    raw = matrix.with_augmentation(_raw(family, tmp_path), family, aug)
    if raw["data"]["type"] == "gaussian_mixture":
        with pytest.raises(RecipeError) as exc:
            validate_recipe(raw)
        assert exc.value.key == "networks.discriminator.augment.type"
        assert "needs images from the data" in str(exc.value) and "'gaussian_mixture'" in str(exc.value)
        return
    if family in matrix.REFUSES_AUGMENTATION:  # a paired discriminator: augmenting B alone would break the pair
        with pytest.raises(RecipeError) as exc:
            build_run(validate_recipe(raw))
        assert exc.value.key.startswith(f"networks.{FAMILIES[family][1][0]}.augment")  # (ADA: by its 6 channels)
        return
    _train_two_steps(raw)


SHAPE_CLASSES = matrix.SHAPE_CLASSES


def conditioning_raw(family: str, d_cond: str, g_cond: str, tmp_path) -> dict:
    return matrix.with_conditioning(_raw(family, tmp_path), family, d_cond, g_cond)


@pytest.mark.parametrize("family,cond", _cells("discriminator conditioning"))
def test_every_single_pair_family_trains_with_every_conditioning(family, cond, tmp_path):
    """Class-conditioning on labelled data: D by ``cond`` (projection and the auxiliary classifier read the
    block's ``features()`` and linear ``head``; concat adds label channels the block takes without being told),
    G by its own label input, conditional batch norm or concatenation, the first that fits. A built-in
    conditioning trains (finite losses, every trained network moved); a third-party one trains or is refused
    with a RecipeError (never another exception)."""
    refusals = []
    for g_cond in matrix.g_conditions(_raw(family, tmp_path), _REG):
        try:
            run = _train_two_steps(conditioning_raw(family, cond, g_cond, tmp_path / g_cond))
        except RecipeError as exc:
            refusals.append(f"{g_cond}: {exc}")
            continue
        d = run.networks["discriminator"]
        if cond == "auxiliary_classifier":  # an unconditional score and a class head
            assert not d.conditional and d.classify(run.next_batch()["image"]).shape[1] == run.num_classes
        elif cond in matrix.BUILT_IN_D_CONDITIONS:
            assert d.conditional
        return
    assert cond not in matrix.BUILT_IN_D_CONDITIONS, "\n".join(refusals)
    assert all(msg.strip() for msg in refusals)


CONDITIONERS_REQUIRING = [c for c in _REG.of_kind("conditioner") if c.requires]


@pytest.mark.parametrize("comp", CONDITIONERS_REQUIRING, ids=[c.name for c in CONDITIONERS_REQUIRING])
def test_a_conditioning_whose_network_lacks_what_it_needs_is_refused_while_validating(comp, tmp_path):
    """A conditioner's requirements come from the block of the network it conditions. PatchGAN provides none
    (it scores patches: no features and linear head for a class head to read): validation says so, naming the
    condition, the block, the capability, the blocks that provide it and the conditioners that need nothing."""
    raw = _raw("resnet_patchgan_pair", tmp_path)
    raw["networks"]["D_A"] = {**raw["networks"]["D_A"], "condition": {"type": comp.name}}
    with pytest.raises(RecipeError) as err:
        validate_recipe(raw)
    msg = str(err.value)
    assert "networks.D_A.condition.type" in msg and repr(comp.name) in msg and "patchgan_discriminator" in msg
    assert "'concat'" in msg
    for cap in comp.requires:
        assert cap in msg
        givers = [c for c in _REG.components.values() if cap in c.provides]
        assert givers and all(repr(c.name) in msg for c in givers)
    if "feature_head" in comp.requires:
        for block in ("dcgan_discriminator", "progan_discriminator", "stylegan2_discriminator"):
            assert repr(block) in msg


def test_a_second_conditioning_of_a_conditional_block_is_refused(tmp_path):
    """A StyleGAN2 discriminator with its own label projection (num_classes > 0) cannot take another one."""
    raw = conditioning_raw("stylegan2", "projection", "num_classes", tmp_path)
    raw["networks"]["discriminator"]["num_classes"] = SHAPE_CLASSES
    with pytest.raises(RecipeError, match="class-conditional already") as err:
        build_run(validate_recipe(raw))
    assert err.value.key == "networks.discriminator.condition"


def test_a_conditioned_progressive_pair_still_grows(tmp_path):
    """The conditioners' wrappers pass set_growth (and image_size) through: a concat-conditioned ProGAN generator
    and a projection critic grow with the schedule, their EMA copy too."""
    raw = conditioning_raw("progressive", "projection", "concat", tmp_path)
    raw["schedule"] = {**raw["schedule"], "stabilise_kimg": 0.002, "fade_kimg": 0.004}  # 4 px, fade, 8 px, 16 px
    run = build_run(validate_recipe(raw))
    g, d = run.networks["generator"], run.networks["discriminator"]
    assert g.conditional and d.conditional and g.image_size == 16
    logs, grads = StepLogs(), _GradSwitch(run.networks)
    seen = []
    for step in range(4):  # 4 images a step
        run_step(run, step, logs, grads)
        run.state.step += 1
        seen.append((g.net.resolution, g.net.alpha, d.body.net.resolution))
    assert [r for r, _, _ in seen] == [4, 8, 8, 16] and seen[1][1] < 1.0
    assert all(rg == rd for rg, _, rd in seen)
    assert all(math.isfinite(v) for v in logs.means().values())
    for ema in run.ema.values():
        assert ema.net.resolution == 16


def test_explain_and_list_components_show_schedule_conditioning_and_augmentation_requirements():
    """The progressive schedule needs growing networks, a projection a feature head of its own network, an
    augmentation image data: explain names who provides each, list-components says who cannot go together."""
    import json
    from click.testing import CliRunner
    from gancompose.cli import cli
    res = CliRunner(env={"COLUMNS": "300"}).invoke(
        cli, ["explain", str(ROOT / "recipes" / "progan_wgangp_projection_shapes.toml")])
    assert res.exit_code == 0, res.output
    assert "growing -> network 'generator' (block 'progan_generator'), network 'discriminator'" in res.output
    assert "feature_head -> network 'discriminator' (block 'progan_discriminator')" in res.output
    assert "data_input -> network 'discriminator' (input 'data')" in res.output  # the gradient penalty and drift
    assert "(missing)" not in res.output
    res = CliRunner().invoke(cli, ["list-components", "--compatible-with", "progressive", "--kind", "block",
                                   "--json"])
    rel = {c["name"]: c["with"] for c in json.loads(res.output)["components"]}
    assert rel["progan_generator"].startswith("provides what it needs (growing)")
    assert rel["dcgan_discriminator"].startswith("cannot be trained by it: growing must come from the blocks")
    res = CliRunner(env={"COLUMNS": "300"}).invoke(
        cli, ["explain", str(ROOT / "recipes" / "dcgan_shapes500_diffaugment.toml")])
    assert "networks.discriminator.augment" in res.output and "images -> data 'shapes'" in res.output
    res = CliRunner().invoke(cli, ["list-components", "--compatible-with", "ada", "--kind", "dataset", "--json"])
    rel = {c["name"]: c["with"] for c in json.loads(res.output)["components"]}
    assert rel["shapes"] == "provides what it needs (images)"
    assert rel["gaussian_mixture"].startswith("cannot go with it: images")
