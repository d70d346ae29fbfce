"""Tests of gancompose-relativistic: values against closed forms, shapes, parameter counts, and a short
training run of the package's recipe. Run with ``pytest`` in the package folder after ``pip install .``
(or from a source checkout: the plugin is then registered by hand)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

import gancompose_relativistic
from gancompose.registry import build_registry, default_registry
from gancompose_relativistic.layers import (MinibatchDiscrimination, MinibatchDiscriminationParams, MinibatchMLPParams,
                                            minibatch_discrimination, minibatch_mlp)
from gancompose_relativistic.losses import RelativisticLoss, RelativisticParams
from gancompose_relativistic.spiral import SpiralDataset, SpiralParams, curve_fit

RECIPE = Path(gancompose_relativistic.__file__).parent / "recipes" / "rasgan_spiral.toml"
FORMS = ("standard", "least_squares", "hinge")


@pytest.fixture(scope="module")
def registry():
    reg = build_registry()
    if ("loss", "relativistic") not in reg.components:  # a source checkout that is not installed
        reg = build_registry({"relativistic": gancompose_relativistic})
    return reg


# ------------------------------------------------------------------------------------------------ loss
def test_discriminator_loss_matches_the_paper_formulas():
    r, f = torch.tensor([[1.0], [3.0]]), torch.tensor([[-1.0], [0.0]])  # mean real 2, mean fake -0.5
    dr, df = r + 0.5, f - 2.0                                           # [1.5, 3.5], [-3, -2]
    sp = torch.nn.functional.softplus
    expected = {
        "standard": (sp(-dr).mean() + sp(df).mean()) / 2,
        "least_squares": ((dr - 1).square().mean() + (df + 1).square().mean()) / 2,
        "hinge": (torch.relu(1 - dr).mean() + torch.relu(1 + df).mean()) / 2,
    }
    for form in FORMS:
        loss = RelativisticLoss(RelativisticParams(form=form))
        assert torch.allclose(loss.discriminator(r, f), expected[form]), form
    # hinge by hand: every relative output is past the margin, so nothing is left to learn
    assert RelativisticLoss(RelativisticParams(form="hinge")).discriminator(r, f).item() == 0.0


@pytest.mark.parametrize("form", FORMS)
def test_generator_loss_is_the_discriminator_loss_with_real_and_fake_swapped(form):
    g = torch.Generator().manual_seed(0)
    r, f = torch.randn(8, 1, generator=g), torch.randn(8, 1, generator=g)
    loss = RelativisticLoss(RelativisticParams(form=form))
    assert torch.allclose(loss.generator(f, r), loss.discriminator(f, r))


def test_undecided_discriminator_gives_log2_and_generator_pushes_fakes_up():
    loss = RelativisticLoss(RelativisticParams())
    same = torch.full((4, 1), 0.7)
    assert loss.discriminator(same, same).item() == pytest.approx(math.log(2))
    fake = torch.zeros(4, 1, requires_grad=True)
    loss.generator(fake, torch.ones(4, 1)).backward()
    assert (fake.grad < 0).all()  # lowering the loss raises D(fake) relative to D(real)


def test_pairwise_form_and_its_validation():
    loss = RelativisticLoss(RelativisticParams(average=False))
    r, f = torch.tensor([[2.0], [0.0]]), torch.tensor([[1.0], [1.0]])
    expected = torch.nn.functional.softplus(-(r - f)).mean()
    assert torch.allclose(loss.discriminator(r, f), expected)
    with pytest.raises(ValidationError):
        RelativisticParams(form="hinge", average=False)
    with pytest.raises(ValueError, match="needs the discriminator's output on real data"):
        loss.generator(f, None)
    assert RelativisticLoss.needs_real_for_generator is True


# ----------------------------------------------------------------------------------------------- layers
def test_minibatch_discrimination_closed_forms():
    layer = minibatch_discrimination(MinibatchDiscriminationParams(num_kernels=7, kernel_dim=3), (4, 2))
    assert sum(p.numel() for p in layer.parameters()) == 8 * 7 * 3
    same = torch.ones(5, 4, 2)
    out = layer(same)
    assert out.shape == (5, 8 + 7)
    assert torch.equal(out[:, :8], same.reshape(5, 8))          # the features pass through
    assert torch.allclose(out[:, 8:], torch.full((5, 7), 5.0))  # identical samples: sum of exp(0) over 5
    far = MinibatchDiscrimination(1, 3, 2, exclude_self=True)
    with torch.no_grad():
        far.T.fill_(100.0)
    assert torch.allclose(far(torch.tensor([[0.0], [1.0], [2.0]]))[:, 1:], torch.zeros(3, 3), atol=1e-6)


def test_minibatch_discrimination_sees_collapse_and_trains():
    layer = MinibatchDiscrimination(2, 4, 3)
    collapsed = layer(torch.zeros(16, 2))[:, 2:]
    spread = layer(torch.randn(16, 2, generator=torch.Generator().manual_seed(0)) * 5)[:, 2:]
    assert (collapsed.mean() > spread.mean() + 1.0)
    spread.sum().backward()
    assert layer.T.grad is not None and layer.T.grad.abs().sum() > 0


def test_minibatch_mlp_shape_and_parameters():
    net = minibatch_mlp(MinibatchMLPParams(hidden=[16, 8], num_kernels=6, kernel_dim=2), (2,))
    assert net(torch.randn(10, 2)).shape == (10, 1)
    expected = (2 * 16 + 16) + (16 * 8 + 8) + 8 * 6 * 2 + (8 + 6 + 1)
    assert sum(p.numel() for p in net.parameters()) == expected


# ---------------------------------------------------------------------------------------------- dataset
def test_spiral_points_lie_on_the_curve():
    ds = SpiralDataset(SpiralParams(arms=3, noise=0.0, size=500))
    assert ds.sample_shape == (2,) and ds.num_classes == 3 and len(ds) == 500
    batch = ds.get_batch([0, 1, 2])
    assert batch["image"].shape == (3, 2) and set(ds.labels.tolist()) == {0, 1, 2}
    radius = ds.data.norm(dim=1)
    assert radius.min() >= 0.2 - 1e-5 and radius.max() <= 2.0 + 1e-5
    fit = curve_fit(ds.data, ds.curve(4000), tolerance=0.02, segments=10)
    assert fit["distance"] < 2e-3 and fit["precision"] == 1.0 and fit["coverage"] == 1.0
    # all points in one place: precise only there, covering one segment of 30
    one = curve_fit(ds.data[:1].repeat(100, 1), ds.curve(4000), tolerance=0.02, segments=10)
    assert one["precision"] == 1.0 and one["coverage"] == pytest.approx(1 / 30)
    noisy = SpiralDataset(SpiralParams(noise=0.05, size=2000))
    assert curve_fit(noisy.data, noisy.curve(), 0.1, 20)["distance"] == pytest.approx(0.05 * math.sqrt(2 / math.pi),
                                                                                    rel=0.25)


def test_spiral_rejects_inverted_radii(registry):
    from gancompose import RecipeError
    with pytest.raises(RecipeError, match="r_max"):
        SpiralDataset(SpiralParams(r_min=2.0, r_max=1.0))


def test_a_minibatch_discriminator_learns_to_tell_the_spiral_from_a_blob():
    torch.manual_seed(0)
    real = SpiralDataset(SpiralParams(size=256)).data
    fake = torch.randn(256, 2) * 0.3
    net = minibatch_mlp(MinibatchMLPParams(hidden=[32, 32], num_kernels=8), (2,))
    loss = RelativisticLoss(RelativisticParams())
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    first = None
    for _ in range(60):
        value = loss.discriminator(net(real), net(fake))
        first = value.item() if first is None else first
        opt.zero_grad()
        value.backward()
        opt.step()
    assert value.item() < min(0.2, first / 2)  # log 2 is an undecided discriminator's loss


# -------------------------------------------------------------------------------------- the whole thing
def test_registered_components(registry):
    found = {(c.kind, c.name) for c in registry if c.plugin == "relativistic"}
    assert found == {("loss", "relativistic"), ("layer", "minibatch_discrimination"), ("block", "minibatch_mlp"),
                     ("dataset", "spiral"), ("metric", "spiral_fit")}


def test_recipe_trains(registry, tmp_path):
    if registry is not default_registry() and ("loss", "relativistic") not in default_registry().components:
        pytest.skip("training goes through the installed plugins: pip install -e . first")
    from gancompose.recipe import load_recipe
    from gancompose.runner import run_recipe
    recipe = load_recipe(RECIPE, [f'train.output_dir="{tmp_path.as_posix()}"', "train.steps=30", "train.batch_size=32",
                                  "train.log_every=10", "train.sample_every=0", "train.checkpoint_every=0",
                                  "train.samples=64", 'train.device="cpu"', "metrics[0].samples=256",
                                  "metrics[0].every=30"], registry=registry)
    assert recipe.requires == ["gancompose-relativistic"]
    result = run_recipe(recipe, progress=False)
    lines = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = [line["discriminator/adversarial"] for line in lines if "discriminator/adversarial" in line]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    fit = next(line for line in lines if "spiral_fit/distance" in line)
    assert 0 <= fit["spiral_fit/precision"] <= 1 and fit["spiral_fit/distance"] > 0
