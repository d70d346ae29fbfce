"""Style family: StyleGAN2 G and D against the official parameter counts, modulated convolution, truncation,
style mixing, the path-length term, lazy regularization's Adam correction, EMA half-life, recipes, sampling.

The expected counts are StyleGAN2-ADA's (NVlabs/stylegan2-ada-pytorch, training/networks.py) instantiated
on the CPU at its official configurations (z_dim = w_dim = 512, channel_max 512, 3 image channels).
"""
from __future__ import annotations

import json
import math

import pytest
import torch
from click.testing import CliRunner

from conftest import ROOT, tiny_overrides
from gancompose.builder.run import build_run
from gancompose.cli import cli
from gancompose.errors import GancomposeError
from gancompose.recipe import load_raw, load_recipe
from gancompose.runner import load_for_sampling, run_recipe
from gancompose.sampling import generate
from gancompose_style.discriminator import StyleGAN2Discriminator, StyleGAN2DiscriminatorParams, stylegan2_discriminator
from gancompose_style.modulated import modulated_conv2d
from gancompose_style.ops import downsample2d, make_filter, upsample2d
from gancompose_style.sampling import style_mixing_grid, truncation_kwargs
from gancompose_style.stylegan1 import StyleGANGenerator
from gancompose_style.synthesis import StyleGAN2Generator, StyleGAN2GeneratorParams, stylegan2_generator

RECIPES = ROOT / "recipes"


