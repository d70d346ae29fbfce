"""Translating with a trained pair during training: grids of [A, G(A), B]."""
from __future__ import annotations

import torch


@torch.no_grad()
def translate(net: torch.nn.Module, images: torch.Tensor, device: torch.device, batch_size: int = 8) -> torch.Tensor:
    """``net`` applied to ``images`` (in [-1, 1]) in eval mode, batch by batch; the result on the CPU."""
    was_training = net.training
    net.eval()
    try:
        return torch.cat([net(images[i:i + batch_size].to(device)).float().cpu()
                          for i in range(0, len(images), batch_size)])
    finally:
        net.train(was_training)


def pair_grid(generator: torch.nn.Module, dataset, k: int, device) -> tuple[torch.Tensor, int]:
    """``k`` rows of [A, G(A), B] over the data's first pairs; returns the images and the row length (3)."""
    a, b = dataset.domain("A", k), dataset.domain("B", k)
    rows = torch.stack([a, translate(generator, a, device), b], dim=1)  # [k, 3, C, H, W]
    return rows.flatten(0, 1), 3
