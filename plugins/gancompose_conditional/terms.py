"""The AC-GAN auxiliary classification term."""
from __future__ import annotations

import torch.nn.functional as F

from gancompose import RecipeError
from gancompose.engine import RegularizerParams, RegularizerTerm


class AuxiliaryClassifierLoss(RegularizerTerm):
    """AC-GAN classification loss: on the discriminator, cross-entropy of its class head on real and fake
    images; on the generator, cross-entropy of the head on its fakes for the classes they were made for."""
    name = "auxiliary_classifier"
    requires = ("class_head",)

    def __call__(self, ctx):
        d = ctx.discriminator
        if not hasattr(d, "classify"):
            raise RecipeError("the discriminator has no class head: add condition = {type = "
                              "'auxiliary_classifier'} to it", key=["regularizers"])
        if ctx.fake_labels is None:
            raise RecipeError("the generator is not conditional, so its fakes have no classes", key=["regularizers"])
        if self.network == ctx.run.schedule.roles["generator"]:
            return F.cross_entropy(d.classify(ctx.fake), ctx.fake_labels)
        return (F.cross_entropy(d.classify(ctx.real), ctx.labels)
                + F.cross_entropy(d.classify(ctx.fake.detach()), ctx.fake_labels))


TERMS = [("auxiliary_classifier", AuxiliaryClassifierLoss, RegularizerParams)]
