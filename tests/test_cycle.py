"""Cycle pairs (CycleGAN): networks against the official counts, the image pool, the per-epoch learning
rate, unpaired data, the cycle and identity terms, resume, translate, and the monet2photo data commands."""
from __future__ import annotations

import functools
import http.server
import threading
import zipfile
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from conftest import ROOT, tiny_overrides
from gancompose.builder import build_run
from gancompose.checkpoint import Checkpoint
from gancompose.cli import cli
from gancompose.errors import DataError, RecipeError
from gancompose_cycle.reference import OfficialResnetGenerator
from gancompose.recipe import load_raw, load_recipe
from gancompose.runner import run_recipe
from gancompose_core.lr_schedules import EpochLinearDecay, EpochLinearDecayParams
from gancompose_cycle import archives
from gancompose_cycle.networks import (PatchGANParams, ResnetGeneratorParams, patchgan_discriminator,
                                       resnet_generator)
from gancompose_cycle.pool import ImagePool
from gancompose_cycle.terms import CycleConsistency, Identity, PairTermParams
from gancompose_cycle.unpaired import UnpairedFolders, UnpairedFoldersParams, UnpairedTensors
from gancompose_cycle.views import GeneratorView

SHAPES = ROOT / "recipes" / "cyclegan_shapes.toml"
MONET = ROOT / "recipes" / "cyclegan_monet2photo.toml"


def _count(net) -> int:
    return sum(p.numel() for p in net.parameters())


# ------------------------------------------------------------------------------ networks
def test_parameter_counts_equal_the_official_implementation():
    g9 = resnet_generator(ResnetGeneratorParams(), (3, 256, 256))
    g6 = resnet_generator(ResnetGeneratorParams(n_blocks=6), (3, 128, 128))
    d = patchgan_discriminator(PatchGANParams(), (3, 256, 256))
    assert _count(g9) == 11_378_179 == _count(OfficialResnetGenerator(n_blocks=9))
    assert _count(g6) == 7_837_699 == _count(OfficialResnetGenerator(n_blocks=6))
    assert _count(d) == 2_764_737


def test_shapes_and_patch_map():
    g = resnet_generator(ResnetGeneratorParams(ngf=8, n_blocks=2), (3, 64, 64))
    d = patchgan_discriminator(PatchGANParams(ndf=8), (3, 256, 256))
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    y = g(x)
    assert y.shape == x.shape and y.abs().max() <= 1  # tanh output, same size
    assert d(torch.zeros(1, 3, 256, 256)).shape == (1, 1, 30, 30)  # 70x70 patches of a 256 image


def test_the_recipe_networks_are_the_official_ones():
    run = build_run(load_recipe(MONET, ["data={type='unpaired_shapes', size=4, image_size=32}",
                                        "data.image_size=32"]), with_data=False)
    assert {n: _count(net) for n, net in run.networks.items()} == {
        "G_AB": 11_378_179, "G_BA": 11_378_179, "D_A": 2_764_737, "D_B": 2_764_737}
    conv = run.networks["G_AB"].blocks[0].conv1.weight
    conv = conv.detach()
    assert abs(float(conv.std()) - 0.02) < 0.002 and abs(float(conv.mean())) < 0.001  # N(0, 0.02) init


def test_like_declares_the_pair_once_and_reports_bad_names(tmp_path):
    recipe = load_recipe(SHAPES)
    assert recipe.networks["G_BA"] == recipe.networks["G_AB"]
    assert recipe.optimizers["D_B"] == recipe.optimizers["G_AB"]
    # an override of the original reaches its copy
    recipe = load_recipe(SHAPES, ["networks.G_AB.ngf=16"])
    assert recipe.networks["G_BA"].ngf == 16
    bad = tmp_path / "bad.toml"
    bad.write_text(SHAPES.read_text().replace('like = "G_AB"', 'like = "G_A"', 1))
    with pytest.raises(RecipeError) as err:
        load_recipe(bad)
    assert "networks.G_BA.like" in str(err.value) and "G_AB" in str(err.value)


# ------------------------------------------------------------------------------ image pool
def test_image_pool_fills_then_returns_past_fakes_half_the_time():
    torch.manual_seed(0)
    pool = ImagePool(50, (1, 1, 1), torch.device("cpu"))
    for i in range(50):  # while filling: every image comes straight back and is stored
        assert float(pool.query(torch.full((1, 1, 1, 1), float(i)))) == i
    assert pool.count == 50 and sorted(pool.images.flatten().tolist()) == list(range(50))
    stored_before = set(pool.images.flatten().tolist())
    past = 0
    n = 2000
    for i in range(n):
        new = 1000.0 + i
        out = float(pool.query(torch.full((1, 1, 1, 1), new)))
        if out != new:
            past += 1
            assert out in stored_before or out >= 1000  # an image that was stored earlier
            assert new in pool.images.flatten().tolist()  # ... and the new one took its place
        stored_before = set(pool.images.flatten().tolist())
    assert abs(past / n - 0.5) < 0.05


