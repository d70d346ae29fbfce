"""The built-in core plugin (``gancompose_core``): its generic components, here the PacGAN mode-coverage metric on
hand-made samples and generators whose modes are known. Its blocks, schedules, optimizers and lr schedules are
exercised by every recipe (tests/test_engine.py: the alternating schedule's phases, n_critic, lazy terms and lr
schedules; tests/test_recipes.py: every recipe's networks against the official counts)."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from gancompose.registry import default_registry
from gancompose_core.metrics import ModeCoverage, ModeCoverageParams, histogram_reverse_kl, mode_statistics


def test_registered_by_the_core_plugin():
    reg = default_registry()
    for kind, name in (("block", "mlp"), ("schedule", "alternating"), ("optimizer", "adam"),
                       ("metric", "mode_coverage")):
        assert reg.get(kind, name).plugin == "core", (kind, name)


CENTERS = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])


def test_mode_statistics_on_hand_made_samples():
    std = 0.01
    points = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0 + 2 * std, 0.0],   # mode 0: three high quality
                           [0.0, 1.0 - 2.9 * std],                          # mode 1: one, just inside 3 std
                           [-1.0, 4 * std],                                 # near mode 2 but 4 std off
                           [0.5, 0.5]])                                     # between modes
    s = mode_statistics(points, CENTERS, std)
    assert s["modes"] == 2
    assert s["high_quality"] == pytest.approx(4 / 6)
    assert s["reverse_kl"] == pytest.approx(0.75 * math.log(0.75 * 4) + 0.25 * math.log(0.25 * 4))
    assert s["counts"].tolist() == [3, 1, 0, 0]


def test_reverse_kl_extremes():
    assert histogram_reverse_kl(torch.tensor([5, 5, 5, 5])) == pytest.approx(0.0)
    assert histogram_reverse_kl(torch.tensor([0, 9, 0, 0, 0, 0, 0, 0])) == pytest.approx(math.log(8))
    assert math.isnan(histogram_reverse_kl(torch.zeros(3)))


class _FakeRun(SimpleNamespace):
    def generator_name(self): return "g"
    def sampling_network(self, name, use_ema): return self.net
    def sample_latent(self, n, generator=None): return torch.randint(0, 4, (n, 1), generator=generator).float()


def test_mode_coverage_metric_follows_pacgan_and_draws_the_scatter(tmp_path):
    # a generator that puts every sample exactly on modes 0, 1 and 2 (latent 0..3 -> modes 0, 1, 2, 2)
    class Net(torch.nn.Module):
        def forward(self, z):
            return CENTERS[z[:, 0].long().clamp(max=2)]
    run = _FakeRun(net=Net(), dataset=SimpleNamespace(centers=CENTERS, std=0.01), run_dir=tmp_path, device=torch.device("cpu"),
                   state=SimpleNamespace(step=7), recipe=SimpleNamespace(train=SimpleNamespace(seed=0)))
    out = ModeCoverage(ModeCoverageParams())(run)
    assert out["modes"] == 3 and out["high_quality"] == 1.0
    assert 0.2 < out["reverse_kl"] < 0.45  # shares about (1/4, 1/4, 1/2, 0): KL = 0.3466
    png = tmp_path / "samples" / "modes_step_0000007.png"
    from PIL import Image
    assert Image.open(png).size == (512, 512)


def test_mode_coverage_counts_modes():
    centers = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])

    class FakeRun(SimpleNamespace):
        def generator_name(self): return "g"
        def sampling_network(self, name, use_ema): return self.net
        def sample_latent(self, n, generator=None): return torch.randint(0, 2, (n, 1), generator=generator).float()

    # a generator that only ever produces the first two modes
    net = torch.nn.Linear(1, 2)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[-2.0], [0.0]]))
        net.bias.copy_(torch.tensor([1.0, 0.0]))
    run = FakeRun(net=net, device=torch.device("cpu"), dataset=SimpleNamespace(centers=centers, std=0.01),
                  recipe=SimpleNamespace(train=SimpleNamespace(seed=0)))
    out = ModeCoverage(ModeCoverageParams(samples=400))(run)
    assert out["modes"] == 2 and out["high_quality"] == 1.0
