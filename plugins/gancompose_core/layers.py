"""Layers for ``type = "sequential"`` networks. Input sizes are inferred from the previous layer."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, PositiveInt
from torch import nn

from gancompose import Params, RecipeError
from gancompose.nn import spectral_norm

Shape = tuple[int, ...]


def _check_in(name: str, declared: int | None, actual: int, what: str) -> None:
    if declared is not None and declared != actual:
        raise RecipeError(f"expected {actual} (the previous layer gives {what} {actual}), got {declared}",
                          key=[name], hint=f"remove {name} to infer it, or fix the layer before")


def _image_input(in_shape: Shape, layer: str) -> None:
    if len(in_shape) != 3:
        raise RecipeError(f"{layer} expects an image input (C, H, W), but the previous layer gives {in_shape}",
                          hint="add a 'reshape' layer before it")


def _maybe_sn(module: nn.Module, on: bool) -> nn.Module:
    return spectral_norm(module) if on else module


class LinearParams(Params):
    out_features: PositiveInt = Field(description="output size")
    in_features: Optional[PositiveInt] = Field(None, description="input size (inferred when omitted)")
    bias: bool = Field(True, description="learn an additive bias")
    spectral_norm: bool = Field(False, description="spectral normalization of the weight (Miyato et al. 2018)")


def linear(p: LinearParams, in_shape: Shape) -> nn.Module:
    """Fully connected layer over the last dimension."""
    _check_in("in_features", p.in_features, in_shape[-1], "features")
    return _maybe_sn(nn.Linear(in_shape[-1], p.out_features, bias=p.bias), p.spectral_norm)


#: as the last layer of a sequential network: the linear head that projection and auxiliary-classifier
#: conditioners attach to (the layers before it give the features)
linear.provides = ("feature_head",)


class ConvParams(Params):
    out_channels: PositiveInt = Field(description="output channels")
    kernel_size: PositiveInt = Field(3, description="kernel size")
    stride: PositiveInt = Field(1, description="stride")
    padding: int = Field(0, ge=0, description="zero padding on each side")
    bias: bool = Field(True, description="learn an additive bias")
    in_channels: Optional[PositiveInt] = Field(None, description="input channels (inferred when omitted)")
    spectral_norm: bool = Field(False, description="spectral normalization of the weight (Miyato et al. 2018)")


class Conv2dParams(ConvParams):
    padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = Field("zeros", description="how to pad")


def conv2d(p: Conv2dParams, in_shape: Shape) -> nn.Module:
    """2-D convolution."""
    _image_input(in_shape, "conv2d")
    _check_in("in_channels", p.in_channels, in_shape[0], "channels")
    return _maybe_sn(nn.Conv2d(in_shape[0], p.out_channels, p.kernel_size, p.stride, p.padding, bias=p.bias,
                               padding_mode=p.padding_mode), p.spectral_norm)


class ConvTransposeParams(ConvParams):
    output_padding: int = Field(0, ge=0, description="extra size added to one side of the output")


def conv_transpose2d(p: ConvTransposeParams, in_shape: Shape) -> nn.Module:
    """2-D transposed convolution (fractionally strided), for upsampling generators."""
    _image_input(in_shape, "conv_transpose2d")
    _check_in("in_channels", p.in_channels, in_shape[0], "channels")
    return _maybe_sn(nn.ConvTranspose2d(in_shape[0], p.out_channels, p.kernel_size, p.stride, p.padding,
                                        output_padding=p.output_padding, bias=p.bias), p.spectral_norm)


class BatchNormParams(Params):
    momentum: float = Field(0.1, gt=0, le=1, description="running-statistics momentum")
    eps: float = Field(1e-5, gt=0, description="added to the variance")
    affine: bool = Field(True, description="learn a scale and shift")


def batch_norm(p: BatchNormParams, in_shape: Shape) -> nn.Module:
    """Batch normalization over the channel (or feature) dimension; 1-D or 2-D from the input."""
    cls = nn.BatchNorm2d if len(in_shape) == 3 else nn.BatchNorm1d
    return cls(in_shape[0], eps=p.eps, momentum=p.momentum, affine=p.affine)


class InstanceNormParams(Params):
    affine: bool = Field(False, description="learn a scale and shift")
    eps: float = Field(1e-5, gt=0, description="added to the variance")


def instance_norm(p: InstanceNormParams, in_shape: Shape) -> nn.Module:
    """Instance normalization over each image's channels."""
    _image_input(in_shape, "instance_norm")
    return nn.InstanceNorm2d(in_shape[0], eps=p.eps, affine=p.affine)


class LeakyReLUParams(Params):
    negative_slope: float = Field(0.2, description="slope for negative inputs (0.2 as in DCGAN)")


def leaky_relu(p: LeakyReLUParams, in_shape: Shape) -> nn.Module:
    """Leaky ReLU."""
    return nn.LeakyReLU(p.negative_slope)


def relu(p: Params, in_shape: Shape) -> nn.Module:
    """ReLU."""
    return nn.ReLU()


def tanh(p: Params, in_shape: Shape) -> nn.Module:
    """Tanh: maps to [-1, 1], the range of the data."""
    return nn.Tanh()


def sigmoid(p: Params, in_shape: Shape) -> nn.Module:
    """Sigmoid."""
    return nn.Sigmoid()


class DropoutParams(Params):
    p: float = Field(0.5, ge=0, lt=1, description="probability of zeroing an element")


def dropout(p: DropoutParams, in_shape: Shape) -> nn.Module:
    """Dropout."""
    return nn.Dropout(p.p)


def flatten(p: Params, in_shape: Shape) -> nn.Module:
    """Flatten each sample to a vector."""
    return nn.Flatten()


class ReshapeParams(Params):
    shape: list[int] = Field(description="per-sample output shape, e.g. [100, 1, 1] or [1, 28, 28]")


def reshape(p: ReshapeParams, in_shape: Shape) -> nn.Module:
    """Reshape each sample (the batch dimension is kept)."""
    n_in, n_out = 1, 1
    for d in in_shape:
        n_in *= d
    for d in p.shape:
        n_out *= d
    if n_in != n_out:
        raise RecipeError(f"cannot reshape {in_shape} ({n_in} values) to {tuple(p.shape)} ({n_out} values)",
                          key=["shape"])
    return nn.Unflatten(1, tuple(p.shape)) if len(in_shape) == 1 else nn.Sequential(nn.Flatten(),
                                                                                     nn.Unflatten(1, tuple(p.shape)))


class UpsampleParams(Params):
    scale_factor: PositiveInt = Field(2, description="size multiplier")
    mode: Literal["nearest", "bilinear"] = Field("nearest", description="interpolation")


def upsample(p: UpsampleParams, in_shape: Shape) -> nn.Module:
    """Upsample an image by an integer factor."""
    _image_input(in_shape, "upsample")
    return nn.Upsample(scale_factor=p.scale_factor, mode=p.mode)


LAYERS = [
    ("linear", linear, LinearParams), ("conv2d", conv2d, Conv2dParams),
    ("conv_transpose2d", conv_transpose2d, ConvTransposeParams), ("batch_norm", batch_norm, BatchNormParams),
    ("instance_norm", instance_norm, InstanceNormParams), ("leaky_relu", leaky_relu, LeakyReLUParams),
    ("relu", relu, None), ("tanh", tanh, None), ("sigmoid", sigmoid, None), ("dropout", dropout, DropoutParams),
    ("flatten", flatten, None), ("reshape", reshape, ReshapeParams), ("upsample", upsample, UpsampleParams),
]