def test_image_pool_of_size_zero_passes_through_and_state_round_trips():
    x = torch.randn(3, 2, 4, 4)
    assert torch.equal(ImagePool(0, (2, 4, 4), torch.device("cpu")).query(x), x)
    a = ImagePool(4, (2, 4, 4), torch.device("cpu"))
    a.query(torch.randn(3, 2, 4, 4))
    b = ImagePool(4, (2, 4, 4), torch.device("cpu"))
    b.load_state_dict(a.state_dict())
    assert b.count == 3 and torch.equal(a.images, b.images)


# --------------------------------------------------------------------------- learning rate
def test_official_linear_policy_at_epochs_0_100_150_200():
    f = EpochLinearDecay(EpochLinearDecayParams(constant_epochs=100, decay_epochs=100))
    assert f(0, 200) == 1.0 and f(99, 200) == 1.0
    assert f(100, 200) == pytest.approx(100 / 101)
    assert f(150, 200) == pytest.approx(50 / 101)
    assert f(200, 200) == 0.0


def test_learning_rate_follows_the_epochs_of_the_data(tmp_path):
    # 64 images per domain at batch 4: 16 steps per epoch; 2 constant epochs, 2 decaying
    recipe = load_recipe(SHAPES, [*tiny_overrides(load_raw(SHAPES), tmp_path)])
    run = build_run(recipe)
    assert run.steps_per_epoch == 16 and run.total_steps == 4 * 16
    lrs = {}
    for step in (0, 31, 32, 48, 63):
        run.apply_lr(step)
        lrs[step] = run.optimizers["G_AB"].param_groups[0]["lr"]
    assert lrs[0] == lrs[31] == pytest.approx(2e-4)
    assert lrs[32] == pytest.approx(2e-4 * 2 / 3) and lrs[48] == pytest.approx(2e-4 * 1 / 3)
    assert lrs[63] == lrs[48]  # changed once per epoch


# ---------------------------------------------------------------------------- unpaired data
def _tensors(na, nb):
    a = torch.arange(na, dtype=torch.uint8).view(na, 1, 1, 1).expand(na, 1, 2, 2).contiguous()
    b = (100 + torch.arange(nb, dtype=torch.uint8)).view(nb, 1, 1, 1).expand(nb, 1, 2, 2).contiguous()
    return UnpairedTensors(a, b)


def _ids(batch):
    return [round((float(v) + 1) * 127.5) for v in batch[:, 0, 0, 0]]


def test_unpaired_sampling_draws_b_independently_of_a():
    from gancompose.data import BatchStream
    ds = _tensors(5, 12)  # an epoch has max(5, 12) = 12 items; A cycles, B is random
    stream = BatchStream(ds, 4, seed=3, device=torch.device("cpu"))
    partners: dict[int, set[int]] = {}
    for epoch in range(30):
        a_seen = []
        for _ in range(3):
            batch = stream.next()
            a_ids, b_ids = _ids(batch["A"]), _ids(batch["B"])
            a_seen += a_ids
            for a, b in zip(a_ids, b_ids):
                assert 100 <= b < 112
                partners.setdefault(a, set()).add(b)
        assert sorted(a_seen) == sorted(i % 5 for i in range(12))  # every A image, i % len(A)
    # each A image meets many B images over the epochs: the pairing is not fixed
    assert all(len(bs) >= 8 for bs in partners.values())
    # the same stream state gives the same batches (what resuming relies on)
    ref = BatchStream(ds, 4, seed=3, device=torch.device("cpu"))
    for _ in range(7):
        ref.next()
    epoch, position = ref.state()
    again = BatchStream(ds, 4, seed=3, device=torch.device("cpu"), epoch=epoch, position=position)
    x, y = again.next(), ref.next()
    assert torch.equal(x["A"], y["A"]) and torch.equal(x["B"], y["B"])


