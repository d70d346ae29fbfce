"""Wasserstein and regularizer family: Wasserstein, hinge and non-saturating losses; weight clipping, gradient penalty, R1, R2 and drift.

Losses: ``wasserstein`` (WGAN), ``hinge`` (Geometric GAN / SAGAN / BigGAN), ``non_saturating``
(the logistic loss in softplus form, StyleGAN2). Regularizers: ``weight_clipping`` (WGAN's
constraint, run after each critic step), ``gradient_penalty`` (WGAN-GP), ``r1`` and ``r2``
(Mescheder et al. 2018), ``drift`` (ProGAN). Registered through the ``gancompose`` entry point
``wasserstein`` like any third-party plugin.
"""
from gancompose import hookimpl

from gancompose_wasserstein.losses import LOSSES
from gancompose_wasserstein.regularizers import REGULARIZERS


@hookimpl
def register_losses(register):
    for name, factory, params in LOSSES:
        register(name, factory, params)


@hookimpl
def register_regularizers(register):
    for name, factory, params in REGULARIZERS:
        register(name, factory, params)
