"""Weight initializers, applied to a whole network after it is built."""
from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import nn

from gancompose import Params

def weight_of(m: nn.Module):
    """The tensor to initialize: under spectral norm (a parametrization) ``m.weight`` is recomputed on
    every access, so initialize the stored original instead."""
    if nn.utils.parametrize.is_parametrized(m, "weight"):
        return m.parametrizations.weight.original
    return m.weight


_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.InstanceNorm2d, nn.GroupNorm, nn.LayerNorm)


class NormalInitParams(Params):
    mean: float = Field(0.0, description="mean of conv and linear weights")
    std: float = Field(0.02, gt=0, description="std of conv and linear weights, and of norm scales around 1")


def normal(p: NormalInitParams):
    """DCGAN init: conv/linear weights N(mean, std), norm scales N(1, std), biases 0."""
    def init(net: nn.Module) -> None:
        for m in net.modules():
            if isinstance(m, _WEIGHTED):
                nn.init.normal_(weight_of(m), p.mean, p.std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, _NORMS) and getattr(m, "weight", None) is not None:
                nn.init.normal_(m.weight, 1.0, p.std)
                nn.init.zeros_(m.bias)
    return init


class FanInitParams(Params):
    scheme: Literal["xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "orthogonal"] = Field(
        "xavier_uniform", description="torch.nn.init scheme for conv and linear weights")
    gain: float = Field(1.0, gt=0, description="gain (xavier, orthogonal)")


def fan(p: FanInitParams):
    """Fan-based init (Xavier, Kaiming or orthogonal) for conv and linear weights; biases 0."""
    def init(net: nn.Module) -> None:
        for m in net.modules():
            if isinstance(m, _WEIGHTED):
                if p.scheme.startswith("kaiming"):
                    getattr(nn.init, p.scheme + "_")(weight_of(m), nonlinearity="leaky_relu", a=0.2)
                else:
                    getattr(nn.init, p.scheme + "_")(weight_of(m), gain=p.gain)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
    return init


INITIALIZERS = [("normal", normal, NormalInitParams), ("fan", fan, FanInitParams)]