def _write_images(folder: Path, n: int, colour: int, size=(40, 30)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", size, (colour, i * 10 % 255, 0)).save(folder / f"{i:03d}.png")


def test_unpaired_folders_resize_crop_flip_to_unit_range(tmp_path):
    _write_images(tmp_path / "trainA", 3, 250)
    _write_images(tmp_path / "trainB", 5, 10)
    ds = UnpairedFolders(UnpairedFoldersParams(root=str(tmp_path), image_size=16, load_size=20))
    assert len(ds) == 5 and ds.sample_shape == (3, 16, 16)
    item = ds[(4, 123)]
    assert item["A"].shape == item["B"].shape == (3, 16, 16)
    assert item["A"].min() >= -1 and item["A"].max() <= 1
    assert float(item["A"][0].mean()) > 0.9 and float(item["B"][0].mean()) < -0.9  # red channel: A 250, B 10
    assert torch.equal(ds[(4, 123)]["B"], item["B"])  # the seed decides everything
    with pytest.raises(DataError) as err:
        UnpairedFolders(UnpairedFoldersParams(root=str(tmp_path / "missing")))
    assert "trainA" in str(err.value) and "trainB" in str(err.value.hint)


# --------------------------------------------------------------------------- cycle terms
class _Pair:
    roles = {"G_AB": "G_AB", "G_BA": "G_BA"}

    def __init__(self, g_ab, g_ba):
        self.nets = {"G_AB": g_ab, "G_BA": g_ba}


class _Ctx:
    """The StepContext surface a view reads: the batch, the step cache, networks by name."""

    def __init__(self, batch, nets):
        self.batch, self._cache, self.nets = batch, {}, nets

    def remember(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def network(self, name):
        return self.nets[name]


def test_cycle_and_identity_terms_on_known_tensors():
    a, b = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.25)
    calls = []

    def g_ab(x):
        calls.append("AB")
        return x + 1.0

    pair = _Pair(g_ab, lambda x: x - 0.5)  # G_AB adds 1, G_BA takes 0.5 away
    ctx = _Ctx({"A": a, "B": b}, pair.nets)
    forward, backward = GeneratorView(ctx, pair, "A"), GeneratorView(ctx, pair, "B")
    cyc = CycleConsistency(PairTermParams(network="G_AB"))
    idt = Identity(PairTermParams(network="G_AB"))
    assert float(cyc(forward)) == pytest.approx(0.5)      # |(a + 1 - 0.5) - a|
    assert float(cyc(backward)) == pytest.approx(0.5)     # |(b - 0.5 + 1) - b|
    assert float(idt(forward)) == pytest.approx(1.0)      # |G_AB(b) - b|
    assert float(idt(backward)) == pytest.approx(0.5)     # |G_BA(a) - a|
    l2 = CycleConsistency(PairTermParams(network="G_AB", distance="l2"))
    assert float(l2(forward)) == pytest.approx(0.25)
    # each translation is computed once per step and shared by the terms reading it:
    # G_AB(a), G_AB(b) (identity) and G_AB(G_BA(b)) (the backward cycle)
    assert len(calls) == 3


def test_cycle_terms_need_the_cycle_schedule(tmp_path):
    path = ROOT / "recipes" / "dcgan_shapes.toml"
    with pytest.raises(RecipeError) as err:  # refused while validating, before any network is built
        load_recipe(path, [*tiny_overrides(load_raw(path), tmp_path),
                           "regularizers=[{type='cycle_consistency', network='generator'}]"])
    msg = str(err.value)  # names both components and what is missing
    assert "regularizers[0].type" in msg and "'cycle_consistency'" in msg and "'alternating'" in msg
    assert "cycle_pair" in msg and "provided by schedule 'cycle'" in msg


def test_other_pairings_compose_hinge_spectral_norm_gradient_penalty(tmp_path):
    recipe = load_recipe(SHAPES, [*tiny_overrides(load_raw(SHAPES), tmp_path), "loss={type='hinge'}",
                                  "networks.D_A.spectral_norm=true",
                                  "regularizers=[{type='cycle_consistency', network='G_AB', weight=10.0}, "
                                  "{type='cycle_consistency', network='G_BA', weight=10.0}, "
                                  "{type='gradient_penalty', network='D_B', weight=1.0}]"])
    result = run_recipe(recipe, max_steps=2, progress=False)
    assert result.run.state.step == 2
    assert "discriminators/gradient_penalty_D_B" in result.run_dir.joinpath("metrics.jsonl").read_text()
    # spectral norm set on D_A reaches D_B, declared `like = "D_A"`
    assert all(hasattr(result.run.networks[d].stem[0], "parametrizations") for d in ("D_A", "D_B"))
    assert not hasattr(result.run.networks["G_AB"].stem.conv, "parametrizations")


def test_cycle_schedule_checks_its_networks_and_data(tmp_path):
    over = tiny_overrides(load_raw(SHAPES), tmp_path)
    with pytest.raises(RecipeError) as err:
        build_run(load_recipe(SHAPES, [*over, "schedule.D_B='D_C'"]))
    assert "schedule.D_B" in str(err.value) and "D_B" in str(err.value.hint)
    with pytest.raises(RecipeError) as err:
        build_run(load_recipe(SHAPES, [*over, "data={type='shapes', image_size=32, size=64}"]))
    assert "data.type" in str(err.value) and "unpaired" in str(err.value)


# ---------------------------------------------------------------------- training, resume
def test_training_lowers_the_cycle_loss(tmp_path):
    recipe = load_recipe(SHAPES, [*tiny_overrides(load_raw(SHAPES), tmp_path), "train.log_every=10",
                                  "train.epochs=5"])
    result = run_recipe(recipe, max_steps=60, progress=False)
    import json
    lines = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    lines = [x for x in lines if "img_per_s" in x]  # the training lines (the translation metric adds its own)
    first, last = lines[0], lines[-1]
    assert last["generators/cycle_G_AB"] < 0.7 * first["generators/cycle_G_AB"]
    assert last["generators/identity_G_BA"] < 0.7 * first["generators/identity_G_BA"]
    grid = Image.open(sorted((result.run_dir / "samples").glob("*.png"))[-1])
    assert grid.size[0] > grid.size[1]  # rows of six: a, G_AB(a), G_BA(G_AB(a)), b, G_BA(b), G_AB(G_BA(b))


def test_resume_mid_epoch_equals_an_uninterrupted_run(tmp_path):
    def recipe(sub):
        return load_recipe(SHAPES, [*tiny_overrides(load_raw(SHAPES), tmp_path / sub), "data.size=12",
                                    "schedule.pool_size=5", "train.epochs=4"])
    full = run_recipe(recipe("a"), max_steps=11, progress=False)  # 3 steps per epoch, pool full after 5
    first = run_recipe(recipe("b"), max_steps=7, progress=False)
    second = run_recipe(recipe("b"), resume=first.last_checkpoint, max_steps=11, progress=False)
    a, b = Checkpoint(full.last_checkpoint).tensors(), Checkpoint(second.last_checkpoint).tensors()
    assert a.keys() == b.keys() and any(k.startswith("schedule.pool_A") for k in a)
    for key in a:
        assert key.startswith("rng") or torch.equal(a[key], b[key]), key


# ------------------------------------------------------------------------------- translate
def test_translate_cli_on_a_tiny_checkpoint(tmp_path):
    recipe = load_recipe(SHAPES, tiny_overrides(load_raw(SHAPES), tmp_path))
    ckpt = run_recipe(recipe, max_steps=2, progress=False).last_checkpoint
    _write_images(tmp_path / "in" / "sub", 3, 200, size=(50, 40))
    res = CliRunner().invoke(cli, ["translate", str(ckpt), "--direction", "AtoB", "--input", str(tmp_path / "in"),
                                   "--output", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    outs = sorted((tmp_path / "out" / "sub").glob("*.png"))
    assert [p.name for p in outs] == ["000.png", "001.png", "002.png"]
    assert Image.open(outs[0]).size == (16, 16)  # the recipe's image size (16 under the tiny overrides)
    res = CliRunner().invoke(cli, ["translate", str(ckpt), "--direction", "BtoA", "--input", str(tmp_path / "in"),
                                   "--output", str(tmp_path / "pairs"), "--side-by-side", "--size", "24"])
    assert res.exit_code == 0 and Image.open(tmp_path / "pairs" / "sub" / "000.png").size == (48, 24)
    res = CliRunner().invoke(cli, ["translate", str(ckpt), "--direction", "AtoC", "--input", str(tmp_path / "in"),
                                   "--output", str(tmp_path / "x")])
    assert res.exit_code == 2 and "AtoB" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(cli, ["sample", str(ckpt), "-o", str(tmp_path / "s.png")])
    assert res.exit_code == 2 and "gancompose translate" in res.output
    res = CliRunner().invoke(cli, ["eval", str(ckpt), "--metric", "translation:classifier_steps=5,samples=16",
                                   "--json"])
    assert res.exit_code == 0, res.output
    assert '"AtoB_domain"' in res.output and '"BtoA_cycle"' in res.output


# ---------------------------------------------------------------------- data download/prepare
@pytest.fixture
def small_monet(tmp_path, monkeypatch):
    """A monet2photo.zip with 3/4/2/1 images, and the expected counts patched to match."""
    monkeypatch.setitem(archives.ARCHIVES, "monet2photo", {"trainA": 3, "trainB": 4, "testA": 2, "testB": 1})
    src = tmp_path / "src"
    for folder, n in (("trainA", 3), ("trainB", 4), ("testA", 2), ("testB", 1)):
        _write_images(src / "monet2photo" / folder, n, 100)
    served = tmp_path / "served"
    served.mkdir()
    with zipfile.ZipFile(served / "monet2photo.zip", "w") as zf:
        for f in sorted(src.rglob("*.png")):
            zf.write(f, f.relative_to(src).as_posix())
    return served / "monet2photo.zip"


def test_data_prepare_unpacks_and_verifies(small_monet, tmp_path):
    res = CliRunner().invoke(cli, ["data", "prepare", "monet2photo", "--from", str(small_monet),
                                   "--root", str(tmp_path / "data")])
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "data" / "monet2photo" / "trainB").glob("*.png"))) == 4
    assert not [p for p in (tmp_path / "data").iterdir() if p.name.startswith(".")]  # no temporary left
    # an archive with a missing image is refused, and names the counts
    archives.ARCHIVES["monet2photo"]["trainB"] = 5
    res = CliRunner().invoke(cli, ["data", "prepare", "monet2photo", "--from", str(small_monet),
                                   "--root", str(tmp_path / "data2")])
    assert res.exit_code == 2 and "trainB: 4 images, expected 5" in res.output


