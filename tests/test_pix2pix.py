"""Paired translation (pix2pix) as a plugin: networks against the official counts and module tree, the paired
schedule's phases against a hand-written official step, training, exact resume, import and translate, the
facades data commands, and the recipes through validate and explain."""
from __future__ import annotations

import copy
import functools
import http.server
import io
import json
import tarfile
import threading
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from conftest import ROOT, invoke, refusal, tiny_overrides
from gancompose.builder import build_run
from gancompose.checkpoint import Checkpoint
from gancompose.engine.loop import StepLogs, _GradSwitch, run_step
from gancompose.errors import DataError, RecipeError
from gancompose.recipe import load_raw, load_recipe
from gancompose.runner import run_recipe
from gancompose_pix2pix import archives
from gancompose_pix2pix.importer import Config, key_table, rename
from gancompose_pix2pix.networks import (PairedPatchGAN, PairedPatchGANParams, UnetGenerator, UnetGeneratorParams,
                                         auto_num_downs, paired_patchgan, unet_generator)
from gancompose_pix2pix.paired import PairedFolders, PairedFoldersParams
from gancompose_pix2pix.reference import OfficialUnetGenerator

SHAPES = ROOT / "recipes" / "pix2pix_shapes.toml"
FACADES = ROOT / "recipes" / "pix2pix_facades.toml"


def _count(net) -> int:
    return sum(p.numel() for p in net.parameters())


def _tiny(tmp_path, *more, recipe=SHAPES) -> list[str]:
    return [*tiny_overrides(load_raw(recipe), tmp_path), *more]


# ------------------------------------------------------------------------------ networks
def test_parameter_counts_equal_the_official_implementation():
    g = unet_generator(UnetGeneratorParams(), (3, 256, 256))
    assert g.num_downs == 8  # read from the image size: unet_256
    assert _count(g) == 54_413_955 == _count(OfficialUnetGenerator(3, 3, 8, 64, "batch", use_dropout=True))
    g128 = unet_generator(UnetGeneratorParams(num_downs=7), (3, 128, 128))
    assert _count(g128) == _count(OfficialUnetGenerator(3, 3, 7, 64, "batch", use_dropout=True))  # unet_128
    d = paired_patchgan(PairedPatchGANParams(), (6, 256, 256))  # the pair's shape, as the paired schedule declares
    assert d.stem[0].in_channels == 6 and (d.condition_channels, d.image_channels) == (3, 3)  # A's 3, then B's 3
    assert _count(d) == 2_768_705
    assert sum(isinstance(m, torch.nn.Dropout) for m in g.modules()) == 3  # the three inner 8 x ngf levels


def test_unet_levels_sizes_and_refusals():
    assert [auto_num_downs(s, s) for s in (256, 128, 32, 16)] == [8, 7, 5, 4]
    assert auto_num_downs(48, 48) == 4 and auto_num_downs(64, 32) == 5
    g = unet_generator(UnetGeneratorParams(ngf=4), (3, 32, 32))
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    y = g(x)
    assert y.shape == x.shape and y.abs().max() <= 1  # tanh, same size
    with pytest.raises(RecipeError) as err:
        unet_generator(UnetGeneratorParams(num_downs=6), (3, 32, 32))
    assert err.value.key == "num_downs" and "2**6" in str(err.value)
    with pytest.raises(RecipeError):
        paired_patchgan(PairedPatchGANParams(n_layers=3), (6, 16, 16))
    with pytest.raises(RecipeError, match="pairs"):
        paired_patchgan(PairedPatchGANParams(), (3, 32, 32))  # an image alone is no pair


