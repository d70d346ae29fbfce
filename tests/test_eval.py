"""Evaluation (plugin ``gancompose_eval``): FID/KID/IS/precision-recall arithmetic against closed forms and scipy,
the FID Inception (architecture, local weights, the missing-weights error), classifier features, and the ``eval``
and ``plot`` commands on a trained ring. Mode coverage is the core plugin's (tests/test_core.py); packing is
tests/test_pacgan.py's."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from gancompose.cli import cli
from gancompose.errors import GancomposeError
from gancompose.recipe import load_raw, load_recipe
from gancompose_eval import stats
from gancompose_eval.inception import WEIGHTS_FILE, WEIGHTS_URL, FIDInception, FeatureWeightsMissing, find_weights

from conftest import ROOT, tiny_overrides


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small tensors: one thread avoids OpenMP synchronisation, which dominates on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def invoke(*args):
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, [str(a) for a in args])


def _spd(d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


# ------------------------------------------------------------------------------------------ FID arithmetic
def test_gaussian_stats_match_numpy():
    x = torch.randn(300, 5, generator=torch.Generator().manual_seed(0)) * torch.tensor([1, 2, 3, 4, 5.0])
    mu, sigma = stats.gaussian_stats(x)
    assert np.allclose(mu.numpy(), x.double().numpy().mean(0))
    assert np.allclose(sigma.numpy(), np.cov(x.double().numpy(), rowvar=False))


def test_matrix_square_root_against_scipy():
    linalg = pytest.importorskip("scipy.linalg")
    a, b = _spd(12, 1), _spd(12, 2)
    root = stats.sqrtm_psd(a)
    assert torch.allclose(root @ root, a, atol=1e-10)
    assert np.allclose(root.numpy(), linalg.sqrtm(a.numpy()).real, atol=1e-8)
    expected = np.trace(linalg.sqrtm(a.numpy() @ b.numpy())).real
    assert float(stats.trace_sqrt_product(a, b)) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    a, b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 0.25])
    mu1, mu2 = torch.zeros(3), torch.tensor([1.0, -2.0, 0.5])
    expected = float((mu1 - mu2).pow(2).sum() + (a.sqrt() - b.sqrt()).pow(2).sum())  # = 5.25 + 1 + 1 + 6.25
    assert stats.frechet_distance(mu1, torch.diag(a), mu2, torch.diag(b)) == pytest.approx(expected, rel=1e-10)


def test_fid_of_a_distribution_with_itself_is_zero_and_shifted_is_closed_form():
    x = torch.randn(2000, 16, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    x = x - x.mean(dim=0)  # centred, so that 2 * x keeps the mean
    assert stats.fid_from_features(x, x) == pytest.approx(0.0, abs=1e-8)
    shift = torch.linspace(-1, 1, 16, dtype=torch.float64)
    # same covariance, shifted mean: FID = |shift|^2 exactly
    assert stats.fid_from_features(x, x + shift) == pytest.approx(float(shift @ shift), rel=1e-8)
    # scaled by 2 and shifted: |d|^2 + tr(S) + tr(4S) - 2 tr(2S) = |d|^2 + tr(S)
    s = stats.gaussian_stats(x)[1]
    assert stats.fid_from_features(x, 2 * x + shift) == pytest.approx(float(shift @ shift + s.trace()), rel=1e-8)
    # and two independent samples of N(0, I) against N(shift, I): the population value, up to sampling noise
    y = torch.randn(2000, 16, generator=torch.Generator().manual_seed(4), dtype=torch.float64) + shift
    assert stats.fid_from_features(x, y) == pytest.approx(float(shift @ shift), abs=0.15)


# ------------------------------------------------------------------------------------------ KID, IS, P/R
def test_mmd_unbiased_matches_the_formula():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(7, 3, generator=g), torch.randn(5, 3, generator=g) + 1
    k = lambda a, b: (a.double() @ b.double() / 3 + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
    yy = sum(k(y[i], y[j]) for i in range(5) for j in range(5) if i != j) / (5 * 4)
    xy = sum(k(x[i], y[j]) for i in range(7) for j in range(5)) / 35
    assert stats.mmd2_unbiased(x, y) == pytest.approx(float(xx + yy - 2 * xy), rel=1e-10)


def test_kid_is_unbiased_for_identical_distributions():
    g = torch.Generator().manual_seed(1)
    values, biased = [], []
    for _ in range(300):
        x, y = torch.randn(40, 8, generator=g), torch.randn(40, 8, generator=g)
        values.append(stats.mmd2_unbiased(x, y))
        kxx, kyy, kxy = (stats.polynomial_kernel(a.double(), b.double()) for a, b in ((x, x), (y, y), (x, y)))
        biased.append(float(kxx.mean() + kyy.mean() - 2 * kxy.mean()))
    v = torch.tensor(values)
    se = float(v.std() / math.sqrt(len(v)))
    assert abs(float(v.mean())) < 3 * se          # zero in expectation
    assert float(torch.tensor(biased).mean()) > 10 * se  # the biased estimate is not
    far = stats.kid_from_features(torch.randn(200, 8, generator=g), torch.randn(200, 8, generator=g) + 1,
                                  subsets=5, subset_size=100)
    assert far[0] > 0.1


def test_inception_score_extremes():
    assert stats.inception_score_from_probs(torch.full((100, 10), 0.1))[0] == pytest.approx(1.0)
    one_hot = torch.eye(10).repeat(10, 1)  # every split holds each class once, predicted with certainty
    assert stats.inception_score_from_probs(one_hot, splits=10) == pytest.approx((10.0, 0.0))


def test_precision_recall_on_known_sets():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(200, 4, generator=g)
    assert stats.precision_recall(real, real.clone()) == (1.0, 1.0)
    assert stats.precision_recall(real, real + 100) == (0.0, 0.0)
    # half the fakes on the real manifold, half far away: precision 1/2; the fake manifold then covers
    # only the real points near the first half's balls
    fake = torch.cat([real[:100], real[:100] + 100])
    p, r = stats.precision_recall(real, fake)
    assert p == 0.5 and 0.5 <= r < 1.0


# ------------------------------------------------------------------------------------------ Inception
def test_fid_inception_has_the_fid_architecture():
    from torchvision.models import inception_v3
    net = FIDInception()
    reference = inception_v3(weights=None, aux_logits=False, init_weights=False, num_classes=1008)
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in reference.parameters()) == 23_850_960
    assert net.net.state_dict().keys() == reference.state_dict().keys()  # pytorch-fid's file layout
    # the FID blocks pool without counting the padding: same as torchvision's inside, different at the border
    from torchvision.models import inception as tv
    from gancompose_eval.inception import FIDInceptionA
    ours, theirs = FIDInceptionA(192, pool_features=32).eval(), tv.InceptionA(192, pool_features=32).eval()
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(1, 192, 8, 8)
    a, b = ours(x), theirs(x)
    assert torch.allclose(a[..., 1:-1, 1:-1], b[..., 1:-1, 1:-1], atol=1e-5) and not torch.allclose(a, b)


def test_inception_loads_a_local_file_and_embeds_images(tmp_path):
    net = FIDInception()
    path = tmp_path / WEIGHTS_FILE
    torch.save(net.net.state_dict(), path)
    from gancompose_eval.inception import load_inception
    loaded = load_inception(path)
    pool, logits = loaded(torch.rand(2, 1, 16, 16) * 2 - 1)
    assert pool.shape == (2, 2048) and logits.shape == (2, 1008)
    torch.save({"fc.weight": torch.zeros(3)}, tmp_path / "wrong.pth")
    with pytest.raises(GancomposeError, match="not the FID Inception weights"):
        load_inception(tmp_path / "wrong.pth")


def test_missing_weights_say_which_file_and_where(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("GANCOMPOSE_INCEPTION_WEIGHTS", raising=False)
    with pytest.raises(FeatureWeightsMissing) as info:
        find_weights()
    text = str(info.value)
    assert WEIGHTS_FILE in text and WEIGHTS_URL in text and "--feature-weights" in text
    with pytest.raises(FeatureWeightsMissing, match="nowhere.pth"):
        find_weights(tmp_path / "nowhere.pth")
    monkeypatch.setenv("GANCOMPOSE_INCEPTION_WEIGHTS", str(tmp_path / "w.pth"))
    (tmp_path / "w.pth").write_bytes(b"")
    assert find_weights() == tmp_path / "w.pth"


# ------------------------------------------------------------------------------------------ registry, CLI
def test_metrics_are_registered():
    from gancompose.registry import default_registry
    reg = default_registry()
    for name in ("fid", "kid", "inception_score", "precision_recall", "classifier_metrics"):
        assert reg.get("metric", name).plugin == "eval"
    recipe = load_recipe(ROOT / "recipes" / "dcgan_shapes.toml",
                         ["metrics=[{type='fid', every=100, feature_weights='/x/w.pth', samples=500}]"])
    assert recipe.metrics[0].feature_weights == "/x/w.pth"


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    from gancompose.runner import run_recipe
    tmp = tmp_path_factory.mktemp("ring")
    path = ROOT / "recipes" / "pacgan4_r1_ring.toml"
    over = [*tiny_overrides(load_raw(path), tmp), "train.steps=6", "train.batch_size=8",
            "metrics=[{type='mode_coverage', every=3, samples=100}]"]
    return run_recipe(load_recipe(path, over), progress=False)


def test_eval_command_on_a_checkpoint(ring_run, tmp_path):
    ckpt = ring_run.last_checkpoint
    res = invoke("eval", ckpt, "--metric", "mode_coverage", "--metric", 'precision_recall:features="raw",k=2',
                 "--samples", 200, "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["step"] == 6 and set(out["metrics"]["mode_coverage"]) == {"modes", "high_quality", "reverse_kl"}
    assert 0 <= out["metrics"]["precision_recall"]["precision"] <= 1
    logged = (ring_run.run_dir / "eval.jsonl").read_text().splitlines()
    assert json.loads(logged[-1])["metrics"] == out["metrics"]
    # the missing-weights message: one line of error plus its hint, exit 2, no traceback
    res = invoke("eval", ckpt, "--metric", "fid", "--feature-weights", tmp_path / "absent.pth")
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert WEIGHTS_FILE in res.output and WEIGHTS_URL in res.output
    res = invoke("eval", ckpt, "--metric", "fdi")
    assert res.exit_code == 2 and "did you mean 'fid'" in res.output
    res = invoke("eval", ckpt, "--metric", "kid:subsets=0")
    assert res.exit_code == 2 and "kid.subsets" in res.output


def test_plot_writes_curves_and_summary(ring_run, tmp_path):
    from PIL import Image
    res = invoke("plot", ring_run.run_dir)
    assert res.exit_code == 0, res.output
    plots = ring_run.run_dir / "plots"
    assert Image.open(plots / "losses.png").size == (720, 420)
    records = [json.loads(x) for x in (ring_run.run_dir / "metrics.jsonl").read_text().splitlines()]
    finite = {k for r in records if "images_seen" not in r for k, v in r.items() if k != "step" and math.isfinite(v)}
    assert {"mode_coverage/modes", "mode_coverage/high_quality"} <= finite
    assert Image.open(plots / "metrics.png").size[0] == 360 * len(finite)  # a panel per metric with values
    summary = (ring_run.run_dir / "summary.md").read_text()
    for link in ("plots/losses.png", "plots/metrics.png", "samples/step_0000006.png", "samples/modes_step_0000006.png"):
        assert f"({link})" in summary and (ring_run.run_dir / link).is_file()
    assert "mode_coverage/modes" in summary
    res = invoke("plot", tmp_path)
    assert res.exit_code == 2 and "no metrics.jsonl" in res.output


def test_classifier_features_are_offline_and_cached(tmp_path):
    from gancompose.commands.evaluate import evaluate_checkpoint
    from gancompose.runner import run_recipe
    path = ROOT / "recipes" / "cgan_digits.toml"
    over = [*tiny_overrides(load_raw(path), tmp_path), "train.steps=2", "metrics=[]"]
    result = run_recipe(load_recipe(path, over), progress=False)
    spec = "classifier_metrics:classifier_steps=3,samples=40"
    out = evaluate_checkpoint(result.last_checkpoint, [spec]).results["classifier_metrics"]
    assert set(out) == {"fid", "classes", "confident", "reverse_kl", "accuracy"}
    assert out["fid"] > 0 and 0 <= out["classes"] <= 10 and 0 <= out["accuracy"] <= 1
    cached = list((result.run_dir / "eval").glob("classifier-*.safetensors"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    again = evaluate_checkpoint(result.last_checkpoint, [spec]).results["classifier_metrics"]
    assert again == out and cached[0].stat().st_mtime_ns == stamp  # loaded, not retrained
    # the same features under fid / precision_recall
    pr = evaluate_checkpoint(result.last_checkpoint, ['precision_recall:features="classifier",classifier_steps=3',
                                                      'fid:features="classifier",classifier_steps=3'],
                             samples=40).results
    assert 0 <= pr["precision_recall"]["recall"] <= 1 and pr["fid"]["value"] == pytest.approx(out["fid"], rel=0.5)


def test_inception_metrics_run_end_to_end_with_a_local_file(tmp_path):
    """fid, kid and inception_score through `gancompose eval` on image data, with an Inception weights file
    (random weights in the official file layout: the pipeline, not the numbers, is under test)."""
    from gancompose.runner import run_recipe
    weights = tmp_path / WEIGHTS_FILE
    torch.manual_seed(0)
    torch.save(FIDInception().net.state_dict(), weights)
    path = ROOT / "recipes" / "dcgan_shapes.toml"
    result = run_recipe(load_recipe(path, [*tiny_overrides(load_raw(path), tmp_path), "train.steps=1", "metrics=[]"]),
                        progress=False)
    res = invoke("eval", result.last_checkpoint, "--metric", "fid", "--metric", "kid:subsets=2,subset_size=3",
                 "--metric", "inception_score:splits=2", "--samples", 4, "--feature-weights", weights, "--json")
    assert res.exit_code == 0, res.output
    m = json.loads(res.output)["metrics"]
    assert m["fid"]["value"] > 0 and math.isfinite(m["kid"]["mean"])
    assert 1.0 <= m["inception_score"]["mean"] <= 1008
