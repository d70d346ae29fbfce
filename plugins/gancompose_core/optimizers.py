"""Optimizers: thin, validated wrappers over torch.optim."""
from __future__ import annotations

from typing import Optional

from pydantic import Field, PositiveFloat, PositiveInt

import torch
from gancompose import Params


class AdamParams(Params):
    lr: PositiveFloat = Field(2e-4, description="learning rate")
    betas: tuple[float, float] = Field((0.5, 0.999), description="(beta1, beta2); GANs use beta1 = 0.5 or 0")
    eps: PositiveFloat = Field(1e-8, description="numerical stability term")
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty (decoupled for adamw)")
    amsgrad: bool = Field(False, description="use the AMSGrad variant")
    lazy_interval: Optional[PositiveInt] = Field(
        None, description="k of a lazy regularizer on this network (StyleGAN2: 16 for D's R1, 4 for G's path "
                          "length): as the official code, lr is multiplied by k/(k+1) and each beta raised to "
                          "the power k/(k+1)")


def lazy_adjusted(lr: float, betas: tuple[float, float], k: int | None) -> tuple[float, tuple[float, float]]:
    """StyleGAN2's lazy-regularization correction: ``mb_ratio = k / (k + 1)``, ``lr * mb_ratio``,
    ``beta ** mb_ratio`` (training_loop.py); unchanged when ``k`` is None."""
    if k is None:
        return lr, tuple(betas)
    ratio = k / (k + 1)
    return lr * ratio, tuple(b ** ratio for b in betas)


def adam(p: AdamParams, parameters) -> torch.optim.Optimizer:
    """Adam (Kingma & Ba)."""
    lr, betas = lazy_adjusted(p.lr, p.betas, p.lazy_interval)
    return torch.optim.Adam(parameters, lr=lr, betas=betas, eps=p.eps, weight_decay=p.weight_decay,
                            amsgrad=p.amsgrad)


def adamw(p: AdamParams, parameters) -> torch.optim.Optimizer:
    """AdamW: Adam with decoupled weight decay."""
    lr, betas = lazy_adjusted(p.lr, p.betas, p.lazy_interval)
    return torch.optim.AdamW(parameters, lr=lr, betas=betas, eps=p.eps, weight_decay=p.weight_decay,
                             amsgrad=p.amsgrad)


class RMSpropParams(Params):
    lr: PositiveFloat = Field(5e-5, description="learning rate (5e-5 as in WGAN)")
    alpha: float = Field(0.99, gt=0, lt=1, description="smoothing constant")
    eps: PositiveFloat = Field(1e-8, description="numerical stability term")
    momentum: float = Field(0.0, ge=0, description="momentum factor")
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty")


def rmsprop(p: RMSpropParams, parameters) -> torch.optim.Optimizer:
    """RMSprop (the WGAN paper's optimizer)."""
    return torch.optim.RMSprop(parameters, lr=p.lr, alpha=p.alpha, eps=p.eps, momentum=p.momentum,
                               weight_decay=p.weight_decay)


class SGDParams(Params):
    lr: PositiveFloat = Field(1e-2, description="learning rate")
    momentum: float = Field(0.0, ge=0, description="momentum factor")
    nesterov: bool = Field(False, description="Nesterov momentum")
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty")


def sgd(p: SGDParams, parameters) -> torch.optim.Optimizer:
    """Stochastic gradient descent."""
    return torch.optim.SGD(parameters, lr=p.lr, momentum=p.momentum, nesterov=p.nesterov,
                           weight_decay=p.weight_decay)


OPTIMIZERS = [("adam", adam, AdamParams), ("adamw", adamw, AdamParams), ("rmsprop", rmsprop, RMSpropParams),
              ("sgd", sgd, SGDParams)]