def test_the_discriminator_judges_pairs_and_refuses_an_image_alone():
    d = PairedPatchGAN(3, 3, ndf=8, n_layers=2)
    a, b = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)
    assert torch.equal(d(b, a), d(torch.cat([a, b], 1)))  # the condition first, as torch.cat((real_A, fake_B), 1)
    assert not torch.equal(d(b, a), d(b, torch.zeros_like(a)))
    with pytest.raises(RuntimeError, match="pairs"):
        d(b)  # never judged without its A
    d.eval()
    with torch.no_grad(), pytest.raises(RuntimeError, match="pairs"):
        d(b)  # not even in eval mode: the builder's dry pass gives it the pair's shape


def test_the_facades_recipe_networks_are_the_official_ones():
    run = build_run(load_recipe(FACADES), with_data=False, stand_in=True)  # the data is not here: its shape
    assert {n: _count(net) for n, net in run.networks.items()} == {"G": 54_413_955, "D": 2_768_705}
    # the schedule declares what it feeds D (gancompose.engine.ScheduleParams.network_inputs): explain shows the pair
    assert run.reports["D"].in_shape == (6, 256, 256) and run.reports["G"].in_shape == (3, 256, 256)
    conv = run.networks["G"].down[3].conv.weight.detach()
    assert abs(float(conv.std()) - 0.02) < 0.002 and abs(float(conv.mean())) < 0.001  # N(0, 0.02)
    bn = run.networks["G"].down[3].norm.weight.detach()
    assert abs(float(bn.mean()) - 1) < 0.01 and 0.01 < float(bn.std()) < 0.03  # N(1, 0.02), as init_weights
    assert run.schedule.params.translations() == {"AtoB": "G"}


def test_validate_and_explain_both_recipes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no data/ here
    res = invoke("validate", SHAPES)
    assert res.exit_code == 0, res.output
    res = invoke("validate", FACADES)
    assert res.exit_code == 0, res.output
    assert "54,413,955" in res.output and "2,768,705" in res.output
    assert "gancompose data download facades --root data" in " ".join(res.output.split())
    res = invoke("explain", FACADES)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "54,413,955" in text and "2,768,705" in text and "(1, 30, 30)" in text  # 70x70 patches of 256 px
    assert "reconstruction (100, 1)" in text and "adversarial (0.5, 1)" in text


# ---------------------------------------------------------------------- the paired schedule
def _fixed_batch(run, seed=0):
    g = torch.Generator().manual_seed(seed)
    n, shape = run.recipe.train.batch_size, run.dataset.sample_shape
    return {"A": torch.rand(n, *shape, generator=g) * 2 - 1, "B": torch.rand(n, *shape, generator=g) * 2 - 1}


def test_one_step_is_the_official_optimize_parameters(tmp_path):
    """One engine step against pix2pix_model.optimize_parameters written out by hand: forward G(A); D on
    (A, G(A)).detach() then (A, B), loss halved, step; then G on D(A, G(A)) + 100 L1, step."""
    run = build_run(load_recipe(SHAPES, _tiny(tmp_path)))
    batch = _fixed_batch(run)
    run.next_batch = lambda: {k: v.clone() for k, v in batch.items()}
    G, D = copy.deepcopy(run.networks["G"]), copy.deepcopy(run.networks["D"])
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real_a, real_b = batch["A"], batch["B"]
    fake_b = G(real_a)
    pred_fake = D(torch.cat((real_a, fake_b), 1).detach())
    pred_real = D(torch.cat((real_a, real_b), 1))
    loss_d = 0.5 * (F.binary_cross_entropy_with_logits(pred_fake, torch.zeros_like(pred_fake))
                    + F.binary_cross_entropy_with_logits(pred_real, torch.ones_like(pred_real)))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    D.requires_grad_(False)
    pred_fake = D(torch.cat((real_a, fake_b), 1))
    loss_g = F.binary_cross_entropy_with_logits(pred_fake, torch.ones_like(pred_fake)) + 100 * F.l1_loss(fake_b, real_b)
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()

    logs = StepLogs()
    run_step(run, 0, logs, _GradSwitch(run.networks))
    for name, ref in (("G", G), ("D", D)):
        ours = run.networks[name].state_dict()
        for key, value in ref.state_dict().items():  # weights and batch-norm statistics (the fake pair first)
            assert torch.allclose(ours[key].float(), value.float(), atol=1e-6, rtol=1e-5), (name, key)
    means = logs.means()
    assert means["discriminator/adversarial"] == pytest.approx(float(loss_d.detach()), rel=1e-5)
    assert means["generator/reconstruction"] == pytest.approx(100 * float(F.l1_loss(fake_b, real_b).detach()),
                                                                  rel=1e-5)


