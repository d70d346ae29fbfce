"""Finding a discriminator's feature extractor and final linear layer, for heads that read its features."""
from __future__ import annotations

from torch import nn

from gancompose import RecipeError


def split_head(net: nn.Module) -> tuple[nn.Module, nn.Linear]:
    """``(body, head)`` with ``net(x) == head(body(x))`` (up to a final reshape).

    Works for a ``sequential`` network whose last layer is ``linear`` and for blocks that expose
    ``features(x)`` and a linear ``head`` (as the SNGAN discriminator does).
    """
    if isinstance(net, nn.Sequential) and len(net) > 1 and isinstance(net[-1], nn.Linear):
        return nn.Sequential(*list(net)[:-1]), net[-1]
    features, head = getattr(net, "features", None), getattr(net, "head", None)
    if callable(features) and isinstance(head, nn.Linear):
        return _Features(net), head
    raise RecipeError("this network exposes no features and final linear layer to attach a head to",
                      hint="use a 'sequential' network ending in a linear layer, or a block with features() and "
                           "a linear head (sngan_resnet_discriminator)")


class _Features(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.features(x)
