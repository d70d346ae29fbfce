"""DiffAugment and ADA (issue 13): policies, gradients, the adaptation of p, checkpoints and resume."""
from __future__ import annotations

import pytest
import torch

from conftest import ROOT, tiny_overrides
from gancompose.builder import build_run
from gancompose.engine.augment import augmentation_of
from gancompose.checkpoint import Checkpoint
from gancompose.errors import RecipeError
from gancompose.recipe import load_raw, load_recipe
from gancompose.runner import run_recipe
from gancompose_augment.ada import ADA, ADAParams
from gancompose_augment.diffaugment import DiffAugment, DiffAugmentParams, brightness, cutout, translation


def _images(b=6, c=3, s=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, c, s, s, generator=g) * 2 - 1


def test_brightness_adds_one_constant_per_image_within_half():
    x = _images()
    d = brightness(x) - x
    per_image = d.flatten(1)
    assert torch.allclose(per_image, per_image[:, :1].expand_as(per_image), atol=1e-6)
    assert per_image.abs().max() <= 0.5


def test_translation_shifts_by_at_most_an_eighth_with_zero_fill():
    x = _images(s=16) + 3.0  # all values > 0, so zeros can only come from the fill
    out = translation(x)
    assert out.shape == x.shape
    for i in range(x.shape[0]):
        found = False
        for dy in range(-2, 3):
            for dx in range(-2, 3):  # 16 // 8 = 2
                shifted = torch.zeros_like(x[i])
                ys, yd = (slice(dy, 16), slice(0, 16 - dy)) if dy >= 0 else (slice(0, 16 + dy), slice(-dy, 16))
                xs, xd = (slice(dx, 16), slice(0, 16 - dx)) if dx >= 0 else (slice(0, 16 + dx), slice(-dx, 16))
                shifted[:, yd, xd] = x[i][:, ys, xs]
                found |= torch.equal(out[i], shifted)
        assert found, f"image {i} is not a shift within 2 pixels"


def test_cutout_zeroes_a_clipped_half_size_square():
    x = torch.ones(32, 3, 16, 16)
    out = cutout(x)
    assert out.shape == x.shape and set(out.unique().tolist()) <= {0.0, 1.0}
    zeros = (out[:, 0] == 0).flatten(1).sum(1)
    assert torch.all(zeros <= 8 * 8) and torch.all(zeros >= 4 * 4)  # a quarter of the square at least (corner)
    assert (zeros == 64).any()  # most squares lie inside the image
    assert torch.equal(out[:, 0], out[:, 1])  # the same mask on every channel


def test_diffaugment_full_policy_keeps_shape_and_a_closed_form_range():
    aug = DiffAugment(DiffAugmentParams(policy="color,translation,cutout"), (3, 16, 16))
    x = _images(b=64)
    out = aug(x)
    assert out.shape == x.shape and torch.isfinite(out).all()
    # |x| <= 1; brightness -> 1.5; saturation (factor < 2) -> 1.5 + 2 * 3; contrast (factor < 1.5) bounded alike
    assert out.abs().max() < 1.5 + 2 * 3 + 1.5 * 2 * 7.5
    assert not torch.equal(out, x)


def test_unknown_policy_is_a_recipe_error_with_its_key_path(tmp_path):
    path = ROOT / "recipes" / "dcgan_shapes.toml"
    with pytest.raises(RecipeError) as err:
        build_run(load_recipe(path, [*tiny_overrides(load_raw(path), tmp_path),
                                     "networks.discriminator.augment={type='diffaugment', policy='colour'}"]))
    assert "networks.discriminator.augment.policy" in str(err.value) and "color" in str(err.value)


def test_ada_p0_is_identity_and_p1_augments_with_gradients():
    x = _images(b=8)
    ada = ADA(ADAParams(p=0.0), (3, 16, 16))
    assert torch.allclose(ada(x), x, atol=1e-5)
    ada.p.fill_(1.0)
    xg = x.clone().requires_grad_(True)
    out = ada(xg)
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert (out - x).abs().flatten(1).amax(1).min() > 1e-3  # every image changed at p = 1
    out.square().sum().backward()
    assert xg.grad is not None and xg.grad.abs().sum() > 0
    grey = ADA(ADAParams(p=1.0), (1, 16, 16))(_images(b=4, c=1))
    assert grey.shape == (4, 1, 16, 16) and torch.isfinite(grey).all()


def test_ada_p_rises_on_positive_reals_and_falls_otherwise_at_the_official_speed():
    ada = ADA(ADAParams(p=0.0, speed_images=1000, interval=4), (3, 16, 16))
    for _ in range(3):
        ada.observe(torch.ones(8, 1))
    assert ada.p.item() == 0.0  # adjusted every 4 batches only
    ada.observe(torch.ones(8, 1))
    assert ada.p.item() == pytest.approx(32 / 1000)  # sign(1 - 0.6) * 4 batches * 8 images / 1000
    for _ in range(8):
        ada.observe(torch.ones(8, 1))
    assert ada.p.item() == pytest.approx(96 / 1000)
    for _ in range(4):  # r_t = 0.5 < 0.6: falls
        ada.observe(torch.tensor([1.0, -1.0] * 4))
    assert ada.p.item() == pytest.approx(64 / 1000)
    for _ in range(40):
        ada.observe(-torch.ones(8))
    assert ada.p.item() == 0.0  # clamped
    fixed = ADA(ADAParams(p=0.3, adjust=False), (3, 16, 16))
    for _ in range(8):
        fixed.observe(torch.ones(8))
    assert fixed.p.item() == pytest.approx(0.3)
    assert ada.status() == {"ada_p": "0.0000"}


