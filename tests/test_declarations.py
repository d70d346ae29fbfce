"""A declaration does what it says, or the recipe is refused before anything trains (issue 21).

Each test here failed on the code before the fix: a network flag that reached no layer, a class count nobody
compared, a latent-only generator fed images, clipping a normalized critic, terms sharing a log key, and a
recipe whose second problem showed up only after the first was fixed.
"""
from __future__ import annotations

import math

import pytest
import torch
from click.testing import CliRunner

from conftest import ROOT, tiny_overrides
from gancompose.builder import build_run
from gancompose.builder.networks import is_normalized, weighted_layers
from gancompose.cli import cli
from gancompose.engine.loop import StepLogs, _GradSwitch, run_step
from gancompose.errors import RecipeError
from gancompose.recipe import load_raw, validate_recipe
from gancompose.recipe.load import apply_overrides


def _raw(recipe: str, tmp_path, *overrides: str) -> dict:
    path = ROOT / "recipes" / recipe
    raw = load_raw(path)
    raw = apply_overrides(raw, [*tiny_overrides(raw, tmp_path), "metrics=[]", *overrides])
    raw.setdefault("name", path.stem)
    return raw


def build_component(recipe: str, tmp_path, *overrides: str):
    return build_run(validate_recipe(_raw(recipe, tmp_path, *overrides)))


# ------------------------------------------------------------------------------------ 1. spectral norm
@pytest.mark.parametrize("recipe", ["progan_shapes.toml", "stylegan2_shapes.toml"])
def test_spectral_norm_reaches_every_equalized_layer_of_a_discriminator(recipe, tmp_path):
    """ProGAN's and StyleGAN2's layers are equalized-LR layers, not nn.Conv2d: before, 0 of 13 were normalized."""
    run = build_component(recipe, tmp_path, "networks.discriminator.spectral_norm=true")
    d = run.networks["discriminator"]
    layers = weighted_layers(d)
    assert len(layers) >= 5 and all(is_normalized(m) for _, m in layers)
    state = d.state_dict()
    assert any(k.endswith("parametrizations.weight.0._u") for k in state)  # checkpointed like any SN layer
    # the effective weight (gain x stored weight) has spectral norm 1 once the power iteration has converged
    d.train()
    x = torch.randn(4, *run.dataset.sample_shape)
    for _ in range(40):
        d(x)
    for _, m in layers:
        effective = (m.weight * m.weight_gain).detach().flatten(1)
        assert torch.linalg.matrix_norm(effective, ord=2).item() == pytest.approx(1.0, abs=0.05)


def test_spectral_norm_without_the_flag_leaves_equalized_layers_alone(tmp_path):
    run = build_component("progan_shapes.toml", tmp_path)
    assert not any(is_normalized(m) for _, m in weighted_layers(run.networks["discriminator"]))
    gains = {m.weight_gain for _, m in weighted_layers(run.networks["discriminator"])}
    assert gains != {1.0}  # equalized learning rate as before


@pytest.mark.parametrize("d_condition", ["concat", "auxiliary_classifier"])
def test_spectral_norm_reaches_the_layers_a_condition_adds(d_condition, tmp_path):
    """The label embedding of concat and the class head of an auxiliary classifier are layers of the network too:
    applied before the conditioner wrapped the network, the flag used to leave them unnormalized."""
    run = build_component("dcgan_shapes.toml", tmp_path, "networks.discriminator.spectral_norm=true",
                 "networks.discriminator.batch_norm=false", f"networks.discriminator.condition={{type='{d_condition}'}}",
                 "networks.generator.condition={type='concat'}",
                 *(["regularizers=[{type='auxiliary_classifier', network='discriminator'}]"]
                   if d_condition == "auxiliary_classifier" else []))
    layers = weighted_layers(run.networks["discriminator"])
    added = [p for p, _ in layers if p.startswith(("embed", "classifier"))]
    assert added and all(is_normalized(m) for _, m in layers), [p for p, m in layers if not is_normalized(m)]


def test_spectral_norm_leaves_conditional_batch_norm_gains_alone(tmp_path):
    """Per-class gains and shifts are a normalization layer's affine tables (gancompose.nn.NormalizationLayer):
    normalizing gains initialized to 1 would shrink them all. The convolutions are normalized."""
    run = build_component("dcgan_shapes.toml", tmp_path, "networks.generator.spectral_norm=true",
                 "networks.generator.condition={type='conditional_batch_norm'}",
                 "networks.discriminator.condition={type='projection'}")
    g = run.networks["generator"]
    layers = weighted_layers(g)
    assert layers and all(is_normalized(m) for _, m in layers)
    gains = [m for n, m in g.named_modules() if n.endswith(".gamma")]
    assert gains and not any(is_normalized(m) for m in gains)
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) for m in gains)


def test_a_condition_that_says_no_spectral_norm_on_a_normalized_network_is_refused(tmp_path):
    with pytest.raises(RecipeError) as err:
        build_component("sngan_projection_shapes.toml", tmp_path, "networks.discriminator.spectral_norm=true",
               "networks.discriminator.condition={type='projection', spectral_norm=false}")
    assert "networks.discriminator.condition.spectral_norm" in str(err.value)