def test_data_download_through_a_local_server(small_monet, tmp_path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(small_monet.parent))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        mirror = f"http://127.0.0.1:{server.server_address[1]}/"
        res = CliRunner().invoke(cli, ["data", "download", "monet2photo", "--root", str(tmp_path / "data"),
                                       "--mirror", mirror])
        assert res.exit_code == 0, res.output
        ds = UnpairedFolders(UnpairedFoldersParams(root=str(tmp_path / "data" / "monet2photo"), split="test",
                                                   image_size=16, load_size=20))
        assert len(ds.files["A"]) == 2 and len(ds.files["B"]) == 1
        res = CliRunner().invoke(cli, ["data", "download", "monet2photo", "--root", str(tmp_path / "d2"),
                                       "--mirror", mirror + "nothing/"])
        assert res.exit_code == 2 and "could not download" in res.output and "data prepare" in res.output
    finally:
        server.shutdown()


def test_monet_recipe_without_data_names_both_commands(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["run", str(MONET), "--max-steps", "1"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    text = " ".join(res.output.split())
    assert "gancompose data download monet2photo --root data" in text
    assert "gancompose data prepare monet2photo --from monet2photo.zip --root data" in text


def test_translation_metric_tells_identity_from_translation(tmp_path):
    from gancompose_cycle.metrics import Translation, TranslationParams
    recipe = load_recipe(SHAPES, [*tiny_overrides(load_raw(SHAPES), tmp_path), "data.size=96"])
    run = build_run(recipe)
    for name in ("G_AB", "G_BA"):  # generators that change nothing
        run.networks[name] = torch.nn.Identity()
    scores = Translation(TranslationParams(samples=64, classifier_steps=150, batch_size=32))(run)
    assert scores["AtoB_cycle"] == 0 and scores["BtoA_cycle"] == 0
    assert scores["AtoB_domain"] < 0.1 and scores["BtoA_domain"] < 0.1  # nothing left its domain
    # the other way round: swapping the domains' images, the domain classifier says "translated"
    swap = {"A": run.dataset.images["B"], "B": run.dataset.images["A"]}
    assert run.dataset.images["A"].float().mean() > swap["A"].float().mean()  # paper is lighter than neon


def test_ada_on_a_pair_observes_each_discriminators_reals(tmp_path):
    from gancompose.engine.augment import augmentation_of
    from gancompose.engine.loop import StepLogs, _GradSwitch, run_step
    recipe = load_recipe(SHAPES, [*tiny_overrides(load_raw(SHAPES), tmp_path), "metrics=[]",
                                  "networks.D_A.augment={type='ada'}"])  # D_B is like D_A
    run = build_run(recipe)
    seen = {d: [] for d in ("D_A", "D_B")}
    for d in seen:
        aug = augmentation_of(run.networks[d])
        aug.observe = (lambda orig, log: lambda out: (log.append(out.shape[0]), orig(out))[1])(aug.observe, seen[d])
    logs, grads = StepLogs(), _GradSwitch(run.networks)
    for step in range(3):
        run_step(run, step, logs, grads)
    assert seen == {"D_A": [4, 4, 4], "D_B": [4, 4, 4]}  # one real batch of its own domain per step
