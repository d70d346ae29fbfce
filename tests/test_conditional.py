"""Class conditioning: conditioners wrap any network; labels flow to G and D; class grids and sampling."""
from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from conftest import ROOT, tiny_overrides
from gancompose.builder import build_run
from gancompose.cli import cli
from gancompose.errors import RecipeError
from gancompose.recipe import load_raw, load_recipe
from gancompose.runner import run_recipe

CGAN = ROOT / "recipes" / "cgan_digits.toml"


def _recipe(tmp_path, extra=(), path=CGAN):
    return load_recipe(path, [*tiny_overrides(load_raw(path), tmp_path), "metrics=[]", *extra])


FLAT_D = ("networks.discriminator.layers=[{type='flatten'}, {type='linear', out_features=64}, {type='leaky_relu'}, "
          "{type='linear', out_features=1}]")


def _label_sensitivity(net, x):
    net.eval()
    with torch.no_grad():
        return (net(x, torch.zeros(len(x), dtype=torch.long)) - net(x, torch.ones(len(x), dtype=torch.long))).abs().max()


def test_cgan_shapes_and_label_paths(tmp_path):
    run = build_run(_recipe(tmp_path))
    g, d = run.networks["generator"], run.networks["discriminator"]
    assert g.conditional and d.conditional
    z, y = torch.randn(3, 100), torch.tensor([0, 5, 9])
    fake = g(z, y)
    assert fake.shape == (3, 1, 28, 28) and d(fake, y).shape == (3, 1)
    # the seed tutorial's parameter counts: G 110-256-512-1024-784 and D 794-1024-512-256-1 plus 10x10 embeddings
    assert run.reports["generator"].params == 1_489_012
    assert run.reports["discriminator"].params == 1_470_565
    # neither network ignores the label at initialisation
    assert _label_sensitivity(g, z) > 1e-4
    assert _label_sensitivity(d, fake) > 1e-4


@pytest.mark.parametrize("condition", ["{type='projection'}", "{type='projection', spectral_norm=false}"])
def test_projection_discriminator_uses_the_label(tmp_path, condition):
    run = build_run(_recipe(tmp_path, [f"networks.discriminator.condition={condition}", FLAT_D]))
    d = run.networks["discriminator"]
    x = torch.randn(4, 1, 28, 28)
    assert d(x, torch.zeros(4, dtype=torch.long)).shape == (4,)
    assert _label_sensitivity(d, x) > 0


def test_conditional_batch_norm_on_any_generator(tmp_path):
    path = ROOT / "recipes" / "dcgan_shapes.toml"
    recipe = load_recipe(path, [*tiny_overrides(load_raw(path), tmp_path),
                                "networks.generator.condition={type='conditional_batch_norm'}"])
    run = build_run(recipe)
    g = run.networks["generator"]
    plain = build_run(load_recipe(path, tiny_overrides(load_raw(path), tmp_path))).networks["generator"]
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    assert g.conditional and n_bn == 2 and len(g.cbn) == n_bn  # every BatchNorm of the 16 px DCGAN generator
    assert not any(type(m) is torch.nn.BatchNorm2d and m.affine for m in g.modules())
    with torch.no_grad():  # make the per-class scales differ, as training would
        for m in g.cbn:
            m.gamma.weight[1].mul_(2)
    assert _label_sensitivity(g, torch.randn(4, 100)) > 1e-3
    run_recipe(recipe, max_steps=2, progress=False)  # trains with an unconditional D


def test_label_count_must_match_the_data(tmp_path):
    with pytest.raises(RecipeError) as e:
        build_run(_recipe(tmp_path, ["networks.generator.condition={type='concat', num_classes=12}"]))
    assert e.value.key == "networks.generator.condition.num_classes"
    assert "expected 10" in str(e.value) and str(CGAN) in str(e.value)


