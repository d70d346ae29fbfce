"""Finding a discriminator's feature extractor and final linear layer, for heads that read its features.

A network offers them (the ``feature_head`` capability, declared at registration) in one of two ways:

* a ``sequential`` network whose last layer is ``linear`` (trailing identity layers are skipped, so the
  ``mlp`` block with ``out_activation = "none"`` counts);
* a block with a method ``features(x) -> [N, F]`` and an attribute ``head``: a module that maps ``[N, F]``
  to the network's output and has ``in_features`` and ``out_features`` (``nn.Linear``, an equalized linear
  layer, or ``gancompose_core.discriminators.LinearView`` of a final convolution);
  ``net(x) == head(features(x))`` up to a reshape.

Blocks that do: ``mlp``, ``dcgan_discriminator``, ``sngan_resnet_discriminator``, ``progan_discriminator``,
``stylegan2_discriminator``.
"""
from __future__ import annotations

from torch import nn

from gancompose import RecipeError
from gancompose.protocols import TakesLabels

#: the capability a block declares (``provides``) when it exposes ``features()`` and a linear ``head``
FEATURE_HEAD = "feature_head"


def _is_head(head) -> bool:
    return (isinstance(head, nn.Module) and isinstance(getattr(head, "in_features", None), int)
            and isinstance(getattr(head, "out_features", None), int))


def split_head(net: nn.Module) -> tuple[nn.Module, nn.Module]:
    """``(body, head)`` with ``net(x) == head(body(x))`` (up to a final reshape)."""
    if getattr(net, "conditional", False):
        raise RecipeError("this network is class-conditional already (num_classes > 0): a second conditioning "
                          "would ignore its own", hint="set its num_classes = 0, or remove condition")
    if isinstance(net, nn.Sequential):
        layers = list(net)
        while len(layers) > 1 and isinstance(layers[-1], nn.Identity):
            layers.pop()
        if len(layers) > 1 and isinstance(layers[-1], nn.Linear):
            return nn.Sequential(*layers[:-1]), layers[-1]
    features, head = getattr(net, "features", None), getattr(net, "head", None)
    if callable(features) and _is_head(head):
        return _Features(net), head
    raise RecipeError("this network exposes no features and final linear layer to attach a head to",
                      hint="use a 'sequential' network ending in a linear layer, or a block with features() and "
                           "a linear head (dcgan_discriminator, sngan_resnet_discriminator, progan_discriminator, "
                           "stylegan2_discriminator, mlp)")


def _through(name: str) -> property:
    def get(self):
        return getattr(self.wrapped(), name)  # AttributeError when the wrapped network has none: hasattr is False
    return property(get, doc=f"the wrapped network's ``{name}``")


class Wrapper(TakesLabels, nn.Module):
    """A conditioner's wrapper: reads a growing network's attributes through to the network it wraps, so a
    conditioned ProGAN network still grows (the ``progressive`` schedule calls ``set_growth``)."""

    def wrapped(self) -> nn.Module:
        raise NotImplementedError

    # what a growing network offers (gancompose_progan.networks.Growing)
    set_growth = _through("set_growth")
    image_size = _through("image_size")
    resolution = _through("resolution")
    alpha = _through("alpha")
    stage = _through("stage")


class _Features(Wrapper):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def wrapped(self) -> nn.Module:
        return self.net

    def forward(self, x):
        return self.net.features(x)
