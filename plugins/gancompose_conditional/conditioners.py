"""Conditioners: make any network in the registry class-conditional from the recipe."""
from __future__ import annotations

from typing import Literal, Optional

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveInt
from torch import nn

from gancompose import Params, RecipeError
from gancompose.nn import NormalizationLayer, spectral_norm as apply_spectral_norm
from gancompose_conditional.heads import FEATURE_HEAD, Wrapper, split_head

Shape = tuple[int, ...]


# ------------------------------------------------------------------------------ concatenation
class ConcatParams(Params):
    embedding_dim: Optional[PositiveInt] = Field(None, description="size of the learned label embedding "
                                                                   "(default: the number of classes)")
    encoding: Literal["embedding", "one_hot"] = Field("embedding", description="learned embedding or fixed one-hot")
    images: Literal["channels", "flatten"] = Field("channels", description="for image inputs: add the label "
                                                   "vector as constant channels, or flatten the image and append it "
                                                   "(the CGAN MLP discriminator)")


class ConcatLabels(Wrapper):
    """``net(cat(x, e(y)))``: the label vector is appended to a flat input, or as constant channels to an image."""
    conditional = True

    def __init__(self, net: nn.Module, num_classes: int, dim: int, one_hot: bool, flatten: bool):
        super().__init__()
        self.net, self.num_classes, self.flatten = net, num_classes, flatten
        self.embed = None if one_hot else nn.Embedding(num_classes, dim)

    def wrapped(self) -> nn.Module:
        return self.net

    def forward(self, x, labels):
        e = F.one_hot(labels, self.num_classes).to(x.dtype) if self.embed is None else self.embed(labels)
        if self.flatten:
            x = x.flatten(1)
        elif x.dim() > 2:
            e = e[:, :, None, None].expand(-1, -1, *x.shape[2:])
        return self.net(torch.cat([x, e], dim=1))


class Concat:
    """Concatenate a label embedding to the input (CGAN, Mirza & Osindero 2014): to z, or as channels to an image.

    The network is built for the wider input: an image discriminator block takes ``nc`` plus the label channels
    without being told (its ``nc`` stays the image's)."""

    def __init__(self, p: ConcatParams, num_classes: int):
        self.p, self.num_classes = p, num_classes
        self.dim = num_classes if p.encoding == "one_hot" else (p.embedding_dim or num_classes)

    def _flatten(self, shape: Shape) -> bool:
        return len(shape) > 1 and self.p.images == "flatten"

    def in_shape(self, shape: Shape) -> Shape:
        if self._flatten(shape):
            n = 1
            for d in shape:
                n *= d
            return (n + self.dim,)
        return (shape[0] + self.dim, *shape[1:])

    def wrap(self, net: nn.Module, in_shape: Shape) -> nn.Module:
        return ConcatLabels(net, self.num_classes, self.dim, self.p.encoding == "one_hot", self.p.images == "flatten")


# -------------------------------------------------------------------------------- projection
class ProjectionParams(Params):
    spectral_norm: bool = Field(True, description="spectral normalization of the class embedding (as in SNGAN)")


class ProjectionDiscriminator(Wrapper):
    """``head(h) + <embed(y), h>`` with ``h`` the network's features (Miyato & Koyama 2018)."""
    conditional = True

    def __init__(self, body: nn.Module, head: nn.Module, num_classes: int, spectral_norm: bool):
        super().__init__()
        self.body, self.head = body, head
        self.embed = nn.Embedding(num_classes, head.in_features)
        nn.init.xavier_uniform_(self.embed.weight)
        if spectral_norm:
            apply_spectral_norm(self.embed)

    def wrapped(self) -> nn.Module:
        return self.body

    def forward(self, x, labels):
        h = self.body(x).flatten(1)
        return (self.head(h) + (self.embed(labels) * h).sum(dim=1, keepdim=True)).flatten()


class Projection:
    """Projection discriminator (Miyato & Koyama 2018): inner product of a class embedding with D's features."""
    requires = (FEATURE_HEAD,)  # from the block of the network it conditions

    def __init__(self, p: ProjectionParams, num_classes: int):
        self.p, self.num_classes = p, num_classes

    def in_shape(self, shape: Shape) -> Shape:
        return shape

    def wrap(self, net: nn.Module, in_shape: Shape) -> nn.Module:
        body, head = split_head(net)
        if head.out_features != 1:
            raise RecipeError(f"projection needs a final linear layer with one output, this one has {head.out_features}")
        return ProjectionDiscriminator(body, head, self.num_classes, self.p.spectral_norm)


