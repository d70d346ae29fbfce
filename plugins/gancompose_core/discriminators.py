"""What image discriminator blocks share (DCGAN, SNGAN, StyleGAN2): the input channels they take, and the
view of a final convolution as the linear head that class conditioners attach to (``feature_head``)."""
from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from gancompose import RecipeError


def image_input_channels(p, in_shape: tuple[int, ...], nc: int, image_size: int) -> int:
    """The channels the block takes: ``nc`` (the image's) or, when the network is class-conditioned, as many as its
    conditioner gives it (``concat`` adds the label as constant channels), so that count is never set by hand.
    Raises a RecipeError when the input is not a ``[C, image_size, image_size]`` image with those channels."""
    conditioned = getattr(p, "condition", None) is not None
    if (len(in_shape) == 3 and tuple(in_shape[1:]) == (image_size, image_size)
            and (in_shape[0] == nc or (conditioned and in_shape[0] > nc))):
        return in_shape[0]
    raise RecipeError(f"the data's samples have shape {tuple(in_shape)}, but this discriminator takes "
                      f"{(nc, image_size, image_size)}", hint="set nc and image_size to match [data]")


class LinearView(nn.Module):
    """A convolution whose kernel covers its whole input (DCGAN's last 4x4 conv) applied as a linear layer to the
    flattened input, with the conv's own weights: ``LinearView(conv)(h.flatten(1)) == conv(h).flatten(1)``."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.conv = conv
        self.in_features, self.out_features = conv.weight[0].numel(), conv.out_channels

    def forward(self, h):
        return F.linear(h, self.conv.weight.flatten(1), self.conv.bias)