def test_the_discriminator_sees_pairs_and_its_phase_gives_the_generator_no_gradient(tmp_path):
    run = build_run(load_recipe(SHAPES, _tiny(tmp_path)))
    disc_phase, gen_phase = run.schedule.phases(0)
    assert (disc_phase.name, disc_phase.optimizers, gen_phase.name, gen_phase.optimizers) == (
        "discriminator", ("D",), "generator", ("G",))
    assert gen_phase.frozen == ("D",) and "fake_B" in gen_phase.reuse
    channels, g_calls = [], []
    run.networks["D"].stem[0].register_forward_hook(lambda m, args, out: channels.append(args[0].shape[1]))
    run.networks["G"].register_forward_hook(lambda m, args, out: g_calls.append(1))
    G, D = run.networks["G"], run.networks["D"]
    grads = _GradSwitch(run.networks)

    run.schedule.phases = lambda step: [disc_phase]  # the discriminator phase alone
    run_step(run, 0, StepLogs(), grads)
    assert set(channels) == {6}  # (A, B) and (A, G(A)): 3 + 3 channels
    assert all(p.grad is None for p in G.parameters())  # G(A) reaches D detached
    assert all(p.grad is not None for p in D.parameters())

    for p in D.parameters():
        p.grad = None
    run.schedule.phases = lambda step: [gen_phase]  # the generator phase alone
    run_step(run, 1, StepLogs(), grads)
    assert all(p.grad is None for p in D.parameters())  # D frozen
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters() if p.dim() > 1)

    del run.schedule.phases
    g_calls.clear()
    run_step(run, 2, StepLogs(), grads)
    assert len(g_calls) == 1  # one G(A) per step: the generator phase reuses the discriminator phase's


def test_the_schedule_checks_its_networks_and_data(tmp_path):
    with pytest.raises(RecipeError) as err:
        build_run(load_recipe(SHAPES, _tiny(tmp_path, "data={type='unpaired_shapes', image_size=16, size=64}")))
    assert "data.type" in str(err.value) and "paired" in str(err.value)
    with pytest.raises(RecipeError) as err:
        build_run(load_recipe(SHAPES, _tiny(tmp_path, "networks.D={type='patchgan_discriminator', input='data', "
                                                      "ndf=8, n_layers=2}")))
    assert "networks.D.type" in str(err.value) and "conditional = false" in str(err.value.hint)
    with pytest.raises(RecipeError) as err:
        build_run(load_recipe(SHAPES, _tiny(tmp_path, "regularizers[0].network='D'")))
    assert "regularizers[0].network" in str(err.value) and "generator" in str(err.value)
    with pytest.raises(RecipeError) as err:  # the L1 term needs the pair: refused with another schedule
        build_run(load_recipe(SHAPES, _tiny(tmp_path, "schedule={type='alternating', generator='G', "
                                                      "discriminator='D'}")))
    assert "image_pair" in str(err.value)
    with pytest.raises(RecipeError) as err:  # the unconditional ablation feeds images alone: no pair discriminator
        build_run(load_recipe(SHAPES, _tiny(tmp_path, "schedule.conditional=false")))
    assert "networks.D.type" in str(err.value) and "pairs" in str(err.value)


