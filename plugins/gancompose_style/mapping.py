"""StyleGAN's mapping network z -> w (Karras et al. 2019), as in StyleGAN2-ADA's ``MappingNetwork``.

``z`` (and the label embedding, for a class-conditional network) is normalized to unit second moment,
then ``num_layers`` equalized-LR fully connected layers with leaky ReLU and a learning-rate multiplier of
0.01 map it to ``w``. In training mode the network tracks the mean ``w`` (``w_avg``, a buffer: it is saved
in checkpoints) with decay ``w_avg_beta``; the truncation trick pulls ``w`` towards it:
``w' = w_avg + psi (w - w_avg)``, on the first ``truncation_cutoff`` style layers (all when None).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gancompose_core.equalized import EqualizedLinear
from gancompose_style.ops import lrelu, normalize_2nd_moment


class MappingNetwork(nn.Module):
    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int | None, num_layers: int = 8,
                 embed_features: int | None = None, layer_features: int | None = None,
                 lr_multiplier: float = 0.01, w_avg_beta: float | None = 0.995):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
        embed_features = (w_dim if embed_features is None else embed_features) if c_dim > 0 else 0
        layer_features = w_dim if layer_features is None else layer_features
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = EqualizedLinear(c_dim, embed_features)
        for i in range(num_layers):
            setattr(self, f"fc{i}", EqualizedLinear(features[i], features[i + 1], lr_multiplier=lr_multiplier))
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor | None, labels: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, update_w_avg: bool = True) -> torch.Tensor:
        """``[N, z_dim]`` (and ``labels``: class indices ``[N]`` or one-hot ``[N, c_dim]``) to ``w``:
        ``[N, num_ws, w_dim]`` (``[N, w_dim]`` when ``num_ws`` is None)."""
        parts = []
        if self.z_dim > 0:
            parts.append(normalize_2nd_moment(z.reshape(z.shape[0], self.z_dim).float()))
        if self.c_dim > 0:
            if labels is None:
                raise ValueError("this mapping network is class-conditional: it needs labels")
            c = F.one_hot(labels.long(), self.c_dim).float() if labels.dim() == 1 else labels.float()
            parts.append(normalize_2nd_moment(self.embed(c)))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for i in range(self.num_layers):
            x = lrelu(getattr(self, f"fc{i}")(x))
        if self.w_avg_beta is not None and self.training and update_w_avg and hasattr(self, "w_avg"):
            with torch.no_grad():
                self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            x = self.truncate(x, truncation_psi, truncation_cutoff)
        return x

    def truncate(self, ws: torch.Tensor, psi: float, cutoff: int | None = None) -> torch.Tensor:
        """The truncation trick: ``w_avg + psi (w - w_avg)`` on the first ``cutoff`` layers (all if None)."""
        if not hasattr(self, "w_avg"):
            raise ValueError("this mapping network does not track the mean w (w_avg_beta is None)")
        if self.num_ws is None or cutoff is None:
            return self.w_avg.lerp(ws, psi)
        ws = ws.clone()
        ws[:, :cutoff] = self.w_avg.lerp(ws[:, :cutoff], psi)
        return ws
