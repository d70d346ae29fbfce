"""Objectives: every adversarial loss and every generic discriminator penalty, in two files.

losses.py: ``bce`` (the original GAN), ``least_squares`` (LSGAN), ``wasserstein`` (WGAN), ``hinge`` (Geometric GAN
/ SAGAN / BigGAN), ``non_saturating`` (``bce`` without saturation, in softplus form). penalties.py:
``weight_clipping`` (WGAN's constraint, run after each critic step), ``gradient_penalty`` (WGAN-GP), ``r1`` and
``r2`` (Mescheder et al. 2018), ``drift`` (ProGAN). A family's own terms (cycle consistency, path length, pair
reconstruction) live in its plugin. Registered through the ``gancompose`` entry point ``objectives`` like any
third-party plugin.
"""
from gancompose import hookimpl, register_all

from gancompose_objectives.losses import LOSSES
from gancompose_objectives.penalties import REGULARIZERS


@hookimpl
def register_losses(register):
    register_all(register, LOSSES)


@hookimpl
def register_regularizers(register):
    register_all(register, REGULARIZERS)