def test_unlabelled_data_cannot_condition(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(8):
        Image.new("L", (28, 28), color=i * 30).save(folder / f"{i}.png")
    with pytest.raises(RecipeError, match="no labels") as e:
        build_run(_recipe(tmp_path, [f"data={{type='image_folder', root='{folder}', image_size=28, channels=1}}"]))
    # both conditioned networks are named in one pass (not the generator alone, then the discriminator)
    assert {p.key for p in e.value.problems} == {"networks.generator.condition", "networks.discriminator.condition"}


def test_conditional_d_needs_conditional_g(tmp_path):
    from gancompose.recipe import apply_overrides, validate_recipe
    raw = apply_overrides(load_raw(CGAN), [*tiny_overrides(load_raw(CGAN), tmp_path), "metrics=[]"])
    del raw["networks"]["generator"]["condition"]
    with pytest.raises(RecipeError, match="fakes would have no labels") as e:
        build_run(validate_recipe(raw))
    assert e.value.key == "schedule.discriminator"


def test_projection_needs_a_linear_head(tmp_path):
    """Refused while validating when the network's type declares no feature_head (a sequential network ending in
    a conv, a PatchGAN); refused while building when the block declares one but these parameters give none."""
    path = ROOT / "recipes" / "dcgan_shapes.toml"
    base = [*tiny_overrides(load_raw(path), tmp_path), "networks.generator.condition={type='conditional_batch_norm'}",
            "networks.discriminator.condition={type='projection'}"]
    conv_d = ("networks.discriminator={type='sequential', input='data', layers=[{type='conv2d', out_channels=8, "
              "kernel_size=4, stride=2, padding=1}, {type='leaky_relu'}, {type='conv2d', out_channels=1, kernel_size=8, "
              "padding=0}], condition={type='projection'}}")
    patch_d = ("networks.discriminator={type='patchgan_discriminator', input='data', ndf=8, n_layers=2, "
               "condition={type='projection'}}")
    for net, what in ((conv_d, "layer 'conv2d'"), (patch_d, "block 'patchgan_discriminator'")):
        with pytest.raises(RecipeError, match="feature_head") as e:
            load_recipe(path, [*base, net])
        assert e.value.key == "networks.discriminator.condition.type"
        msg = str(e.value)
        assert "'projection'" in msg and what in msg and "dcgan_discriminator" in msg and "'concat'" in msg
    # the mlp block declares a head, but out_shape [2] ends in a linear layer with two outputs
    mlp_d = "networks.discriminator={type='mlp', input='data', hidden=[16], out_shape=[2], condition={type='projection'}}"
    with pytest.raises(RecipeError, match="final linear layer with one output") as e:
        build_run(load_recipe(path, [*base, mlp_d]))
    assert e.value.key == "networks.discriminator.condition"


def test_reused_fakes_keep_their_labels(tmp_path):
    run = build_run(_recipe(tmp_path, ["schedule.reuse_fake=true"]))
    seen = []
    d = run.networks["discriminator"]
    d.register_forward_pre_hook(lambda m, args: seen.append(args[1].clone()))
    from gancompose.engine import train
    train(run, until=1)
    # D(real, y_real), D(fake, y_fake) in the D phase; D(fake, y_fake) again in the G phase
    assert len(seen) == 3 and torch.equal(seen[1], seen[2])


def test_ac_gan_trains_its_class_head(tmp_path):
    recipe = _recipe(tmp_path, [
        "networks.discriminator.condition={type='auxiliary_classifier'}", FLAT_D,
        "regularizers=[{type='auxiliary_classifier', network='discriminator'}, "
        "{type='auxiliary_classifier', network='generator'}]"])
    result = run_recipe(recipe, max_steps=3, progress=False)
    d = result.run.networks["discriminator"]
    assert not d.conditional and d.classify(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    import json
    last = json.loads((result.run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert "discriminator/auxiliary_classifier" in last and "generator/auxiliary_classifier" in last


def test_class_grid_and_sampling(tmp_path):
    result = run_recipe(_recipe(tmp_path, ["train.samples=20"]), max_steps=2, progress=False)
    grid = Image.open(next((result.run_dir / "samples").glob("*.png")))
    assert grid.size == (2 + 2 * 30, 2 + 10 * 30)  # one row per class, 2 samples each, 28 px + 2 padding
    ckpt = str(result.run_dir / "checkpoints" / "last.safetensors")
    runner = CliRunner()
    out = tmp_path / "three.png"
    res = runner.invoke(cli, ["sample", ckpt, "--class", "3", "-n", "4", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert Image.open(out).size == (2 + 2 * 30, 2 + 2 * 30)
    res = runner.invoke(cli, ["sample", ckpt, "--per-class", "3", "-o", str(tmp_path / "rows.png")])
    assert res.exit_code == 0 and Image.open(tmp_path / "rows.png").size == (2 + 3 * 30, 2 + 10 * 30)
    res = runner.invoke(cli, ["sample", ckpt, "--class", "10"])
    assert res.exit_code == 2 and "out of range" in res.output


def test_class_accuracy_metric_separates_conditioned_from_ignored_labels(tmp_path):
    from gancompose_conditional.metrics import ClassAccuracy, ClassAccuracyParams

    from gancompose.protocols import TakesLabels

    class Oracle(TakesLabels, torch.nn.Module):
        """A 'generator' that returns a real digit of the asked class, or of class 0 whatever is asked."""

        def __init__(self, ds, honest):
            super().__init__()
            self.ds, self.honest = ds, honest
            self.first = {int(ds.get_batch([i])["label"]): i for i in range(200)}

        def forward(self, z, y):
            idx = [self.first[int(k) if self.honest else 0] for k in y]
            return self.ds.get_batch(idx)["image"]

    run = build_run(_recipe(tmp_path, ["data.size=2000"]))
    metric = ClassAccuracy(ClassAccuracyParams(per_class=5, classifier_steps=150))
    run.networks["generator"] = Oracle(run.dataset, honest=True)
    assert metric(run)["accuracy"] >= 0.9
    run.networks["generator"] = Oracle(run.dataset, honest=False)
    assert metric(run)["accuracy"] <= 0.2


def test_sngan_projection_recipe_is_conditional_on_both_sides(tmp_path):
    path = ROOT / "recipes" / "sngan_projection_shapes.toml"
    run = build_run(load_recipe(path, tiny_overrides(load_raw(path), tmp_path)))
    g, d = run.networks["generator"], run.networks["discriminator"]
    assert g.conditional and d.conditional and len(g.cbn) > 0
    x = torch.randn(3, 3, 16, 16)
    assert d(x, torch.tensor([0, 1, 2])).shape == (3,)
    assert _label_sensitivity(d, x) > 0  # the projection term depends on the class
    emb = d.embed.parametrizations.weight.original  # spectrally normalized class embedding
    assert emb.shape == (run.num_classes, d.head.in_features)


@pytest.mark.parametrize("reg", ["gradient_penalty", "r1", "r2", "drift"])
def test_penalties_score_a_conditional_critic_with_labels(tmp_path, reg):
    recipe = _recipe(tmp_path, [f"regularizers=[{{type='{reg}', network='discriminator'}}]", "loss={type='wasserstein'}"])
    result = run_recipe(recipe, max_steps=2, progress=False)
    import json, math
    last = json.loads((result.run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert math.isfinite(last[f"discriminator/{reg}"])