# ------------------------------------------------------------------ conditional batch norm
class ConditionalBatchNormParams(Params):
    pass


class ConditionalBatchNorm(NormalizationLayer):
    """Batch norm whose scale and shift are looked up per class (de Vries et al. 2017; SNGAN, BigGAN)."""

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm, num_classes: int):
        super().__init__()
        self.bn = type(bn)(bn.num_features, eps=bn.eps, momentum=bn.momentum, affine=False)
        self.gamma = nn.Embedding(num_classes, bn.num_features)
        self.beta = nn.Embedding(num_classes, bn.num_features)
        nn.init.ones_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)
        self.labels: torch.Tensor | None = None

    def forward(self, x):
        shape = (x.shape[0], -1) + (1,) * (x.dim() - 2)
        return self.bn(x) * self.gamma(self.labels).view(shape) + self.beta(self.labels).view(shape)


class ConditionalBatchNormNet(Wrapper):
    conditional = True

    def __init__(self, net: nn.Module, num_classes: int):
        super().__init__()
        for name, module in list(net.named_modules()):
            for child_name, child in list(module.named_children()):
                if isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d)):
                    setattr(module, child_name, ConditionalBatchNorm(child, num_classes))
        self.cbn = [m for m in net.modules() if isinstance(m, ConditionalBatchNorm)]
        if not self.cbn:
            raise RecipeError("the network has no batch norm layers to make conditional",
                              hint="use 'concat' to condition a network without batch norm")
        self.net = net

    def wrapped(self) -> nn.Module:
        return self.net

    def forward(self, x, labels):
        for m in self.cbn:
            m.labels = labels
        try:
            return self.net(x)
        finally:
            for m in self.cbn:
                m.labels = None


class ConditionalBatchNormConditioner:
    """Replace every batch norm of the network with class-conditional batch norm (a per-class scale and shift)."""

    def __init__(self, p: ConditionalBatchNormParams, num_classes: int):
        self.num_classes = num_classes

    def in_shape(self, shape: Shape) -> Shape:
        return shape

    def wrap(self, net: nn.Module, in_shape: Shape) -> nn.Module:
        return ConditionalBatchNormNet(net, self.num_classes)


# -------------------------------------------------------------------- auxiliary classifier
class AuxiliaryClassifierParams(Params):
    pass


class AuxiliaryClassifierDiscriminator(Wrapper):
    """An unconditional discriminator with a second head that classifies its input (AC-GAN)."""
    conditional = False

    def __init__(self, body: nn.Module, head: nn.Module, num_classes: int):
        super().__init__()
        self.body, self.head = body, head
        self.classifier = nn.Linear(head.in_features, num_classes)

    def wrapped(self) -> nn.Module:
        return self.body

    def forward(self, x):
        return self.head(self.body(x).flatten(1)).flatten()

    def classify(self, x):
        return self.classifier(self.body(x).flatten(1))


class AuxiliaryClassifier:
    """Add a class-prediction head on the discriminator's features (AC-GAN, Odena et al. 2017); train it with
    the auxiliary_classifier regularizer."""
    requires = (FEATURE_HEAD,)  # from the block of the network it conditions
    provides = ("class_head",)

    def __init__(self, p: AuxiliaryClassifierParams, num_classes: int):
        self.num_classes = num_classes

    def in_shape(self, shape: Shape) -> Shape:
        return shape

    def wrap(self, net: nn.Module, in_shape: Shape) -> nn.Module:
        body, head = split_head(net)
        return AuxiliaryClassifierDiscriminator(body, head, self.num_classes)


CONDITIONERS = [("concat", Concat, ConcatParams), ("projection", Projection, ProjectionParams),
                ("conditional_batch_norm", ConditionalBatchNormConditioner, ConditionalBatchNormParams),
                ("auxiliary_classifier", AuxiliaryClassifier, AuxiliaryClassifierParams)]
