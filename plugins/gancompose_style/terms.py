"""StyleGAN2's path-length regularizer (Karras et al. 2020, section 3.2), a generator term.

For a batch of ``batch_size / batch_shrink`` latents, with ``y`` Gaussian noise scaled by
``1 / sqrt(H W)``, the path length of each sample is ``a = sqrt(mean_layers sum_w (d <g(w), y> / d w)^2)``
(``J_w^T y``, through every style layer); the running mean ``pl_mean`` follows ``mean(a)`` with rate
``decay`` and the penalty is ``mean((a - pl_mean)^2)``. The engine multiplies it by ``weight * every``
(official: weight 2, every 4). ``pl_mean`` lives in the generator's buffers (``pl_mean``), so checkpoints
and resumed runs keep it. As the official ``loss.py``: the style-mixed ``ws`` of the training forward,
``decay`` 0.01, ``batch_shrink`` 2.

Departure: the official code runs the regularization as a separate optimizer step on lazy steps; here the
term joins the generator's phase on the steps it fires (the weight is the same).
"""
from __future__ import annotations

import math

import torch
from pydantic import Field, PositiveInt

from gancompose import RecipeError
from gancompose.engine import RegularizerParams, RegularizerTerm


class PathLengthParams(RegularizerParams):
    weight: float = Field(2.0, description="pl_weight (2 in StyleGAN2)")
    every: PositiveInt = Field(4, description="apply on steps divisible by this (lazy: 4 in StyleGAN2)")
    network: str = Field("generator", description="the generator it regularizes")
    decay: float = Field(0.01, gt=0, le=1, description="rate of the running mean of path lengths (pl_decay)")
    batch_shrink: PositiveInt = Field(2, description="the term uses batch_size / batch_shrink latents")


class PathLength(RegularizerTerm):
    """Path-length regularization (StyleGAN2): (|J_w^T y| - running mean)^2, y ~ N(0, I) / sqrt(HW)."""
    name = "path_length"
    requires = ("style_generator",)

    def __init__(self, params: PathLengthParams):
        super().__init__(params)
        self.decay = params.decay
        self.batch_shrink = params.batch_shrink

    def __call__(self, ctx) -> torch.Tensor:
        net = ctx.network(self.network)
        if not hasattr(net, "generate_with_ws") or not hasattr(net, "pl_mean"):
            raise RecipeError(f"path_length needs a style-based generator (stylegan2_generator, stylegan_generator); "
                              f"network {self.network!r} is not one", key=["network"])
        z = ctx.latent
        n = max(1, z.shape[0] // self.batch_shrink)
        labels = ctx.fake_labels if getattr(net, "conditional", False) else None
        with torch.enable_grad(), ctx.eager():  # differentiated twice through ws: not through a compiled graph
            img, ws = net(z[:n], None if labels is None else labels[:n], return_ws=True)
            noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
            (grads,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
        lengths = grads.square().sum(dim=2).mean(dim=1).sqrt()
        pl_mean = net.pl_mean.lerp(lengths.mean().to(net.pl_mean.dtype), self.decay)  # with its graph, as official
        with torch.no_grad():
            net.pl_mean.copy_(pl_mean.detach())
        return (lengths - pl_mean).square().mean()
