"""The official pix2pix U-Net generator's module tree, from torch.nn only, to read official files.

:class:`OfficialUnetGenerator` rebuilds the module tree of ``UnetGenerator`` and its nested
``UnetSkipConnectionBlock`` in junyanz/pytorch-CycleGAN-and-pix2pix (models/networks.py), so its state-dict keys
are those of an official ``latest_net_G.pth`` (``model.model.0.weight``, ``model.model.1.model.1.weight``,
``model.model.1.model.3.model.1.weight``, ...). It is written from the facts of that code, not copied:

* the outermost level is ``[down conv, inner, ReLU, up conv (with a bias), Tanh]`` and returns its output;
* a middle level is ``[LeakyReLU(0.2), down conv, norm, inner, ReLU, up conv, norm]`` (+ ``Dropout(0.5)`` for
  the ``ngf * 8`` levels built in the loop), the innermost ``[LeakyReLU(0.2), down conv, ReLU, up conv, norm]``;
  both return ``cat([x, model(x)])``. The LeakyReLU is *in place*, so the ``x`` concatenated is the input after
  LeakyReLU: the skip connections carry ``leaky_relu(x)`` (:class:`gancompose_pix2pix.networks.UnetGenerator`
  concatenates that too; the ReLU that opens the next level up makes it the same as ``relu(x)`` anyway);
* convolutions have a bias only when the norm is instance norm (``use_bias``), except the outermost up
  convolution, which always has one;
* whatever ``num_downs`` is, the official code builds at least five levels (the loop adds ``num_downs - 5``
  levels of ``ngf * 8`` channels between the innermost and the four outer ones).

At ``UnetGenerator(3, 3, 8, 64, BatchNorm2d, use_dropout=True)`` (``--netG unet_256``) it has 54,413,955
parameters. The importer (gancompose_pix2pix/importer.py) loads an official file into this tree first, strictly,
then renames its tensors to the ``unet_generator`` block's layout and checks both compute the same function.
"""
from __future__ import annotations

import functools

import torch
from torch import nn


def norm_layer(norm: str):
    """The official ``get_norm_layer``: BatchNorm2d (affine, running statistics), InstanceNorm2d (neither), none."""
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if norm == "none":
        return lambda channels: nn.Identity()
    raise ValueError(f"unknown norm {norm!r} (batch, instance, none)")


class OfficialUnetSkipBlock(nn.Module):
    """``UnetSkipConnectionBlock(outer_nc, inner_nc, input_nc, submodule, outermost, innermost, norm_layer,
    use_dropout)``: its children are one ``nn.Sequential`` called ``model``."""

    def __init__(self, outer_nc: int, inner_nc: int, input_nc: int | None = None, submodule: nn.Module | None = None,
                 outermost: bool = False, innermost: bool = False, norm: str = "batch", use_dropout: bool = False):
        super().__init__()
        self.outermost = outermost
        nl = norm_layer(norm)
        use_bias = norm == "instance"
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
        if outermost:
            layers = [downconv, submodule, nn.ReLU(True),
                      nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1), nn.Tanh()]
        elif innermost:
            layers = [nn.LeakyReLU(0.2, True), downconv, nn.ReLU(True),
                      nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias),
                      nl(outer_nc)]
        else:
            layers = [nn.LeakyReLU(0.2, True), downconv, nl(inner_nc), submodule, nn.ReLU(True),
                      nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias),
                      nl(outer_nc)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        # as the official code: the list holds x, then model(x) modifies it in place (its first LeakyReLU)
        return torch.cat([x, self.model(x)], 1)


class OfficialUnetGenerator(nn.Module):
    """``UnetGenerator(input_nc, output_nc, num_downs, ngf, norm_layer, use_dropout)``, built inside out."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, num_downs: int = 8, ngf: int = 64, norm: str = "batch",
                 use_dropout: bool = False):
        super().__init__()
        block = OfficialUnetSkipBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(num_downs - 5):
            block = OfficialUnetSkipBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, use_dropout=use_dropout)
        block = OfficialUnetSkipBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = OfficialUnetSkipBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = OfficialUnetSkipBlock(ngf, ngf * 2, submodule=block, norm=norm)
        self.model = OfficialUnetSkipBlock(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True,
                                           norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def official_level_paths(num_downs: int) -> list[str]:
    """The module path of each level's ``nn.Sequential``, outermost first: ``model.model``, ``model.model.1.model``,
    ``model.model.1.model.3.model``, ... (the submodule sits at index 1 of the outermost level, 3 of the others)."""
    levels = max(num_downs, 5)
    paths = ["model.model", "model.model.1.model"]
    while len(paths) < levels:
        paths.append(paths[-1] + ".3.model")
    return paths