def test_other_pairings_compose(tmp_path):
    """The unconditional ablation with the cycle plugin's PatchGAN, and R1 on the paired discriminator (its
    gradient taken with respect to B, A held fixed)."""
    over = _tiny(tmp_path, "schedule.conditional=false",
                 "networks.D={type='patchgan_discriminator', input='data', ndf=8, n_layers=2}")
    run_recipe(load_recipe(SHAPES, over), max_steps=2, progress=False)
    r1 = _tiny(tmp_path / "r1", "regularizers=[{type='pair_reconstruction', network='G', weight=100.0}, "
                                "{type='r1', network='D', gamma=1.0}]")
    result = run_recipe(load_recipe(SHAPES, r1), max_steps=2, progress=False)
    line = json.loads((result.run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert line["discriminator/r1"] > 0


# ---------------------------------------------------------------------- training, resume
def test_training_brings_the_translation_toward_b(tmp_path):
    recipe = load_recipe(SHAPES, _tiny(tmp_path, "train.log_every=10", "data.size=256"))
    result = run_recipe(recipe, max_steps=60, progress=False)
    lines = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    first, last = lines[0]["generator/reconstruction"], lines[-1]["generator/reconstruction"]
    assert last < 0.7 * first, (first, last)
    grid = Image.open(result.run_dir / "samples" / "latest.png")
    assert grid.size == (3 * 18 + 2, 18 + 2)  # a row of three 16 px images (samples = 4): A, G(A), B


def test_resume_mid_epoch_equals_an_uninterrupted_run(tmp_path):
    def recipe(sub):  # 64 px: a U-Net of 6 levels, so one dropout level draws from the random generator
        return load_recipe(SHAPES, _tiny(tmp_path / sub, "data.image_size=64", "data.size=12", "train.epochs=4"))
    assert any(isinstance(m, torch.nn.Dropout) for m in build_run(recipe("x"), with_data=False).networks["G"].modules())
    full = run_recipe(recipe("a"), max_steps=8, progress=False)  # 3 steps per epoch, the rate decays per epoch
    first = run_recipe(recipe("b"), max_steps=4, progress=False)
    second = run_recipe(recipe("b"), resume=first.last_checkpoint, max_steps=8, progress=False)
    a, b = Checkpoint(full.last_checkpoint).tensors(), Checkpoint(second.last_checkpoint).tensors()
    assert a.keys() == b.keys()
    for key in a:
        assert key.startswith("rng") or torch.equal(a[key], b[key]), key


# ------------------------------------------------------------------------ import, translate
def _official_file(tmp_path, norm="batch", ngf=8, num_downs=8, seed=0) -> tuple[Path, OfficialUnetGenerator]:
    torch.manual_seed(seed)
    net = OfficialUnetGenerator(3, 3, num_downs, ngf, norm, use_dropout=True)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.05)
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):  # statistics as after training
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.num_batches_tracked.fill_(1000)
    path = tmp_path / f"latest_net_G_{norm}.pth"
    torch.save(net.state_dict(), path)
    return path, net.eval()


