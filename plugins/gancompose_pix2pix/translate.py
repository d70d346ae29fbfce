"""Translating with a trained pair during training: grids of [A, G(A), B]."""
from __future__ import annotations

import torch

from gancompose.sampling import translate_images as translate


def pair_grid(generator: torch.nn.Module, dataset, k: int, device) -> tuple[torch.Tensor, int]:
    """``k`` rows of [A, G(A), B] over the data's first pairs; returns the images and the row length (3)."""
    a, b = dataset.domain("A", k), dataset.domain("B", k)
    rows = torch.stack([a, translate(generator, a, device), b], dim=1)  # [k, 3, C, H, W]
    return rows.flatten(0, 1), 3
