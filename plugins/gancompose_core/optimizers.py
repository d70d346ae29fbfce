"""Optimizers: thin, validated wrappers over torch.optim."""
from __future__ import annotations

from pydantic import Field, PositiveFloat

import torch
from gancompose import Params


class AdamParams(Params):
    lr: PositiveFloat = Field(2e-4, description="learning rate")
    betas: tuple[float, float] = Field((0.5, 0.999), description="(beta1, beta2); GANs use beta1 = 0.5 or 0")
    eps: PositiveFloat = Field(1e-8, description="numerical stability term")
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty (decoupled for adamw)")
    amsgrad: bool = Field(False, description="use the AMSGrad variant")


def adam(p: AdamParams, parameters) -> torch.optim.Optimizer:
    """Adam (Kingma & Ba)."""
    return torch.optim.Adam(parameters, lr=p.lr, betas=p.betas, eps=p.eps, weight_decay=p.weight_decay,
                            amsgrad=p.amsgrad)


def adamw(p: AdamParams, parameters) -> torch.optim.Optimizer:
    """AdamW: Adam with decoupled weight decay."""
    return torch.optim.AdamW(parameters, lr=p.lr, betas=p.betas, eps=p.eps, weight_decay=p.weight_decay,
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