def test_the_key_table_covers_the_full_size_official_generator():
    official = OfficialUnetGenerator(3, 3, 8, 64, "batch", use_dropout=True).state_dict()
    assert sorted(rename(official, Config())) == sorted(UnetGenerator().state_dict())
    assert len(key_table(8)) == 2 + 4 * 6 + 3


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_import_pix2pix_gives_the_official_outputs(tmp_path, norm):
    from gancompose import load_generator
    src, official = _official_file(tmp_path, norm)
    res = invoke("import", "pix2pix", src, "-o", tmp_path / "g.safetensors")
    assert res.exit_code == 0, res.output
    assert f"norm={norm}" in res.output and "num_downs=8" in res.output
    g = load_generator(tmp_path / "g.safetensors")
    assert type(g) is UnetGenerator and not g.training
    x = torch.rand(2, 3, 256, 256, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        diff = float((g(x) - official(x.clone())).abs().max())
    assert diff < 1e-5
    from safetensors import safe_open
    with safe_open(str(tmp_path / "g.safetensors"), "pt") as f:
        info = json.loads(f.metadata()["source"])
    assert info["format"] == "pix2pix" and info["file"] == src.name


def test_import_pix2pix_refuses_what_is_not_an_official_generator(tmp_path):
    evil = tmp_path / "evil.pth"
    torch.save({"model.model.0.weight": torch.zeros(1), "x": io.BytesIO(b"code")}, evil)
    out = refusal(invoke("import", "pix2pix", evil, "-o", tmp_path / "e.safetensors"))
    assert "weights_only" in out or "run code" in out
    resnet = tmp_path / "resnet.pth"
    torch.save({"model.1.weight": torch.zeros(8, 3, 7, 7)}, resnet)
    out = refusal(invoke("import", "pix2pix", resnet, "-o", tmp_path / "r.safetensors"))
    assert "import cyclegan" in out
    assert not (tmp_path / "e.safetensors").exists() and not (tmp_path / "r.safetensors").exists()


def _write(folder: Path, n: int, size=(24, 20), seed=0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    for i in range(n):
        arr = (torch.rand(size[1], size[0], 3, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(arr).save(folder / f"{i:03d}.png")


def test_translate_a_run_checkpoint_and_an_imported_file(tmp_path):
    ckpt = run_recipe(load_recipe(SHAPES, _tiny(tmp_path)), max_steps=2, progress=False).last_checkpoint
    _write(tmp_path / "in", 3)
    res = invoke("translate", ckpt, "--input", tmp_path / "in", "--output", tmp_path / "x")
    assert res.exit_code == 2 and "AtoB" in res.output  # a run checkpoint: --direction names the generator
    res = invoke("translate", ckpt, "--direction", "AtoB", "--input", tmp_path / "in", "--output", tmp_path / "out")
    assert res.exit_code == 0, res.output
    assert [p.name for p in sorted((tmp_path / "out").glob("*.png"))] == ["000.png", "001.png", "002.png"]
    assert Image.open(tmp_path / "out" / "000.png").size == (16, 16)  # the recipe's size (16 under tiny overrides)
    res = invoke("sample", ckpt, "-o", tmp_path / "s.png")
    assert res.exit_code == 2 and "gancompose translate" in res.output

    src, _ = _official_file(tmp_path, ngf=4, num_downs=6)
    assert invoke("import", "pix2pix", src, "-o", tmp_path / "g.safetensors", "--image-size", 64).exit_code == 0
    res = invoke("translate", tmp_path / "g.safetensors", "--input", tmp_path / "in", "--output", tmp_path / "imp",
                 "--side-by-side")
    assert res.exit_code == 0, res.output
    assert Image.open(tmp_path / "imp" / "000.png").size == (128, 64)  # input and translation at 64 px


def test_translate_in_train_mode_is_the_official_test_script(tmp_path):
    """``--train-mode``: what the official test.py computes without --eval (batch 1, batch statistics, dropout on),
    with dropout masks drawn from --seed; the default (eval mode) is a different function of the image."""
    from gancompose.data.images import load_image, to_unit_range
    src, official = _official_file(tmp_path, ngf=4, num_downs=6)
    assert invoke("import", "pix2pix", src, "-o", tmp_path / "g.safetensors", "--image-size", 64).exit_code == 0
    _write(tmp_path / "in", 2, size=(64, 64))
    for out, more in (("train", ["--train-mode", "--seed", "3"]), ("again", ["--train-mode", "--seed", "3"]),
                      ("eval", [])):
        res = invoke("translate", tmp_path / "g.safetensors", "--input", tmp_path / "in", "--output", tmp_path / out,
                     *more)
        assert res.exit_code == 0, res.output
    png = {out: [torch.from_numpy(__import__("numpy").array(Image.open(tmp_path / out / f"{i:03d}.png"))).int()
                 for i in range(2)] for out in ("train", "again", "eval")}
    def as_png(y):
        return ((y + 1) / 2).clamp(0, 1).mul(255).add(0.5).to(torch.uint8).permute(1, 2, 0).int()

    xs = [to_unit_range(load_image(tmp_path / "in" / f"{i:03d}.png", 3, (64, 64)))[None] for i in range(2)]
    with torch.no_grad():
        official.train()
        torch.manual_seed(3)
        trained = [official(x)[0] for x in xs]  # one at a time, as the official test.py with batch_size 1
        official.eval()
        evaluated = [official(x)[0] for x in xs]
    for i in range(2):
        assert (png["train"][i] - as_png(trained[i])).abs().max() <= 1, i
        assert (png["eval"][i] - as_png(evaluated[i])).abs().max() <= 1, i
        assert (trained[i] - evaluated[i]).abs().max() > 0.02  # two functions of the image, apart by > 2 PNG levels
    assert all(torch.equal(a, b) for a, b in zip(png["train"], png["again"]))  # the seed fixes the dropout masks


# ---------------------------------------------------------------------------- paired data
def _pair_image(path: Path, left: torch.Tensor, right: torch.Tensor) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    both = torch.cat([left, right], dim=2).permute(1, 2, 0).numpy()  # [H, 2W, 3]
    Image.fromarray(both).save(path)


def test_paired_folders_jitter_both_halves_together(tmp_path):
    g = torch.Generator().manual_seed(0)
    for i in range(4):  # each pair's two halves are the same picture
        half = (torch.rand(3, 20, 20, generator=g) * 255).to(torch.uint8)
        _pair_image(tmp_path / "set" / "train" / f"{i}.png", half, half)
    ds = PairedFolders(PairedFoldersParams(root=str(tmp_path / "set"), image_size=16, load_size=20))
    assert len(ds) == 4 and ds.sample_shape == (3, 16, 16)
    plain = PairedFolders(PairedFoldersParams(root=str(tmp_path / "set"), image_size=16, load_size=20, hflip=False))
    flipped = 0
    for seed in range(12):
        item = ds[(1, seed)]
        assert torch.equal(item["A"], item["B"])  # one crop and one flip for both halves
        flipped += not torch.equal(item["A"], plain[(1, seed)]["A"])
    assert 0 < flipped < 12


def test_paired_folders_split_the_halves_in_the_direction_asked(tmp_path):
    red, blue = torch.zeros(3, 8, 8, dtype=torch.uint8), torch.zeros(3, 8, 8, dtype=torch.uint8)
    red[0], blue[2] = 255, 255
    _pair_image(tmp_path / "set" / "train" / "0.png", red, blue)
    kw = dict(root=str(tmp_path / "set"), image_size=8, preprocess="resize", hflip=False)
    a_to_b = PairedFolders(PairedFoldersParams(**kw))[(0, 0)]
    b_to_a = PairedFolders(PairedFoldersParams(**kw, direction="BtoA"))[(0, 0)]
    assert a_to_b["A"][0].mean() > 0.9 and a_to_b["B"][2].mean() > 0.9  # A: left half (red)
    assert b_to_a["A"][2].mean() > 0.9 and b_to_a["B"][0].mean() > 0.9
    with pytest.raises(DataError, match="does not exist"):
        PairedFolders(PairedFoldersParams(**{**kw, "root": str(tmp_path / "nothing")}))


@pytest.fixture
def small_facades(tmp_path, monkeypatch):
    """A facades.tar.gz with 3 training pairs (512x256 as the official ones, scaled down), the count patched."""
    monkeypatch.setitem(archives.ARCHIVES, "facades", {"train": 3})
    src = tmp_path / "src" / "facades"
    g = torch.Generator().manual_seed(0)
    for split, n in (("train", 3), ("val", 1), ("test", 2)):
        for i in range(n):
            halves = (torch.rand(2, 3, 16, 16, generator=g) * 255).to(torch.uint8)
            _pair_image(src / split / f"{i + 1}.jpg", halves[0], halves[1])
    served = tmp_path / "served"
    served.mkdir()
    with tarfile.open(served / "facades.tar.gz", "w:gz") as tf:
        tf.add(src, arcname="facades")
    return served / "facades.tar.gz"


def test_data_prepare_facades_unpacks_and_verifies(small_facades, tmp_path):
    res = invoke("data", "prepare", "facades", "--from", small_facades, "--root", tmp_path / "data")
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "data" / "facades" / "train").glob("*.jpg"))) == 3
    assert not [p for p in (tmp_path / "data").iterdir() if p.name.startswith(".")]  # no temporary left
    recipe = load_recipe(FACADES, [f"data.root='{(tmp_path / 'data' / 'facades').as_posix()}'", "data.image_size=16",
                                   "data.load_size=18", "networks.G.ngf=4", "networks.D.ndf=4",
                                   "networks.D.n_layers=2", f"train.output_dir='{tmp_path.as_posix()}/runs'",
                                   "train.sample_every=0", "train.checkpoint_every=0", 'train.device="cpu"',
                                   "train.num_workers=0"])
    result = run_recipe(recipe, max_steps=2, progress=False)  # the official recipe on the prepared folder
    assert (result.run_dir / "checkpoints" / "last.safetensors").is_file()
    archives.ARCHIVES["facades"]["train"] = 4  # an archive with a pair missing is refused, naming the counts
    out = refusal(invoke("data", "prepare", "facades", "--from", small_facades, "--root", tmp_path / "data2"))
    assert "train: 3 images, expected 4" in out and not (tmp_path / "data2" / "facades").exists()


def test_data_prepare_refuses_links_and_paths_outside(tmp_path, monkeypatch):
    monkeypatch.setitem(archives.ARCHIVES, "facades", {"train": 1})
    expected = {"link": "a symbolic link", "hardlink": "a hard link", "escape": "outside"}
    for name in expected:
        member = tarfile.TarInfo("../x.jpg" if name == "escape" else "facades/train/1.jpg")
        bad = tmp_path / f"{name}.tar.gz"
        with tarfile.open(bad, "w:gz") as tf:
            ok = tarfile.TarInfo("facades/train/0.jpg")
            ok.size = 3
            tf.addfile(ok, io.BytesIO(b"abc"))
            if name == "escape":
                member.size = 3
                tf.addfile(member, io.BytesIO(b"abc"))
            else:
                member.type = tarfile.SYMTYPE if name == "link" else tarfile.LNKTYPE
                member.linkname = "/etc/passwd"
                tf.addfile(member)
        out = refusal(invoke("data", "prepare", "facades", "--from", bad, "--root", tmp_path / "d"))
        assert expected[name] in out, out
        assert not (tmp_path / "d" / "facades").exists()


def test_data_download_facades_through_a_local_server(small_facades, tmp_path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(small_facades.parent))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        mirror = f"http://127.0.0.1:{server.server_address[1]}/"
        res = invoke("data", "download", "facades", "--root", tmp_path / "data", "--mirror", mirror)
        assert res.exit_code == 0, res.output
        assert len(list((tmp_path / "data" / "facades" / "test").glob("*.jpg"))) == 2
        out = refusal(invoke("data", "download", "facades", "--root", tmp_path / "d2", "--mirror", mirror + "no/"))
        assert "could not download" in out and "data prepare facades" in out
    finally:
        server.shutdown()
    assert archives.BASE_URL + "facades.tar.gz" == "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/facades.tar.gz"


def test_facades_recipe_without_data_names_both_commands(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = " ".join(refusal(invoke("run", FACADES, "--max-steps", "1")).split())
    assert "gancompose data download facades --root data" in out
    assert "gancompose data prepare facades --from facades.tar.gz --root data" in out
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.safetensors"))
    res = invoke("recipes", "--json")
    rows = {r["name"]: r for r in json.loads(res.output)}
    assert "gancompose data download facades" in rows["pix2pix_facades"]["status"]
    assert rows["pix2pix_shapes"]["status"] == "generated (no download)"
