"""gancompose.nn.spectral_norm: torch's spectral normalization, arithmetic and state unchanged, with a power
iteration that rebinds its vectors instead of writing them in place, so a compiled critic called on reals
and then on fakes can still be differentiated (inductor saves the buffer itself for backward)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import needs_cpp_compiler
from gancompose.nn import SpectralNorm, make_compile_safe, spectral_norm



class Critic(nn.Module):
    """A 3x3 conv beside a 1x1 shortcut (whose ``v`` has 3 entries, the tensor inductor's backward tripped on)."""

    def __init__(self, sn):
        super().__init__()
        self.conv, self.shortcut = sn(nn.Conv2d(3, 8, 3, padding=1)), sn(nn.Conv2d(3, 8, 1))
        self.up = sn(nn.ConvTranspose2d(8, 4, 4, 2, 1))
        self.out = sn(nn.Linear(4, 1))

    def forward(self, x):
        return self.out(self.up(self.conv(x) + self.shortcut(x)).sum((2, 3)))


def _critic(sn, seed=0):
    torch.manual_seed(seed)
    return Critic(sn)


def _train(critic, steps=3, autocast=False):
    opt = torch.optim.SGD(critic.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        real, fake = torch.randn(4, 3, 8, 8, generator=gen), torch.randn(4, 3, 8, 8, generator=gen)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = critic(fake).float().mean() - critic(real).float().mean()  # two calls, one backward
        opt.zero_grad()
        loss.backward()
        opt.step()
    return critic.state_dict()


def test_same_state_and_bitwise_the_same_training_as_torchs():
    ours, theirs = _train(_critic(spectral_norm)), _train(_critic(nn.utils.parametrizations.spectral_norm))
    assert list(ours) == list(theirs)  # checkpoints move freely between the two
    assert any(k.endswith("_u") for k in ours)
    for key, value in theirs.items():
        assert torch.equal(ours[key], value), key


def test_transposed_convolutions_normalize_along_dim_1_as_torch_does():
    critic = _critic(spectral_norm)
    assert critic.up.parametrizations.weight[0].dim == 1 and critic.conv.parametrizations.weight[0].dim == 0
    for _ in range(50):  # power iterations in training mode converge to sigma_max = 1
        critic.up.weight
    assert torch.linalg.matrix_norm(critic.up.weight.detach().permute(1, 0, 2, 3).flatten(1), 2).item() == \
        pytest.approx(1.0, abs=1e-3)


def test_the_vectors_stay_float32_under_bf16_autocast():
    critic = _critic(spectral_norm)
    _train(critic, steps=2, autocast=True)
    for module in critic.modules():
        if isinstance(module, SpectralNorm):
            assert module._u.dtype == module._v.dtype == torch.float32


def test_eval_mode_leaves_the_vectors_alone():
    critic = _critic(spectral_norm).eval()
    before = {k: v.clone() for k, v in critic.state_dict().items()}
    critic(torch.randn(2, 3, 8, 8))
    assert all(torch.equal(v, before[k]) for k, v in critic.state_dict().items())


def test_torchs_parametrizations_are_converted_in_place():
    critic = _critic(nn.utils.parametrizations.spectral_norm)
    state = {k: v.clone() for k, v in critic.state_dict().items()}
    assert make_compile_safe(critic) == 4 and make_compile_safe(critic) == 0
    assert all(torch.equal(v, state[k]) for k, v in critic.state_dict().items())


@needs_cpp_compiler
def test_a_critic_compiled_with_inductor_trains_like_eager():
    """torch's own spectral norm raises here ("modified by an inplace operation") at the first backward."""
    torch._dynamo.reset()
    eager = _train(_critic(spectral_norm))
    compiled = _critic(spectral_norm)
    compiled.compile(backend="inductor")
    trained = _train(compiled)
    for key, value in eager.items():
        torch.testing.assert_close(trained[key], value, rtol=1e-4, atol=1e-5)