def count(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


# ------------------------------------------------------------------------------- exact parameter counts
OFFICIAL = [  # (config, G kwargs, D kwargs, G, G mapping, D)
    ("cifar", dict(image_size=32, channel_base=32768, mapping_layers=2),
     dict(image_size=32, channel_base=32768, architecture="orig"), 19_947_539, 525_312, 20_720_641),
    ("cifar-cond", dict(image_size=32, channel_base=32768, mapping_layers=2, num_classes=10),
     dict(image_size=32, channel_base=32768, architecture="orig", num_classes=10), 20_215_315, 793_088, 23_089_664),
    ("paper256", dict(image_size=256, channel_base=16384, mapping_layers=8),
     dict(image_size=256, channel_base=16384, architecture="resnet"), 24_767_458, 2_101_248, 24_001_089),
]


@pytest.mark.parametrize("cfg,gkw,dkw,n_g,n_map,n_d", OFFICIAL, ids=[c[0] for c in OFFICIAL])
def test_parameter_counts_equal_official(cfg, gkw, dkw, n_g, n_map, n_d):
    # through the registered factories and their params models (no dry forward: the 256 px nets are big)
    g = stylegan2_generator(StyleGAN2GeneratorParams(**gkw), (512,))
    d = stylegan2_discriminator(StyleGAN2DiscriminatorParams(**dkw), (3, dkw["image_size"], dkw["image_size"]))
    assert (count(g), count(g.mapping), count(d)) == (n_g, n_map, n_d)


def test_parameter_counts_1024_config_f_on_meta():
    with torch.device("meta"):
        g = StyleGAN2Generator(512, 0, 512, 1024, 3, channel_base=32768, mapping_layers=8)
        d = StyleGAN2Discriminator(0, 1024, 3, channel_base=32768, architecture="resnet")
    assert (count(g), count(g.mapping), count(d)) == (30_370_060, 2_101_248, 29_012_513)
    assert g.num_ws == 18  # 2 per resolution from 8 px, 1 at 4 px, the last toRGB


def test_cifar10_recipe_builds_the_official_conditional_networks(tmp_path):
    """On CIFAR-10's declared shape (3 x 32 x 32, 10 classes), with no data on disk."""
    recipe = load_recipe(RECIPES / "stylegan2_cifar10.toml", [f"data.root='{tmp_path.as_posix()}'"])
    run = build_run(recipe, device=torch.device("cpu"), with_data=False, stand_in=True)
    g, d = run.networks["generator"], run.networks["discriminator"]
    assert (count(g), count(g.mapping), count(d)) == (20_215_315, 793_088, 23_089_664)
    assert g.conditional and d.conditional


# ----------------------------------------------------------------------------- modulation, resampling
@pytest.mark.parametrize("fused", [True, False])
def test_demodulation_keeps_unit_std(fused):
    torch.manual_seed(0)
    x = torch.randn(8, 64, 16, 16)
    weight = torch.randn(48, 64, 3, 3)
    styles = torch.randn(8, 64).exp()  # strongly varying per-sample, per-channel scales
    y = modulated_conv2d(x, weight, styles, demodulate=True, fused=fused)
    inner = y[:, :, 1:-1, 1:-1]  # away from the zero padding
    assert inner.std().item() == pytest.approx(1.0, abs=0.05)
    per_sample = inner.flatten(1).std(dim=1)
    assert torch.allclose(per_sample, torch.ones(8), atol=0.1)
    plain = modulated_conv2d(x, weight, styles * 3, demodulate=False, fused=fused)
    assert plain[:, :, 1:-1, 1:-1].std().item() > 3  # without demodulation the style's scale passes through


def test_fused_and_unfused_modulated_conv_agree_with_upsampling():
    torch.manual_seed(1)
    x, w, s = torch.randn(3, 8, 5, 5), torch.randn(6, 8, 3, 3), torch.randn(3, 8)
    f = make_filter()
    a = modulated_conv2d(x, w, s, up=2, resample_filter=f, fused=True)
    b = modulated_conv2d(x, w, s, up=2, resample_filter=f, fused=False)
    assert a.shape == (3, 6, 10, 10) and torch.allclose(a, b, atol=1e-4)


def test_resampling_shapes_and_dc_gain():
    f = make_filter()
    x = torch.ones(1, 2, 8, 8)
    up, down = upsample2d(x, f), downsample2d(x, f)
    assert up.shape == (1, 2, 16, 16) and down.shape == (1, 2, 4, 4)
    assert torch.allclose(up[..., 2:-2, 2:-2], torch.ones(1, 2, 12, 12))  # a constant stays constant inside
    assert torch.allclose(down[..., 1:-1, 1:-1], torch.ones(1, 2, 2, 2))


# ---------------------------------------------------------------------------- truncation and mixing
def small_g(**kw):
    torch.manual_seed(0)
    return StyleGAN2Generator(16, 0, 16, 16, 3, channel_base=256, channel_max=16, **kw)


def test_truncation_psi_zero_gives_the_mean_image():
    g = small_g().eval()
    with torch.no_grad():
        g.mapping.w_avg.copy_(torch.randn(16))
        z = torch.randn(4, 16)
        img = g(z, truncation_psi=0.0, noise_mode="const")
        mean_img = g.synthesis(g.mapping.w_avg.expand(1, g.num_ws, -1), noise_mode="const")
        free = g(z, noise_mode="const")
    assert torch.allclose(img, mean_img.expand_as(img), atol=1e-5)
    assert (free[0] - free[1]).abs().max() > 1e-3  # without truncation the latents matter


def test_truncation_interpolates_w_towards_the_mean_and_respects_cutoff():
    g = small_g().eval()
    z = torch.randn(2, 16)
    with torch.no_grad():
        g.mapping.w_avg.copy_(torch.randn(16))
        w = g.mapping(z)
        half = g.mapping(z, truncation_psi=0.5)
        cut = g.mapping(z, truncation_psi=0.5, truncation_cutoff=2)
    assert torch.allclose(half, g.mapping.w_avg + 0.5 * (w - g.mapping.w_avg), atol=1e-6)
    assert torch.allclose(cut[:, :2], half[:, :2]) and torch.allclose(cut[:, 2:], w[:, 2:])


def test_w_avg_is_tracked_in_training_only():
    g = small_g().train()
    z = torch.randn(8, 16)
    before = g.mapping.w_avg.clone()
    with torch.no_grad():
        w = g.mapping(z, update_w_avg=False)[:, 0]
        g.mapping(z)
    assert torch.allclose(g.mapping.w_avg, w.mean(0).lerp(before, 0.995), atol=1e-6)
    g.eval()
    after = g.mapping.w_avg.clone()
    with torch.no_grad():
        g(z)
    assert torch.equal(g.mapping.w_avg, after)


def test_style_mix_switches_styles_at_the_cutoff():
    g = small_g().eval()
    z1, z2, z3 = torch.randn(3, 1, 16)
    with torch.no_grad():
        w1, w2 = g.mapping(z1), g.mapping(z2)
        for cutoff in (1, 3, g.num_ws - 1):
            mixed = g.style_mix(z1, z2, cutoff)
            expect = g.synthesis(torch.cat([w1[:, :cutoff], w2[:, cutoff:]], 1), noise_mode="const")
            assert torch.allclose(mixed, expect, atol=1e-5)
        # all coarse from z1: the fine source does not matter; cutoff 0: only the fine source matters
        assert torch.allclose(g.style_mix(z1, z2, g.num_ws), g.style_mix(z1, z3, g.num_ws))
        assert torch.allclose(g.style_mix(z1, z2, 0), g.style_mix(z3, z2, 0))
        assert not torch.allclose(g.style_mix(z1, z2, 3), g.style_mix(z1, z3, 3))


def test_training_forward_mixes_with_the_configured_probability():
    g = small_g(style_mixing_prob=1.0).train()
    z = torch.randn(4, 16)
    torch.manual_seed(5)
    with torch.no_grad():
        ws = g.mapped(z)
    torch.manual_seed(5)
    cutoff = int(torch.randint(1, g.num_ws, ()))
    torch.rand(())
    z2 = torch.randn_like(z)
    with torch.no_grad():
        w1, w2 = g.mapping(z, update_w_avg=False), g.mapping(z2, update_w_avg=False)
    assert 1 <= cutoff < g.num_ws
    assert torch.allclose(ws[:, :cutoff], w1[:, :cutoff], atol=1e-6)
    assert torch.allclose(ws[:, cutoff:], w2[:, cutoff:], atol=1e-6)
    g0 = small_g(style_mixing_prob=0.0).train()
    with torch.no_grad():
        ws0 = g0.mapped(z)
    assert torch.allclose(ws0, ws0[:, :1].expand_as(ws0))  # no mixing: one w broadcast to every layer


def test_stylegan1_generator_adain_noise_and_truncation_cutoff():
    torch.manual_seed(0)
    g = StyleGANGenerator(16, 0, 16, 16, 3, channel_base=256, channel_max=16, truncation_cutoff=2).eval()
    assert g.num_ws == 6 and torch.equal(g.synthesis.const, torch.ones_like(g.synthesis.const))
    z = torch.randn(2, 16)
    with torch.no_grad():
        assert g(z).shape == (2, 3, 16, 16)
        for layer in g.synthesis.layers:
            layer.noise_strength.fill_(1.0)
        a, b = g(z, noise_mode="random"), g(z, noise_mode="random")
        assert (a - b).abs().max() > 1e-4  # noise inputs change details
        ws = g.mapped(z, truncation_psi=0.0)
        assert torch.allclose(ws[:, :2], g.mapping.w_avg.expand(2, 2, -1)) and not torch.allclose(ws[:, 2:], 0 * ws[:, 2:])


def test_conditional_generator_and_discriminator_use_labels():
    torch.manual_seed(0)
    g = StyleGAN2Generator(16, 4, 16, 8, 3, channel_base=128, channel_max=16).eval()
    d = StyleGAN2Discriminator(4, 8, 3, channel_base=128, channel_max=16, mapping_layers=2).eval()
    z = torch.randn(1, 16).expand(2, -1)
    with torch.no_grad():
        img = g(z, torch.tensor([0, 3]), noise_mode="const")
        out = d(img, torch.tensor([0, 3]))
    assert g.conditional and d.conditional and out.shape == (2,)
    assert (img[0] - img[1]).abs().max() > 1e-4


# --------------------------------------------------------------------------------- path length term
def tiny_recipe(tmp_path, *extra):
    path = RECIPES / "stylegan2_shapes.toml"
    over = tiny_overrides(load_raw(path), tmp_path) + [
        "networks.generator.channel_base=64", "networks.generator.channel_max=8", "networks.generator.w_dim=16",
        "networks.discriminator.channel_base=64", "networks.discriminator.channel_max=8", "latent.dim=16",
        "networks.generator.image_size=16", "networks.discriminator.image_size=16", *extra]
    return load_recipe(path, over)


def test_path_length_term_updates_pl_mean_and_reaches_the_generator(tmp_path):
    from gancompose.engine.context import StepContext
    run = build_run(tiny_recipe(tmp_path), device=torch.device("cpu"))
    term = next(r for r in run.regularizers if r.name == "path_length")
    assert (term.weight, term.every, term.decay, term.network) == (2.0, 4, 0.01, "generator")
    g = run.networks["generator"]
    assert "pl_mean" in g.state_dict() and "mapping.w_avg" in g.state_dict()  # both saved in checkpoints
    value = term(StepContext(run, 0, {}))
    first_mean = g.pl_mean.item()
    assert first_mean > 0 and value.item() >= 0
    value = term(StepContext(run, 1, {}))
    value.backward()
    assert g.pl_mean.item() != first_mean
    assert g.mapping.fc0.weight.grad is not None and g.synthesis.b8.conv1.weight.grad.abs().sum() > 0


# ------------------------------------------------------------------------ lazy intervals, Adam, EMA
def test_lazy_intervals_and_adam_correction(tmp_path):
    recipe = tiny_recipe(tmp_path, "train.steps=17")
    result = run_recipe(recipe, progress=False)
    lines = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    lines = [x for x in lines if "img_per_s" in x]
    r1_steps = [x["step"] for x in lines if "discriminator_reg/r1" in x]  # their own phases: lazy_phases
    pl_steps = [x["step"] for x in lines if "generator_reg/path_length" in x]
    assert r1_steps == [1, 17] and pl_steps == [1, 5, 9, 13, 17]  # steps 0 and 16; 0, 4, 8, 12, 16 (1-based logs)
    opt_d, opt_g = result.run.optimizers["discriminator"], result.run.optimizers["generator"]
    g_d, g_g = opt_d.param_groups[0], opt_g.param_groups[0]
    assert g_d["lr"] == pytest.approx(0.0025 * 16 / 17) and g_g["lr"] == pytest.approx(0.0025 * 4 / 5)
    assert g_d["betas"] == pytest.approx((0.0, 0.99 ** (16 / 17)))
    assert g_g["betas"] == pytest.approx((0.0, 0.99 ** (4 / 5)))


def test_ema_half_life_in_images(tmp_path):
    recipe = tiny_recipe(tmp_path, "train.ema={network='generator', half_life_images=40, rampup=0.5}")
    run = build_run(recipe, device=torch.device("cpu"), with_data=False)
    src, ema = run.networks["generator"], run.ema["generator"]
    p_src, p_ema = next(src.parameters()), next(ema.parameters())
    for images_seen, half in ((1000, 40.0), (20, 10.0)):  # rampup: half-life at most 0.5 x images seen
        with torch.no_grad():
            p_ema.zero_()
            p_src.fill_(1.0)
        run.state.images_seen = images_seen
        run.update_ema(step=1)
        decay = 0.5 ** (recipe.train.batch_size / half)
        assert torch.allclose(p_ema, torch.full_like(p_ema, 1 - decay))


# ------------------------------------------------------------------------------- recipes and sampling
def test_shapes_recipe_trains_and_samples_with_truncation_and_mixing(tmp_path):
    recipe = tiny_recipe(tmp_path, "train.steps=4")
    result = run_recipe(recipe, progress=False)
    lines = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(v) for k, v in lines[-1].items() if "/" in k)
    ckpt = result.run_dir / "checkpoints" / "last.safetensors"
    run = load_for_sampling(ckpt)
    g = run.ema["generator"]
    assert torch.equal(g.mapping.w_avg, result.run.networks["generator"].mapping.w_avg)  # kept by the checkpoint
    assert g.mapping.w_avg.abs().sum() > 0
    a = generate(run, 4, seed=1, forward_kwargs=truncation_kwargs(run.ema['generator'], 0.7))
    b = generate(run, 4, seed=1)
    assert a.shape == b.shape == (4, 3, 16, 16) and not torch.allclose(a, b)
    with torch.no_grad():
        mean = g(torch.randn(3, 16), truncation_psi=0.0, noise_mode="const")
    assert torch.allclose(mean[0], mean[1], atol=1e-5) and torch.allclose(mean[0], mean[2], atol=1e-5)
    images, nrow = style_mixing_grid(run, 2, 3, cutoff=2, seed=0)
    assert images.shape[0] == 3 * 4 and nrow == 4
    out = tmp_path / "t.png"
    res = CliRunner().invoke(cli, ["sample", str(ckpt), "-n", "4", "--truncation", "0.7", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert out.is_file()
    res = CliRunner().invoke(cli, ["sample", str(ckpt), "--mixing", "2x3", "-o", str(tmp_path / "m.png")])
    assert res.exit_code == 0 and (tmp_path / "m.png").is_file(), res.output
    res = CliRunner().invoke(cli, ["sample", str(ckpt), "--mixing", "2x3", "--mixing-cutoff", "99"])
    assert res.exit_code == 2 and "out of range" in res.output


def test_truncation_on_a_generator_without_it_is_a_clear_error(tmp_path):
    path = RECIPES / "dcgan_shapes.toml"
    recipe = load_recipe(path, tiny_overrides(load_raw(path), tmp_path) + ["train.steps=1"])
    result = run_recipe(recipe, progress=False)
    run = load_for_sampling(result.run_dir / "checkpoints" / "last.safetensors")
    with pytest.raises(GancomposeError, match="does not support truncation"):
        truncation_kwargs(run.sampling_network(run.generator_name(), True), 0.7)
    res = CliRunner().invoke(cli, ["sample", str(result.run_dir / "checkpoints" / "last.safetensors"),
                                   "--truncation", "0.7", "-o", str(tmp_path / "t.png")])
    assert res.exit_code == 2 and "does not support truncation" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "t.png").exists()
    with pytest.raises(GancomposeError, match="does not mix styles"):
        style_mixing_grid(run, 2, 2)


def test_resume_is_exact_with_mixing_path_length_and_w_avg(tmp_path):
    from gancompose.checkpoint import Checkpoint
    full = run_recipe(tiny_recipe(tmp_path / "a", "train.steps=10"), progress=False)
    recipe = tiny_recipe(tmp_path / "b", "train.steps=10")
    first = run_recipe(recipe, max_steps=5, progress=False)  # stops between path-length steps 4 and 8
    second = run_recipe(recipe, resume=first.run_dir / "checkpoints" / "last.safetensors", progress=False)
    a = Checkpoint(full.run_dir / "checkpoints" / "last.safetensors").tensors()
    b = Checkpoint(second.run_dir / "checkpoints" / "last.safetensors").tensors()
    assert a.keys() == b.keys() and "networks.generator.pl_mean" in a and "ema.generator.mapping.w_avg" in a
    assert a["networks.generator.pl_mean"].item() > 0
    differ = [k for k in a if not k.startswith("rng") and not torch.equal(a[k], b[k])]
    assert not differ, differ