def _recipe(tmp_path, extra=(), name="dcgan_shapes.toml"):
    path = ROOT / "recipes" / name
    return load_recipe(path, [*tiny_overrides(load_raw(path), tmp_path), *extra])


def test_gradients_flow_through_the_augmentation_to_the_generator(tmp_path):
    run = build_run(_recipe(tmp_path, ["networks.discriminator.augment={type='diffaugment'}"]))
    g, d = run.networks["generator"], run.networks["discriminator"]
    run.networks.train()
    torch.manual_seed(0)
    fake = g(run.sample_latent(4))
    out = d(fake)
    out.sum().backward()
    assert all(p.grad is not None for p in g.parameters() if p.requires_grad)
    assert sum(p.grad.abs().sum() for p in g.parameters()) > 0
    d.eval()
    with torch.no_grad():
        plain = d(fake)
        torch.manual_seed(0)
        d.train()
        assert not torch.equal(d(fake), plain)  # training mode: the discriminator sees augmented images


def test_augment_absent_is_bitwise_the_plain_run_and_names_are_stable(tmp_path):
    extra = ["train.steps=6", "train.checkpoint_every=6"]
    plain = run_recipe(_recipe(tmp_path / "a", extra), progress=False)
    noop = run_recipe(_recipe(tmp_path / "b", [*extra, "networks.discriminator.augment={type='diffaugment', "
                                                         "policy=''}"]), progress=False)
    a, b = (Checkpoint(r.last_checkpoint).tensors() for r in (plain, noop))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a if k != "rng.cpu")
    diff = run_recipe(_recipe(tmp_path / "c", [*extra, "networks.discriminator.augment={type='diffaugment'}"]),
                      progress=False)
    c = Checkpoint(diff.last_checkpoint).tensors()
    assert c.keys() == a.keys()  # DiffAugment has no state
    assert not torch.equal(c["networks.generator.main.0.weight"], a["networks.generator.main.0.weight"])


def test_ada_p_is_logged_checkpointed_and_resumed_exactly(tmp_path):
    extra = ["train.steps=12", "networks.discriminator.augment={type='ada', p=0.2, speed_images=200}",
             "schedule.reuse_fake=false"]
    full = run_recipe(_recipe(tmp_path / "a", extra), progress=False)
    recipe = _recipe(tmp_path / "b", extra)
    first = run_recipe(recipe, max_steps=5, progress=False)  # 5 real batches: mid-interval
    second = run_recipe(recipe, resume=first.run_dir / "checkpoints" / "last.safetensors", progress=False)
    a = Checkpoint(full.run_dir / "checkpoints" / "last.safetensors").tensors()
    b = Checkpoint(second.run_dir / "checkpoints" / "last.safetensors").tensors()
    assert {k for k in a if "augment" in k} == {"networks.discriminator.augment.p",
                                                "networks.discriminator.augment.stats"}
    assert a.keys() == b.keys()
    for key in a:
        assert key.startswith("rng") or torch.equal(a[key], b[key]), key
    p = a["networks.discriminator.augment.p"].item()
    assert p != pytest.approx(0.2) and abs(p - 0.2) == pytest.approx(4 * 4 / 200 * round(abs(p - 0.2) * 200 / 16))
    import json
    logged = [json.loads(line) for line in (full.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all("discriminator/augment_p" in rec for rec in logged)
    assert logged[-1]["discriminator/augment_p"] == pytest.approx(p)
    assert augmentation_of(full.run.networks["discriminator"]).status() == {"ada_p": f"{p:.4f}"}


def test_ada_xflip_and_rotate90_are_exact_pixel_permutations():
    x = _images(b=32)
    off = {k: 0.0 for k in ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac", "brightness",
                            "contrast", "lumaflip", "hue", "saturation")}
    flip = ADA(ADAParams(p=1.0, **{**off, "xflip": 1.0}), (3, 16, 16))(x)
    same = [torch.allclose(flip[i], x[i], atol=1e-5) or torch.allclose(flip[i], x[i].flip(-1), atol=1e-5)
            for i in range(32)]
    assert all(same) and any(torch.allclose(flip[i], x[i].flip(-1), atol=1e-5) for i in range(32))
    rot = ADA(ADAParams(p=1.0, **{**off, "rotate90": 1.0}), (3, 16, 16))(x)
    assert all(any(torch.allclose(rot[i], x[i].rot90(k, dims=(1, 2)), atol=1e-5) for k in range(4))
               for i in range(32))
