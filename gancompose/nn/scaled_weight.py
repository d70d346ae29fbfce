"""Layers that store a weight ``W`` and compute with ``weight_gain * W`` (equalized learning rate).

ProGAN's and StyleGAN's layers keep their weights at unit variance and multiply them by a constant gain in
``forward`` (Karras et al. 2018, §4.1). They are not ``nn.Conv2d``/``nn.Linear``, so a network flag that acts
on "every weighted layer" (``spectral_norm = true``) needs them to say how it applies: a layer class declares
that by subclassing :class:`ScaledWeight`.

Spectral normalization of such a layer normalizes its *effective* weight ``weight_gain * W``: since
``sigma(g W) = g sigma(W)``, the normalized effective weight is ``W / sigma(W)``, so the layer registers the
spectral-norm parametrization on ``W`` and sets its gain to 1. The layer's output then has a Lipschitz
constant of at most 1 like an ``nn.Conv2d`` under spectral norm (activation gains such as StyleGAN2's
``sqrt(2)`` after the leaky ReLU stay, as they are outside the layer's weight).
"""
from __future__ import annotations

from torch import nn

from gancompose.nn.spectral_norm import spectral_norm


class ScaledWeight(nn.Module):
    """Base of a layer whose ``forward`` uses ``self.weight * self.weight_gain`` (a float).

    Subclasses set ``self.weight`` (an ``nn.Parameter`` with ``ndim >= 2``, output features first) and
    ``self.weight_gain`` in ``__init__``, and read both in every ``forward`` call.
    """

    weight_gain: float

    def spectral_normalize(self) -> None:
        """Spectrally normalize the effective weight ``weight_gain * weight`` (see the module's text)."""
        spectral_norm(self)
        self.weight_gain = 1.0


class NormalizationLayer(nn.Module):
    """Base of a normalization layer whose learned scale and shift are looked up in tables (conditional batch
    norm: one row per class). Those tables are per-feature affine parameters, as a batch norm's ``weight`` and
    ``bias`` are, not a linear map of the input, so ``spectral_norm = true`` on a network leaves them alone
    (normalizing a table of gains initialized to 1 would shrink every gain to about 1/sqrt(rows x features))."""
