"""The CycleGAN ResNet generator, in two module layouts, from torch.nn only.

:class:`OfficialResnetGenerator` is the module tree of ``ResnetGenerator`` in
junyanz/pytorch-CycleGAN-and-pix2pix (models/networks.py): its state-dict keys (``model.1.weight``,
``model.10.conv_block.1.weight``, ...) are those of the official ``latest_net_G_A.pth`` files. It is used
to check an official file's keys, shapes and parameter count (ResNet-9 at ngf = 64: 11,378,179).

:class:`ResnetGenerator` is the same network laid out with the names gancompose gives it
(``stem.conv.weight``, ``blocks.0.conv1.weight``, ``up.1.conv.weight``, ``head.conv.weight``): the layout of
the ``resnet_generator`` block that this plugin registers. Both compute the same function.
"""
from __future__ import annotations

import functools

import torch
from torch import nn

N_DOWN = 2  # the official generator always has two stride-2 stages down and up


def norm_layer(norm: str):
    if norm == "instance":  # the CycleGAN default: no affine parameters, no running statistics
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if norm == "none":
        return lambda ch: nn.Identity()
    raise ValueError(f"unknown norm {norm!r} (instance, batch, none)")


def _pad(padding: str, p: int) -> nn.Module:
    return {"reflect": nn.ReflectionPad2d, "replicate": nn.ReplicationPad2d}[padding](p)


# ------------------------------------------------------------------------ the official tree
class OfficialResnetBlock(nn.Module):
    def __init__(self, dim: int, norm: str, use_dropout: bool, use_bias: bool, padding: str = "reflect"):
        super().__init__()
        nl = norm_layer(norm)
        block: list[nn.Module] = [_pad(padding, 1), nn.Conv2d(dim, dim, 3, padding=0, bias=use_bias), nl(dim),
                                  nn.ReLU(True)]
        if use_dropout:
            block.append(nn.Dropout(0.5))
        block += [_pad(padding, 1), nn.Conv2d(dim, dim, 3, padding=0, bias=use_bias), nl(dim)]
        self.conv_block = nn.Sequential(*block)

    def forward(self, x):
        return x + self.conv_block(x)


class OfficialResnetGenerator(nn.Module):
    """``ResnetGenerator(input_nc, output_nc, ngf, norm_layer, use_dropout, n_blocks, padding_type)``."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, norm: str = "instance",
                 use_dropout: bool = False, n_blocks: int = 9, padding: str = "reflect"):
        super().__init__()
        nl = norm_layer(norm)
        use_bias = norm == "instance"  # the official code: bias only when the norm layer is InstanceNorm2d
        model: list[nn.Module] = [_pad(padding, 3), nn.Conv2d(input_nc, ngf, 7, padding=0, bias=use_bias), nl(ngf),
                                  nn.ReLU(True)]
        for i in range(N_DOWN):
            mult = 2 ** i
            model += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=use_bias),
                      nl(ngf * mult * 2), nn.ReLU(True)]
        mult = 2 ** N_DOWN
        model += [OfficialResnetBlock(ngf * mult, norm, use_dropout, use_bias, padding) for _ in range(n_blocks)]
        for i in range(N_DOWN):
            mult = 2 ** (N_DOWN - i)
            model += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1,
                                         bias=use_bias), nl(ngf * mult // 2), nn.ReLU(True)]
        model += [_pad(padding, 3), nn.Conv2d(ngf, output_nc, 7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x)


# ----------------------------------------------------------------------- the gancompose tree
class ConvUnit(nn.Module):
    """pad -> conv -> norm -> activation; the names of its tensors are ``conv.*`` and ``norm.*``."""

    def __init__(self, conv: nn.Module, norm: nn.Module, act: nn.Module, pad: nn.Module | None = None):
        super().__init__()
        self.pad = pad if pad is not None else nn.Identity()
        self.conv, self.norm, self.act = conv, norm, act

    def forward(self, x):
        return self.act(self.norm(self.conv(self.pad(x))))


class ResidualBlock(nn.Module):
    """x + norm2(conv2(pad(relu(norm1(conv1(pad(x))))))), with optional dropout after the ReLU."""

    def __init__(self, dim: int, norm: str, use_dropout: bool, use_bias: bool, padding: str = "reflect"):
        super().__init__()
        nl = norm_layer(norm)
        self.pad1, self.conv1, self.norm1 = _pad(padding, 1), nn.Conv2d(dim, dim, 3, bias=use_bias), nl(dim)
        self.act = nn.ReLU(True)
        self.dropout = nn.Dropout(0.5) if use_dropout else nn.Identity()
        self.pad2, self.conv2, self.norm2 = _pad(padding, 1), nn.Conv2d(dim, dim, 3, bias=use_bias), nl(dim)

    def forward(self, x):
        h = self.dropout(self.act(self.norm1(self.conv1(self.pad1(x)))))
        return x + self.norm2(self.conv2(self.pad2(h)))


class ResnetGenerator(nn.Module):
    """The ResNet generator of CycleGAN (Zhu et al. 2017, after Johnson et al. 2016) with gancompose names:
    ``stem``, ``down.i``, ``blocks.i``, ``up.i``, ``head``."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, norm: str = "instance",
                 use_dropout: bool = False, n_blocks: int = 9, padding: str = "reflect"):
        super().__init__()
        nl = norm_layer(norm)
        use_bias = norm == "instance"
        self.stem = ConvUnit(nn.Conv2d(in_channels, ngf, 7, bias=use_bias), nl(ngf), nn.ReLU(True), _pad(padding, 3))
        self.down = nn.ModuleList(
            ConvUnit(nn.Conv2d(ngf * 2 ** i, ngf * 2 ** (i + 1), 3, stride=2, padding=1, bias=use_bias),
                     nl(ngf * 2 ** (i + 1)), nn.ReLU(True)) for i in range(N_DOWN))
        dim = ngf * 2 ** N_DOWN
        self.blocks = nn.Sequential(*(ResidualBlock(dim, norm, use_dropout, use_bias, padding)
                                      for _ in range(n_blocks)))
        self.up = nn.ModuleList(
            ConvUnit(nn.ConvTranspose2d(ngf * 2 ** (N_DOWN - i), ngf * 2 ** (N_DOWN - i - 1), 3, stride=2, padding=1,
                                        output_padding=1, bias=use_bias),
                     nl(ngf * 2 ** (N_DOWN - i - 1)), nn.ReLU(True)) for i in range(N_DOWN))
        self.head = ConvUnit(nn.Conv2d(ngf, out_channels, 7), nn.Identity(), nn.Tanh(), _pad(padding, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for unit in self.down:
            x = unit(x)
        x = self.blocks(x)
        for unit in self.up:
            x = unit(x)
        return self.head(x)
