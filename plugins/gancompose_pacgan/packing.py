"""PacGAN's packing (Lin et al. 2018) as discriminator components: the discriminator judges ``pack``
samples at once, concatenated, so a generator that collapses onto few modes is easier to spot.

``pack`` is a layer (first in a sequential discriminator) and ``packed_mlp`` a block (``pack`` then the core
``mlp``). Real and fake batches are packed separately, since the loss calls the discriminator on each; a
batch whose size is not a multiple of ``pack`` is completed by repeating its first samples.
"""
from __future__ import annotations

import math

import torch
from pydantic import Field
from torch import nn

from gancompose import Params
from gancompose_core.blocks import MLPParams, mlp


class PackParams(Params):
    pack: int = Field(4, ge=1, le=64, description="samples concatenated into one discriminator input (PacGAN4: 4)")


class Pack(nn.Module):
    def __init__(self, pack: int):
        super().__init__()
        self.pack = pack

    def forward(self, x):
        flat = x.reshape(len(x), -1)
        extra = (-len(flat)) % self.pack
        if extra:
            idx = torch.arange(extra, device=flat.device) % len(flat)
            flat = torch.cat([flat, flat[idx]])
        return flat.reshape(len(flat) // self.pack, self.pack * flat.shape[1])

    def extra_repr(self) -> str:
        return f"pack={self.pack}"


def pack(p: PackParams, in_shape: tuple[int, ...]) -> nn.Module:
    """PacGAN packing: [B, *shape] -> [B / pack, pack * prod(shape)] (samples side by side)."""
    return Pack(p.pack)


class PackedMLPParams(MLPParams):
    pack: int = Field(4, ge=1, le=64, description="samples concatenated into one discriminator input (PacGAN4: 4)")


def packed_mlp(p: PackedMLPParams, in_shape: tuple[int, ...]) -> nn.Module:
    """PacGAN discriminator: packs ``pack`` samples, then an MLP on the concatenation."""
    body = mlp(MLPParams(**{k: getattr(p, k) for k in MLPParams.model_fields}), (p.pack * math.prod(in_shape),))
    return nn.Sequential(Pack(p.pack), body)


LAYERS = [("pack", pack, PackParams)]
BLOCKS = [("packed_mlp", packed_mlp, PackedMLPParams)]
