"""PacGAN's packing as a plugin (gancompose_pacgan): the ``pack`` layer, the ``packed_mlp`` block, and a packed
discriminator composed with a loss and a penalty in a run."""
from __future__ import annotations

import torch

from conftest import ROOT, all_finite, tiny_overrides
from gancompose.builder import build_run
from gancompose.recipe import load_raw, load_recipe
from gancompose.registry import default_registry
from gancompose_pacgan.packing import Pack, PackedMLPParams, packed_mlp

RING = ROOT / "recipes" / "pacgan4_r1_ring.toml"


def test_registered_by_the_pacgan_plugin():
    reg = default_registry()
    assert reg.get("block", "packed_mlp").plugin == "pacgan" and reg.get("layer", "pack").plugin == "pacgan"


def test_pack_layer_concatenates_samples():
    x = torch.arange(10.0).reshape(5, 2).requires_grad_()
    out = Pack(2)(x)
    assert out.shape == (3, 4) and out[2].tolist() == [8.0, 9.0, 0.0, 1.0]  # completed with the first sample
    out.sum().backward()
    assert x.grad[0].tolist() == [2.0, 2.0] and x.grad[1].tolist() == [1.0, 1.0]


def test_packed_mlp_judges_pack_samples_at_once():
    d = packed_mlp(PackedMLPParams(pack=4, hidden=[8, 8], out_shape=[1]), (2,))
    first = next(m for m in d.modules() if isinstance(m, torch.nn.Linear))
    assert first.in_features == 4 * 2  # PacGAN4 on 2-D points: 8 inputs
    assert d(torch.randn(256, 2)).shape == (64, 1) and d(torch.randn(6, 2)).shape == (2, 1)
    x = torch.randn(8, 2)
    swapped = x.clone()
    swapped[[0, 4]] = x[[4, 0]]  # a sample moved to another pack changes both packs' scores
    assert not torch.allclose(d(x), d(swapped))


def test_the_packed_recipe_builds_and_trains(tmp_path):
    from gancompose.runner import run_recipe
    recipe = load_recipe(RING, [*tiny_overrides(load_raw(RING), tmp_path), "train.steps=3", "train.batch_size=8",
                                "metrics=[]"])
    run = build_run(recipe)
    assert run.networks["discriminator"](torch.randn(8, 2)).shape == (2, 1)
    result = run_recipe(recipe, progress=False)
    assert all_finite(result.last_checkpoint)
