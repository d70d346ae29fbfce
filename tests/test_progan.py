"""ProGAN: the progressive schedule against the official lod formula, growth continuity at alpha = 0,
equalized learning rate, minibatch stddev, pixel norm, parameter counts, and a resume mid-fade that ends
bitwise equal to an uninterrupted run."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from conftest import ROOT
from gancompose.builder import build_run
from gancompose.checkpoint import Checkpoint
from gancompose.engine.loop import StepLogs, _GradSwitch, run_step
from gancompose.recipe import load_recipe
from gancompose.runner import run_recipe
from gancompose_core.equalized import EqualizedConv2d, EqualizedLinear
from gancompose_progan.layers import minibatch_stddev, pixel_norm
from gancompose_progan.networks import (DiscriminatorParams, GeneratorParams, discriminator, fade_reals,
                                        generator, upsample)

RECIPE = ROOT / "recipes" / "progan_shapes.toml"
SMALL = ["networks.generator.fmap_base=32", "networks.generator.fmap_max=16", "networks.discriminator.fmap_base=32",
         "networks.discriminator.fmap_max=16", "latent.dim=16", "data.size=64", 'train.device="cpu"']


def _recipe(tmp_path, extra=()):
    return load_recipe(RECIPE, [*SMALL, f'train.output_dir="{tmp_path.as_posix()}"', "train.log_every=1",
                                "train.sample_every=0", "train.checkpoint_every=0", "train.samples=4", *extra])


# ------------------------------------------------------------------------------------ schedule
def _official(images: int, start: int, final: int, train_kimg: float, transition_kimg: float):
    """train.py TrainingSchedule: lod, resolution, and alpha = 1 - frac(lod) (as written there, in kimg)."""
    kimg = images / 1000.0
    phase_dur = train_kimg + transition_kimg
    phase_idx = int(math.floor(kimg / phase_dur))
    phase_kimg = kimg - phase_idx * phase_dur
    lod = math.log2(final) - math.floor(math.log2(start)) - phase_idx
    lod -= max(phase_kimg - train_kimg, 0.0) / transition_kimg
    lod = max(lod, 0.0)
    return 2 ** (int(math.log2(final)) - int(math.floor(lod))), 1.0 - (lod - math.floor(lod))


def test_schedule_follows_the_official_lod_formula(tmp_path):
    # the official v2 1-GPU preset's minibatch and lr tables, 600k + 600k images per phase
    run = build_run(_recipe(tmp_path, [
        "schedule.stabilise_kimg=600", "schedule.fade_kimg=600", "train.batch_size=128", "data.size=128",
        "schedule.batch_size={4=128, 8=128, 16=128, 32=64, 64=32}", "schedule.lr={32=0.0015}"]))
    sched = run.schedule
    counts = [0, 1, 599_999, 600_000, 600_001, 900_000, 1_199_999, 1_200_000, 1_500_000, 1_800_001, 2_100_000,
              3_000_000, 3_300_000, 3_600_000, 4_200_000, 4_799_999, 4_800_000, 9_000_000]
    for n in counts:
        g = sched.at(n)
        res, alpha = _official(n, 4, 32, 600, 600)
        assert g.resolution == res, n
        assert g.alpha == pytest.approx(alpha, abs=1e-9), n
    # chosen points, spelled out
    assert (sched.at(900_000).resolution, sched.at(900_000).alpha, sched.at(900_000).fading) == (8, 0.5, True)
    assert (sched.at(1_200_000).resolution, sched.at(1_200_000).alpha) == (8, 1.0)
    assert (sched.at(2_100_000).resolution, sched.at(2_100_000).alpha) == (16, 0.5)
    assert (sched.at(2_700_000).resolution, sched.at(2_700_000).fading) == (16, False)
    assert (sched.at(3_300_000).resolution, sched.at(3_300_000).alpha) == (32, 0.5)
    assert (sched.at(4_200_000).resolution, sched.at(4_200_000).alpha, sched.at(4_200_000).stage) == (32, 1.0, 6)
    assert [g.name for g, _ in sched.timeline()] == [
        "4px stable", "8px fade-in", "8px stable", "16px fade-in", "16px stable", "32px fade-in", "32px stable"]
    assert [n for _, n in sched.timeline()] == [0, 600_001, 1_200_000, 1_800_001, 2_400_000, 3_000_001, 3_600_000]
    # batch and lr per resolution, through the step seam
    for n, batch, lr in ((0, 128, 1e-3), (900_000, 128, 1e-3), (3_300_000, 64, 0.0015), (9_000_000, 64, 0.0015)):
        run.state.images_seen = n
        sched.before_step(run)
        assert run.batch_size == batch
        for opt in run.optimizers.values():
            assert opt.param_groups[0]["lr"] == lr
        g = sched.at(n)
        for net in (*run.networks.values(), *run.ema.values()):
            assert (net.resolution, net.alpha) == (g.resolution, g.alpha)
            assert net.growth.tolist() == pytest.approx([g.resolution, g.alpha])


def test_train_batch_size_caps_every_stage(tmp_path):
    run = build_run(_recipe(tmp_path, ["train.batch_size=16"]))
    assert [run.schedule.batch_size_at(r) for r in (4, 8, 16, 32)] == [16, 16, 16, 16]
    run = build_run(_recipe(tmp_path, ["train.batch_size=64"]))
    assert [run.schedule.batch_size_at(r) for r in (4, 8, 16, 32)] == [64, 64, 32, 32]


def test_schedule_errors_name_the_key(tmp_path):
    from gancompose.errors import RecipeError
    with pytest.raises(RecipeError) as exc:  # refused while validating, from the blocks' declared capabilities
        _recipe(tmp_path, ["networks.discriminator={type='dcgan_discriminator', input='data', ndf=8, "
                           "nc=3, image_size=32, batch_norm=false}"])
    assert exc.value.key == "networks.discriminator.type"
    assert "'progressive' schedule needs growing" in str(exc.value) and "'dcgan_discriminator'" in str(exc.value)
    assert "block 'progan_discriminator'" in str(exc.value)  # who provides it
    with pytest.raises(RecipeError) as exc:
        build_run(_recipe(tmp_path, ["schedule.final_resolution=64"]))
    assert exc.value.key == "schedule.final_resolution"
    with pytest.raises(Exception, match="power of two"):
        _recipe(tmp_path, ["schedule.start_resolution=6"])


def test_a_stage_batch_that_does_not_split_over_the_processes_is_refused_at_build(tmp_path):
    """Under torchrun every stage's batch is cut in equal shares: a 16 px stage of 30 images over 4 processes
    would stop the run hours in, when that stage starts; it is refused before the first step instead."""
    from gancompose.errors import RecipeError
    from gancompose.performance.distributed import Distributed
    recipe = _recipe(tmp_path, ["schedule.batch_size={4 = 64, 8 = 64, 16 = 30, 32 = 32}"])
    with pytest.raises(RecipeError) as exc:
        build_run(recipe, dist=Distributed(rank=0, world=4, local_rank=0))
    assert exc.value.key == "schedule.batch_size.16"
    assert "divisible by the 4 processes" in str(exc.value) and "got 30 for the 16 px stages" in str(exc.value)
    run = build_run(recipe)  # one process takes any batch
    assert run.schedule.batch_size_at(16) == 30


# ------------------------------------------------------------------------------------- networks
def _nets(size=32, latent=16, **kw):
    torch.manual_seed(0)
    g = generator(GeneratorParams(image_size=size, fmap_base=64, fmap_max=32, **kw), (latent,))
    d = discriminator(DiscriminatorParams(fmap_base=64, fmap_max=32), (3, size, size))
    return g, d


def test_alpha_zero_equals_the_upsampled_previous_stage():
    g, d = _nets()
    # weights that are not at their initial values (biases too), as after training
    with torch.no_grad():
        for p in (*g.parameters(), *d.parameters()):
            p.add_(0.1 * torch.randn_like(p))
    z = torch.randn(8, 16)
    x = torch.randn(8, 3, 32, 32)
    for res in (8, 16, 32):
        g.set_growth(res // 2, 1.0)
        d.set_growth(res // 2, 1.0)
        old_native, old_full, old_score = g.synthesize(z), g(z), d(x)
        g.set_growth(res, 0.0)
        d.set_growth(res, 0.0)
        new_native = g.synthesize(z)
        assert new_native.shape[-1] == res
        assert torch.equal(new_native, upsample(old_native, 2))
        assert torch.equal(g(z), old_full)
        assert torch.equal(d(x), old_score)
        assert torch.equal(fade_reals(x, res, 0.0), fade_reals(x, res // 2, 1.0))
        # halfway: the blend of the two paths
        g.set_growth(res, 1.0)
        new = g.synthesize(z)
        g.set_growth(res, 0.5)
        torch.testing.assert_close(g.synthesize(z), 0.5 * new + 0.5 * upsample(old_native, 2))
        assert not torch.allclose(new, upsample(old_native, 2))  # the new block does change the image


def test_growth_state_travels_with_the_weights():
    g, _ = _nets()
    g.set_growth(16, 0.25)
    h, _ = _nets()
    h.load_state_dict(g.state_dict())
    assert (h.resolution, h.alpha) == (16, 0.25)
    z = torch.randn(4, 16)
    assert torch.equal(h(z), g(z))


def test_fade_reals_is_the_official_process_reals():
    x = torch.randn(2, 3, 16, 16)
    # resolution 8, alpha 0.25: pool to 8x8, lerp toward the 4x4 version by lod - floor(lod) = 0.75, upscale 2
    x8 = F.avg_pool2d(x, 2)
    y = F.avg_pool2d(x8, 2).repeat_interleave(2, 2).repeat_interleave(2, 3)
    want = (x8 + (y - x8) * 0.75).repeat_interleave(2, 2).repeat_interleave(2, 3)
    torch.testing.assert_close(fade_reals(x, 8, 0.25), want)
    assert torch.equal(fade_reals(x, 16, 1.0), x)


def test_equalized_lr_scaling_and_gains():
    g, d = _nets()
    layers = [m for m in (*g.modules(), *d.modules()) if isinstance(m, (EqualizedConv2d, EqualizedLinear))]
    gains = sorted({round(m.weight_gain * math.sqrt(m.weight[0].numel()), 6) for m in layers})
    assert gains == [round(math.sqrt(2) / 4, 6), 1.0, round(math.sqrt(2), 6)]
    # gain sqrt(2) everywhere but toRGB (1), the discriminator's last dense (1) and the latent dense (sqrt(2)/4)
    for rgb in g.to_rgb:
        assert rgb.weight_gain == pytest.approx(1 / math.sqrt(rgb.in_channels))
    last = d.blocks[0][-1]
    assert last.weight_gain == pytest.approx(1 / math.sqrt(last.in_features))
    dense = g.blocks[0][0].dense
    assert dense.weight_gain == pytest.approx(math.sqrt(2) / 4 / math.sqrt(16))
    hidden = g.blocks[1][1]
    assert hidden.weight_gain == pytest.approx(math.sqrt(2) / math.sqrt(hidden.in_channels * 9))
    # weights are stored N(0, 1); the layer computes with w * gain / sqrt(fan_in)
    assert hidden.weight.std().item() == pytest.approx(1.0, abs=0.1)
    x = torch.randn(2, hidden.in_channels, 8, 8)
    torch.testing.assert_close(hidden(x), F.conv2d(x, hidden.weight * math.sqrt(2) / math.sqrt(hidden.in_channels * 9),
                                                   hidden.bias, padding=1))
    # the point of it: under Adam, one step moves every layer's effective weights by the same fraction of their
    # scale, whatever the fan-in (plain layers would move by lr in absolute terms: 32x more, relatively, at 1024)
    torch.manual_seed(0)
    moved = []
    for fan_in in (16, 1024):
        layer = EqualizedLinear(fan_in, 64, gain=math.sqrt(2))
        before = layer.weight.detach() * layer.weight_gain
        opt = torch.optim.Adam(layer.parameters(), lr=0.01, betas=(0.0, 0.99))
        layer(torch.randn(32, fan_in)).square().mean().backward()
        opt.step()
        after = layer.weight.detach() * layer.weight_gain
        moved.append(((after - before).abs().mean() / before.std()).item())
    assert moved[0] == pytest.approx(moved[1], rel=0.1)


def test_minibatch_stddev_shape_and_value():
    x = torch.randn(8, 5, 3, 3)
    y = minibatch_stddev(x, group_size=4)
    assert y.shape == (8, 6, 3, 3)
    assert torch.equal(y[:, :5], x)
    # official grouping: reshape [G=4, M=2, ...]: sample i is in group i % 2
    for i in range(8):
        group = x[i % 2::2]
        want = (group.var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
        torch.testing.assert_close(y[i, 5], torch.full((3, 3), want.item()))
    assert minibatch_stddev(torch.randn(6, 2, 4, 4), 4).shape == (6, 3, 4, 4)  # group lowered to 3
    assert minibatch_stddev(torch.randn(2, 2, 4, 4), 4).shape == (2, 3, 4, 4)
    # identical samples: stddev sqrt(1e-8)
    same = torch.ones(4, 2, 2, 2)
    torch.testing.assert_close(minibatch_stddev(same)[:, 2], torch.full((4, 2, 2), 1e-4))


def test_pixel_norm_gives_unit_rms_features():
    x = torch.randn(4, 7, 5, 5) * 10
    y = pixel_norm(x)
    torch.testing.assert_close(y.square().mean(dim=1), torch.ones(4, 5, 5), rtol=1e-5, atol=1e-5)


def _closed_form_params(size: int, latent: int, channels: int = 3):
    nf = lambda s: min(int(8192 / 2 ** s), 512)  # noqa: E731
    conv = lambda i, o, k: i * o * k * k + o  # noqa: E731
    g = latent * nf(1) * 16 + nf(1) + conv(nf(1), nf(1), 3) + conv(nf(1), channels, 1)
    d = conv(channels, nf(1), 1) + conv(nf(1) + 1, nf(1), 3) + nf(1) * 16 * nf(0) + nf(0) + nf(0) + 1
    for k in range(3, int(math.log2(size)) + 1):
        g += conv(nf(k - 2), nf(k - 1), 3) + conv(nf(k - 1), nf(k - 1), 3) + conv(nf(k - 1), channels, 1)
        d += conv(nf(k - 1), nf(k - 1), 3) + conv(nf(k - 1), nf(k - 2), 3) + conv(channels, nf(k - 1), 1)
    return g, d


def test_official_sizes_parameter_counts():
    g = generator(GeneratorParams(image_size=1024), (512,))
    d = discriminator(DiscriminatorParams(), (3, 1024, 1024))
    ng, nd = sum(p.numel() for p in g.parameters()), sum(p.numel() for p in d.parameters())
    assert (ng, nd) == _closed_form_params(1024, 512)
    # the paper's Table 2: 23.1M parameters each
    assert round(ng / 1e6, 1) == 23.1 and round(nd / 1e6, 1) == 23.1


# ----------------------------------------------------------------------------- engine and resume
def test_growth_keeps_weights_and_adam_state(tmp_path):
    # 40 images per phase, batch 8 at 4 px, 4 at 8 px
    run = build_run(_recipe(tmp_path, ["train.batch_size=8", "schedule.stabilise_kimg=0.04",
                                       "schedule.fade_kimg=0.04", "schedule.batch_size={4=8, 8=4}"]))
    d = run.networks["discriminator"]
    opt = run.optimizers["discriminator"]
    index = {id(p): i for i, p in enumerate(opt.param_groups[0]["params"])}
    old, new = d.from_rgb[0][0].weight, d.blocks[3][0].weight  # the 4 px fromRGB, the 32 px block
    logs, grads = StepLogs(), _GradSwitch(run.networks)
    for step in range(6):  # 48 images: the 4 px stage (the step starting at 40 images is its last, as officially)
        run_step(run, step, logs, grads)
        run.state.step += 1
    assert run.schedule.growth.resolution == 4 and run.state.images_seen == 48
    assert int(opt.state[old]["step"]) == 6 and new not in opt.state  # unused blocks get no update
    kept = {k: v.clone() for k, v in opt.state[old].items()}
    run_step(run, 6, logs, grads)  # the first step of the fade-in to 8 px
    assert run.schedule.growth.fading and run.schedule.growth.resolution == 8 and run.batch_size == 4
    assert int(opt.state[old]["step"]) == 7  # the moments carried over and went on
    # the second moments decayed from the kept ones (beta2 0.99) instead of restarting from the new gradient
    v = opt.state[old]["exp_avg_sq"]
    assert torch.all(v >= 0.99 * kept["exp_avg_sq"] * (1 - 1e-6))
    assert len(index) == len(list(d.parameters()))  # the optimizer held every parameter from the start


def test_reset_optimizers_clears_the_moments_at_a_stage_change(tmp_path):
    run = build_run(_recipe(tmp_path, ["train.batch_size=8", "schedule.stabilise_kimg=0.04",
                                       "schedule.fade_kimg=0.04", "schedule.reset_optimizers=true"]))
    opt = run.optimizers["discriminator"]
    old = run.networks["discriminator"].from_rgb[0][0].weight
    logs, grads = StepLogs(), _GradSwitch(run.networks)
    for step in range(7):
        run_step(run, step, logs, grads)
        run.state.step += 1
    assert int(opt.state[old]["step"]) == 1  # reset at the start of step 6 (the fade-in), then one step


RESUME = ["train.batch_size=8", "schedule.stabilise_kimg=0.048", "schedule.fade_kimg=0.048",
          "schedule.batch_size={4=8, 8=8, 16=4, 32=4}", "train.steps=30", "train.ema={network='generator', decay=0.9}",
          "data.image_size=16", "networks.generator.image_size=16"]


@pytest.mark.parametrize("reset", [False, True], ids=["carry", "reset"])
def test_resume_mid_fade_equals_uninterrupted(tmp_path, reset):
    extra = [*RESUME, f"schedule.reset_optimizers={'true' if reset else 'false'}"]
    full = run_recipe(_recipe(tmp_path / "a", extra), progress=False)
    recipe = _recipe(tmp_path / "b", extra)
    # batch 8: steps 0-6 at 4 px (images 0..48), steps 7-11 fade to 8 px, so step 10 starts at 80 images, alpha 2/3;
    # then 8 px stable, the fade to 16 px at batch 4 from step 19, and 16 px stable at 192 images (step 29)
    first = run_recipe(recipe, max_steps=10, progress=False)
    g = first.run.schedule.at(first.run.state.images_seen)
    assert g.fading and g.alpha == pytest.approx(2 / 3), g
    second = run_recipe(recipe, resume=first.run_dir / "checkpoints" / "last.safetensors", progress=False)
    assert second.run.state.step == full.run.state.step == 30
    assert second.run.state.images_seen == full.run.state.images_seen
    a = Checkpoint(full.run_dir / "checkpoints" / "last.safetensors").tensors()
    b = Checkpoint(second.run_dir / "checkpoints" / "last.safetensors").tensors()
    assert a.keys() == b.keys()
    for key in a:
        if not key.startswith("rng"):
            assert torch.equal(a[key], b[key]), key
    # it grew to 16 px through a batch-size change; one grid per stage (the last one where training stopped)
    assert (full.run.schedule.growth.resolution, full.run.batch_size, full.run.state.images_seen) == (16, 4, 196)
    grids = sorted(p.name for p in (full.run_dir / "samples").glob("stage_*.png"))
    assert [n.split("_step")[0] for n in grids] == ["stage_00_4px_stable", "stage_01_8px_fade-in",
                                                    "stage_02_8px_stable", "stage_03_16px_fade-in",
                                                    "stage_04_16px_stable"]


@pytest.mark.parametrize("quiet", [True, False], ids=["quiet", "bar"])
def test_progress_shows_stage_resolution_and_alpha(tmp_path, quiet):
    import io
    from rich.console import Console
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False, highlight=False)
    recipe = _recipe(tmp_path, ["train.batch_size=8", "schedule.stabilise_kimg=0.016", "schedule.fade_kimg=0.032",
                                "data.image_size=16", "networks.generator.image_size=16"])
    run_recipe(recipe, max_steps=5, quiet=quiet, console=console)
    text = out.getvalue()
    # step 4 starts at 32 images: 8 px, alpha (32 - 16) / 32 = 0.5
    assert "stage 2/5" in text and "res 8px" in text and "α 0.50" in text, text
