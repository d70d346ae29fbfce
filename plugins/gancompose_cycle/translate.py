"""Translating images with a trained cycle pair: side-by-side grids during training, folders afterwards."""
from __future__ import annotations

import torch

from gancompose.sampling import translate_images as translate


def translation_grid(networks, roles: dict[str, str], dataset, k: int, device) -> tuple[torch.Tensor, int]:
    """``k`` rows of [a, G_AB(a), G_BA(G_AB(a)), b, G_BA(b), G_AB(G_BA(b))] over the data's first images;
    returns the images and the row length (6)."""
    g_ab, g_ba = networks[roles["G_AB"]], networks[roles["G_BA"]]
    a, b = dataset.domain("A", k), dataset.domain("B", k)
    fake_b = translate(g_ab, a, device)
    rec_a = translate(g_ba, fake_b, device)
    fake_a = translate(g_ba, b, device)
    rec_b = translate(g_ab, fake_a, device)
    rows = torch.stack([a, fake_b, rec_a, b, fake_a, rec_b], dim=1)  # [k, 6, C, H, W]
    return rows.flatten(0, 1), 6
