"""Spectral normalization (Miyato et al. 2018) that ``torch.compile`` can differentiate.

PyTorch's ``torch.nn.utils.parametrizations.spectral_norm`` updates its power-iteration vectors ``_u`` and
``_v`` in place at every training-mode forward and then clones them for the weight's normalization, so that
the autograd graph keeps its own copy. Eager, that works. Compiled with inductor, the partitioner drops the
clone and saves the buffer itself for backward; the network's next call (the critic on the fakes after the
critic on the reals) updates the buffer in place again, and backward stops with "a variable needed for
gradient computation has been modified by an inplace operation". The safety net then sent every spectrally
normalized network back to eager.

:class:`SpectralNorm` keeps torch's parametrization, state-dict keys (``parametrizations.weight.original``,
``parametrizations.weight.0._u``, ``..._v``), initialization (15 power iterations) and arithmetic, and changes
one thing: a training-mode forward computes the new vectors out of place and *rebinds* the buffers to them, so
no tensor that a graph saved is ever written again. Eager results are bitwise those of torch's. The power
iteration runs outside autocast, so the vectors stay in the weight's dtype under bf16.

Use :func:`spectral_norm` where you would use torch's; :func:`make_compile_safe` converts torch's
parametrizations already on a network (the compiler does it to every network it compiles, so a third-party
plugin's network that used torch's function is covered too).
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import _SpectralNorm

__all__ = ["SpectralNorm", "spectral_norm", "make_compile_safe"]


class SpectralNorm(_SpectralNorm):
    """torch's ``_SpectralNorm`` with an out-of-place power iteration (see the module's text)."""

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if weight.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            u, v = self._u, self._v
            with torch.no_grad(), _outside_autocast(weight.device.type):
                for _ in range(self.n_power_iterations):
                    u = F.normalize(torch.mv(weight_mat, v), dim=0, eps=self.eps)
                    v = F.normalize(torch.mv(weight_mat.H, u), dim=0, eps=self.eps)
            self._u, self._v = u, v  # rebinding, not copy_: a graph that saved the old vectors keeps them intact
        else:
            # an evaluation's vectors may later be written in place (load_state_dict, DDP's buffer broadcast)
            u, v = self._u.clone(), self._v.clone()
        sigma = torch.vdot(u, torch.mv(weight_mat, v))
        return weight / sigma


def _outside_autocast(device_type: str):
    if torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return nullcontext()


def spectral_norm(module: nn.Module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12,
                  dim: Optional[int] = None) -> nn.Module:
    """Spectrally normalize ``module.<name>``: torch's ``spectral_norm`` (same arguments, same default ``dim``:
    1 for transposed convolutions, else 0), with the compile-safe parametrization."""
    nn.utils.parametrizations.spectral_norm(module, name, n_power_iterations, eps, dim)
    make_compile_safe(module)
    return module


def make_compile_safe(net: nn.Module) -> int:
    """Turn every torch spectral-norm parametrization in ``net`` into :class:`SpectralNorm` (same state, new
    forward); returns how many were converted."""
    converted = 0
    for module in net.modules():
        if type(module) is _SpectralNorm:
            module.__class__ = SpectralNorm
            converted += 1
    return converted
