"""``translation``: evidence that a cycle pair translates, from classifiers trained on the real data.

For data whose scenes are labelled in both domains (``unpaired_shapes``), three small classifiers are
trained once on the real images: one tells domain A from domain B, one names the shape in A images,
one names it in B images. Over ``samples`` images of each domain it reports:
    AtoB_domain / BtoA_domain    share of translations the domain classifier puts in the target domain
    AtoB_content / BtoA_content  share of translations whose shape the target domain's classifier names
                                 as the source image's shape (chance: 1/6)
    AtoB_cycle / BtoA_cycle      mean |G_inverse(G(x)) - x| on the [-1, 1] scale
"""
from __future__ import annotations

import torch
from pydantic import Field, PositiveInt

from gancompose import Params, RecipeError
from gancompose.data.images import to_unit_range
from gancompose.engine import translations
from gancompose.sampling import translate_images as translate

from gancompose_cycle.unpaired import UnpairedTensors

OTHER = {"A": "B", "B": "A"}


class TranslationParams(Params):
    samples: PositiveInt = Field(256, description="images of each domain to translate")
    classifier_steps: PositiveInt = Field(300, description="training steps of each classifier on the real data")
    batch_size: PositiveInt = Field(64, description="classifier batch size")


class _Labelled:
    """A labelled uint8 image set in the form the conditional plugin's classifier trainer reads."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, num_classes: int):
        self.images, self.labels, self.num_classes = images, labels, num_classes
        self.sample_shape = tuple(images.shape[1:])

    def __len__(self) -> int:
        return len(self.images)

    def get_batch(self, idx):
        idx = torch.as_tensor(idx)
        return {"image": to_unit_range(self.images[idx]), "label": self.labels[idx]}


class Translation:
    def __init__(self, p: TranslationParams):
        self.p = p
        self._classifiers: dict[str, torch.nn.Module] | None = None

    def _train(self, ds, seed: int) -> dict[str, torch.nn.Module]:
        from gancompose_conditional.metrics import train_classifier
        a, b = ds.images["A"], ds.images["B"]
        k = len(ds.classes)
        domains = _Labelled(torch.cat([a, b]), torch.cat([torch.zeros(len(a)), torch.ones(len(b))]).long(), 2)
        steps, bs = self.p.classifier_steps, self.p.batch_size
        with torch.enable_grad():
            return {"domain": train_classifier(domains, steps, bs, seed),
                    "A": train_classifier(_Labelled(a, ds.labels["A"], k), steps, bs, seed),
                    "B": train_classifier(_Labelled(b, ds.labels["B"], k), steps, bs, seed)}

    @torch.no_grad()
    def __call__(self, run) -> dict[str, float]:
        ds = run.dataset
        # the directions come from the recipe's schedule table, so a run rebuilt for `gancompose eval` works too
        directions = translations(run.recipe.schedule)
        if not isinstance(ds, UnpairedTensors) or ds.labels.get("A") is None or not directions:
            raise RecipeError("the translation metric needs a cycle pair trained on labelled unpaired data "
                              "(such as unpaired_shapes)", key=["metrics"])
        if self._classifiers is None:
            self._classifiers = self._train(ds, run.recipe.train.seed)
        out: dict[str, float] = {}
        for src in ("A", "B"):
            dst = OTHER[src]
            n = min(self.p.samples, len(ds.images[src]))
            x = ds.domain(src, n)
            g, inverse = run.networks[directions[f"{src}to{dst}"]], run.networks[directions[f"{dst}to{src}"]]
            y = translate(g, x, run.device, batch_size=64)
            back = translate(inverse, y, run.device, batch_size=64)
            in_target = self._classifiers["domain"](y).argmax(1) == (1 if dst == "B" else 0)
            same_shape = self._classifiers[dst](y).argmax(1) == ds.labels[src][:n]
            out[f"{src}to{dst}_domain"] = in_target.float().mean().item()
            out[f"{src}to{dst}_content"] = same_shape.float().mean().item()
            out[f"{src}to{dst}_cycle"] = (back - x).abs().mean().item()
        return out


METRICS = [("translation", Translation, TranslationParams)]