def test_spectral_norm_that_cannot_reach_every_layer_is_refused(tmp_path):
    """The StyleGAN2 generator's modulated convolutions have no weight to normalize as declared."""
    with pytest.raises(RecipeError) as err:
        build_component("stylegan2_shapes.toml", tmp_path, "networks.generator.spectral_norm=true")
    msg = str(err.value)
    assert "networks.generator.spectral_norm" in msg and "SynthesisLayer" in msg and "stylegan2_generator" in msg


def test_explain_shows_per_layer_whether_it_is_normalized(tmp_path):
    res = CliRunner().invoke(cli, ["explain", str(ROOT / "recipes" / "progan_shapes.toml"), "--set",
                                   "networks.discriminator.spectral_norm=true"], terminal_width=200)
    assert res.exit_code == 0, res.output
    disc = res.output[res.output.index("network 'discriminator'"):]
    assert "spectral norm" in disc
    rows = [line for line in disc.splitlines() if "EqualizedConv2d" in line or "EqualizedLinear" in line]
    assert rows and all("yes" in line for line in rows)
    gen = res.output[res.output.index("network 'generator'"):res.output.index("network 'discriminator'")]
    assert not any("yes" in line for line in gen.splitlines() if "Equalized" in line)


def test_an_initializer_that_reaches_no_equalized_layer_is_refused(tmp_path):
    """init = {type = "normal"} on ProGAN's discriminator used to change none of its 13 weighted layers."""
    with pytest.raises(RecipeError) as err:
        build_component("progan_shapes.toml", tmp_path, "networks.discriminator.init={type='normal'}")
    msg = str(err.value)
    assert "networks.discriminator.init" in msg and "EqualizedConv2d" in msg
    import re
    assert re.search(r"(\d+) of the \1 weighted layers", msg), msg  # none of them
    run = build_component("dcgan_shapes.toml", tmp_path, "networks.discriminator.init={type='fan'}")  # reaches every layer
    assert run.recipe.networks["discriminator"].init.type == "fan"


# ------------------------------------------------------------------------------------ 2. class counts
def test_a_block_class_count_other_than_the_data_is_refused_with_both_numbers(tmp_path):
    for n in (10, 3):
        with pytest.raises(RecipeError) as err:
            build_component("stylegan2_shapes.toml", tmp_path, f"networks.generator.num_classes={n}")
        msg = str(err.value)
        assert "networks.generator.num_classes" in msg and f"got {n}" in msg and "6 classes" in msg


def test_a_block_class_count_on_unlabelled_data_is_refused(tmp_path):
    raw = _raw("stylegan2_shapes.toml", tmp_path, "networks.generator.num_classes=6",
               f"data={{type='image_folder', root='{(tmp_path / 'nowhere').as_posix()}', image_size=16}}")
    with pytest.raises(RecipeError, match="no labels"):
        build_run(validate_recipe(raw), with_data=False, stand_in=True)


def test_the_data_class_count_trains(tmp_path):
    run = build_component("stylegan2_shapes.toml", tmp_path, "networks.generator.num_classes=6")
    assert run.dataset.num_classes == 6


# -------------------------------------------------------------------------- 3. latent-only generators
@pytest.mark.parametrize("block,extra", [("dcgan_generator", "image_size=16"),
                                         ("stylegan2_generator", "image_size=16, channel_base=256")])
def test_a_latent_only_block_in_an_image_to_image_slot_is_refused(block, extra, tmp_path):
    with pytest.raises(RecipeError) as err:
        validate_recipe(_raw("cyclegan_shapes.toml", tmp_path,
                             f"networks.G_AB={{type='{block}', input='data', {extra}}}"))
    msg = str(err.value)
    assert "networks.G_AB.type" in msg and "resnet_generator" in msg and "latent" in msg


def test_an_image_taking_block_fed_latents_is_refused(tmp_path):
    with pytest.raises(RecipeError) as err:
        validate_recipe(_raw("dcgan_shapes.toml", tmp_path,
                             "networks.generator={type='resnet_generator', input='latent'}"))
    assert "networks.generator.input" in str(err.value) and "dcgan_generator" in str(err.value)


# ---------------------------------------------------------------------------------- 4. clipping and SN
def test_weight_clipping_on_a_spectrally_normalized_critic_is_refused(tmp_path):
    with pytest.raises(RecipeError) as err:
        build_component("wgan_shapes.toml", tmp_path, "networks.discriminator.spectral_norm=true")
    msg = str(err.value)
    assert "regularizers[0].type" in msg and "constrain nothing" in msg
    build_component("wgan_shapes.toml", tmp_path)  # the WGAN critic as it is still builds


def test_validate_refuses_clipping_a_normalized_critic_in_the_cli():
    res = CliRunner().invoke(cli, ["validate", str(ROOT / "recipes" / "wgan_shapes.toml"), "--set",
                                   "networks.discriminator.spectral_norm=true"])
    assert res.exit_code == 2 and "Traceback" not in res.output and "weight_clipping" in res.output


