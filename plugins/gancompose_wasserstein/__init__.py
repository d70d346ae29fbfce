"""Wasserstein and regularizer family: Wasserstein, hinge and non-saturating losses; weight clipping, gradient penalty, R1, R2 and drift.

Losses: ``wasserstein`` (WGAN), ``hinge`` (Geometric GAN / SAGAN / BigGAN), ``non_saturating``
(the logistic loss in softplus form, StyleGAN2). Regularizers: ``weight_clipping`` (WGAN's
constraint, run after each critic step), ``gradient_penalty`` (WGAN-GP), ``r1`` and ``r2``
(Mescheder et al. 2018), ``drift`` (ProGAN). Registered through the ``gancompose`` entry point
``wasserstein`` like any third-party plugin.
"""
from gancompose import hookimpl, register_all

from gancompose_wasserstein.losses import LOSSES
from gancompose_wasserstein.regularizers import REGULARIZERS


@hookimpl
def register_losses(register):
    register_all(register, LOSSES)


@hookimpl
def register_regularizers(register):
    register_all(register, REGULARIZERS)
