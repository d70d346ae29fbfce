"""Recipes refused before anything is built (issue 11): an ``extends`` cycle, and networks whose weights would not
fit, measured from a build on the meta device (the estimate, the limit, the key path of the offending layer)."""
from __future__ import annotations

import torch

from conftest import ROOT, clean_exit, invoke, tiny_ring_raw, write_recipe
from gancompose.builder.networks import MAX_NETWORK_BYTES, estimate_bytes

RING = ROOT / "recipes" / "vanilla_gan_ring.toml"


def test_cyclic_extends(tmp_path):
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n')
    result = invoke("validate", tmp_path / "a.toml")
    clean_exit(result)
    assert result.exit_code == 2 and "cycle" in result.output


def test_absurd_sizes_refused_before_allocation(tmp_path):
    # 1e6 x 1e6 float32 weights: 3.6 TiB; refused from a meta-device build, with the estimate and the key path
    result = invoke("validate", RING, "--set", "networks.generator.hidden=[1000000, 1000000]")
    assert result.exit_code == 2
    out = " ".join(result.output.split())
    assert "networks.generator: network 'generator' (mlp) would need 3.6 TiB of weights" in out
    # a sequential network is refused at the layer that crosses the limit
    raw = tiny_ring_raw(tmp_path)
    raw["networks"]["generator"] = {"type": "sequential", "input": "latent", "layers": [
        {"type": "linear", "out_features": 64}, {"type": "linear", "out_features": 10 ** 7},
        {"type": "linear", "out_features": 10 ** 7}, {"type": "linear", "out_features": 2}]}
    result = invoke("validate", write_recipe(raw, tmp_path))
    assert result.exit_code == 2, result.output
    out = " ".join(result.output.split())
    assert "networks.generator.layers[2]: network 'generator' would need" in out and "TiB" in out


def test_size_estimate_matches_the_real_network():
    from torch import nn
    real = nn.Sequential(nn.Linear(3, 50), nn.BatchNorm1d(50), nn.Linear(50, 7))
    expected = sum(t.numel() * t.element_size() for t in [*real.parameters(), *real.buffers()])
    state = torch.get_rng_state()
    assert estimate_bytes(lambda: nn.Sequential(nn.Linear(3, 50), nn.BatchNorm1d(50), nn.Linear(50, 7))) == expected
    assert torch.equal(torch.get_rng_state(), state)  # the meta build leaves the seed's stream alone
    assert MAX_NETWORK_BYTES >= 2 ** 30