# ------------------------------------------------------------------------------------ 7. log keys
def _steps(run, n=2) -> dict:
    logs, grads = StepLogs(), _GradSwitch(run.networks)
    run.networks.train()
    for step in range(n):
        run_step(run, step, logs, grads)
    return logs.means()


def test_a_plugin_term_without_a_name_logs_under_its_registered_name(tmp_path):
    from gancompose import hookimpl
    from gancompose.engine import RegularizerParams, RegularizerTerm
    from gancompose.registry import build_registry

    class FakeMean(RegularizerTerm):  # no ``name``: the base used to log it as "regularizer"
        def __call__(self, ctx):
            return ctx.discriminate(ctx.fake.detach(), None).mean().square()

    class RealMean(RegularizerTerm):
        def __call__(self, ctx):
            return ctx.discriminate(ctx.real, None).mean().square()

    class Plugin:
        @hookimpl
        def register_regularizers(register):
            register("fake_mean", FakeMean, RegularizerParams)
            register("real_mean", RealMean, RegularizerParams)

    reg = build_registry({"test_terms": Plugin})
    raw = _raw("vanilla_gan_ring.toml", tmp_path, "regularizers=[{type='fake_mean'}, {type='real_mean', "
                                                  "weight=0.5}, {type='real_mean', weight=2.0}]")
    run = build_run(validate_recipe(raw, registry=reg), registry=reg)
    logged = _steps(run)
    for key in ("discriminator/fake_mean", "discriminator/real_mean_1", "discriminator/real_mean_2"):
        assert key in logged and math.isfinite(logged[key])
    assert "discriminator/regularizer" not in logged
    # the two real_mean terms differ by their weights (x4), so they were not merged into one mean
    assert logged["discriminator/real_mean_2"] == pytest.approx(4 * logged["discriminator/real_mean_1"], rel=1e-5)


# ---------------------------------------------------------------------------- 9. every problem at once
def test_every_network_problem_is_reported_in_one_pass(tmp_path):
    """Generator and discriminator both 64 px on 32 px data: both are named, not the generator alone."""
    raw = load_raw(ROOT / "recipes" / "dcgan_shapes.toml")
    raw = apply_overrides(raw, ["data.image_size=32", "data.size=64"])
    raw.setdefault("name", "dcgan_shapes")
    with pytest.raises(RecipeError) as err:
        build_run(validate_recipe(raw), with_data=False)
    keys = {p.key for p in err.value.problems}
    assert keys == {"networks.generator", "networks.discriminator"}, str(err.value)


# ---------------------------------------------------------------------------- 8. no data on disk yet
@pytest.mark.parametrize("recipe", sorted(p.name for p in (ROOT / "recipes").glob("*.toml")))
def test_validate_works_for_every_recipe_with_no_data(recipe, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a folder with no data/: real-data recipes build on their declared shapes
    res = CliRunner().invoke(cli, ["validate", str(ROOT / "recipes" / recipe)])
    assert res.exit_code == 0, res.output
    assert "ok:" in res.output


def test_explain_monet2photo_with_no_data_shows_the_official_counts_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["explain", str(ROOT / "recipes" / "cyclegan_monet2photo.toml")],
                             terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "11,378,179" in res.output and "2,764,737" in res.output
    assert "not there yet" in res.output and "gancompose data download monet2photo" in res.output
    assert "1,257,400 steps" in res.output  # 200 epochs of the published 6,287 photos at batch 1
    assert not (tmp_path / "data").exists()


def test_run_still_refuses_missing_data_clearly(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["run", str(ROOT / "recipes" / "stylegan2_cifar10.toml"), "--max-steps", "1"])
    assert res.exit_code == 2 and "gancompose data download cifar10" in res.output
    assert "Traceback" not in res.output


def test_a_dataset_without_a_declared_shape_still_needs_its_data(tmp_path):
    """Labels from subfolders: the class count is unknown until the folders are there, so validate says so."""
    raw = _raw("dcgan_shapes.toml", tmp_path, f"data={{type='image_folder', root='{(tmp_path / 'x').as_posix()}', "
                                              "image_size=16, labels='subfolders'}")
    with pytest.raises(Exception, match="does not exist"):
        build_run(validate_recipe(raw), with_data=False, stand_in=True)


def test_an_image_folder_class_count_other_than_its_subfolders_is_refused(tmp_path):
    """data.num_classes declares the count before the folder is there; once it is, it must be the subfolders'."""
    from PIL import Image
    from gancompose.errors import DataError
    from gancompose_data.image_folder import ImageFolderDataset, ImageFolderParams
    for cls in ("cats", "dogs"):
        (tmp_path / "d" / cls).mkdir(parents=True)
        Image.new("RGB", (20, 20)).save(tmp_path / "d" / cls / "a.png")
    root = str(tmp_path / "d")
    assert ImageFolderDataset(ImageFolderParams(root=root, labels="subfolders", num_classes=2)).num_classes == 2
    with pytest.raises(DataError, match="expected 3 classes .* found 2 subfolders"):
        ImageFolderDataset(ImageFolderParams(root=root, labels="subfolders", num_classes=3))
