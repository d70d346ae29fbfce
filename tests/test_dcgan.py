"""DCGAN blocks against the official pytorch/examples networks."""
from __future__ import annotations

import pytest
import torch

from gancompose.builder import build_network
from gancompose.errors import RecipeError
from gancompose.recipe import recipe_model
from gancompose.registry import default_registry


def _net(spec: dict, in_shape):
    reg = default_registry()
    model = recipe_model(reg)
    net_spec = model.model_fields["networks"].annotation.__args__[1]
    from pydantic import TypeAdapter
    parsed = TypeAdapter(net_spec).validate_python(spec)
    return build_network("net", parsed, in_shape, reg)


def test_official_parameter_counts():
    g, grep = _net({"type": "dcgan_generator", "input": "latent", "ngf": 64, "nc": 3}, (100,))
    d, drep = _net({"type": "dcgan_discriminator", "input": "data", "ndf": 64, "nc": 3}, (3, 64, 64))
    # pytorch/examples/dcgan main.py at nz=100, ngf=ndf=64, nc=3
    assert grep.params == 3_576_704
    assert drep.params == 2_765_568
    assert grep.out_shape == (3, 64, 64)
    assert drep.out_shape == ()
    assert g(torch.randn(5, 100)).shape == (5, 3, 64, 64)
    assert d(torch.randn(5, 3, 64, 64)).shape == (5,)


@pytest.mark.parametrize("size", [16, 32, 128])
def test_other_sizes(size):
    _, grep = _net({"type": "dcgan_generator", "input": "latent", "ngf": 8, "image_size": size}, (100,))
    _, drep = _net({"type": "dcgan_discriminator", "input": "data", "ndf": 8, "image_size": size},
                   (3, size, size))
    assert grep.out_shape == (3, size, size)
    assert drep.out_shape == ()


def test_size_must_be_a_power_of_two():
    with pytest.raises(Exception, match="power of two"):
        _net({"type": "dcgan_generator", "input": "latent", "image_size": 48}, (100,))


def test_mismatches_name_the_key():
    with pytest.raises(RecipeError) as e:
        _net({"type": "dcgan_generator", "input": "latent", "nz": 64}, (100,))
    assert e.value.key == "networks.net.nz"
    with pytest.raises(RecipeError, match=r"\(1, 28, 28\)"):
        _net({"type": "dcgan_discriminator", "input": "data"}, (1, 28, 28))


def test_init_follows_dcgan():
    g, _ = _net({"type": "dcgan_generator", "input": "latent", "init": {"type": "normal", "std": 0.02}}, (100,))
    w = g.main[3].weight  # a transposed conv with 512*256*16 weights
    assert abs(w.mean().item()) < 1e-3 and abs(w.std().item() - 0.02) < 1e-3
    bn = g.main[1]
    assert abs(bn.weight.mean().item() - 1.0) < 0.01 and torch.all(bn.bias == 0)


def test_spectral_norm_for_a_whole_network():
    d, rep = _net({"type": "dcgan_discriminator", "input": "data", "ndf": 8, "image_size": 16, "batch_norm": False,
                   "spectral_norm": True}, (3, 16, 16))
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in convs)
    d.train()
    for _ in range(30):  # power iterations run in training-mode forwards
        d(torch.randn(2, 3, 16, 16))
    for m in convs:
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)
        assert sigma == pytest.approx(1.0, abs=0.05)


def test_spectral_norm_per_layer():
    from gancompose.builder import build_network
    net, _ = _net({"type": "sequential", "input": "data", "layers": [
        {"type": "flatten"}, {"type": "linear", "out_features": 8, "spectral_norm": True},
        {"type": "linear", "out_features": 1}]}, (1, 4, 4))
    assert torch.nn.utils.parametrize.is_parametrized(net[1], "weight")
    assert not torch.nn.utils.parametrize.is_parametrized(net[2], "weight")


def test_init_reaches_spectrally_normalized_weights():
    from gancompose.builder.networks import apply_spectral_norm
    from gancompose_core.initializers import NormalInitParams, normal
    seq = torch.nn.Sequential(torch.nn.Linear(400, 400))
    assert apply_spectral_norm(seq) == []  # nothing left unnormalized
    layer = seq[0]
    normal(NormalInitParams(std=0.5))(torch.nn.Sequential(layer))
    assert abs(layer.parametrizations.weight.original.std().item() - 0.5) < 0.02
