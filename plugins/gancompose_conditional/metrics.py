"""Evidence that conditioning works: a classifier trained on the real data labels the generated samples."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveInt
from torch import nn

from gancompose import Params, RecipeError
from gancompose.protocols import Dataset, implements
from gancompose.sampling import class_labels, generate


class ClassAccuracyParams(Params):
    per_class: PositiveInt = Field(50, description="generated samples per class")
    classifier_steps: PositiveInt = Field(600, description="training steps of the classifier on real data")
    batch_size: PositiveInt = Field(128, description="classifier batch size")


def small_classifier(shape: tuple[int, ...], num_classes: int) -> nn.Module:
    c = shape[0]
    return nn.Sequential(nn.Conv2d(c, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * 16, num_classes))


def train_classifier(dataset, steps: int, batch_size: int, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = small_classifier(tuple(dataset.sample_shape), dataset.num_classes)
        opt = torch.optim.Adam(net.parameters(), 1e-3)
        for _ in range(steps):
            idx = torch.randint(len(dataset), (batch_size,), generator=g).tolist()
            batch = dataset.get_batch(idx) if implements(dataset, "get_batch", Dataset) else torch.utils.data.default_collate(
                [dataset[i] for i in idx])
            batch = {k: v.cpu() for k, v in batch.items()}  # the data may be staged on the GPU
            loss = F.cross_entropy(net(batch["image"]), batch["label"])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


class ClassAccuracy:
    """Share of generated samples of class k that a classifier trained on the real data labels k."""

    def __init__(self, p: ClassAccuracyParams):
        self.p = p
        self._classifier = None

    @torch.no_grad()
    def __call__(self, run) -> dict[str, float]:
        ds = run.dataset
        if not ds.num_classes or len(ds.sample_shape) != 3:
            raise RecipeError("class_accuracy needs labelled image data", key=["metrics"])
        if self._classifier is None:
            with torch.enable_grad():
                self._classifier = train_classifier(ds, self.p.classifier_steps, self.p.batch_size,
                                                    run.recipe.train.seed)
        labels = class_labels(ds.num_classes, self.p.per_class)
        images = generate(run, len(labels), seed=run.recipe.train.seed, labels=labels)
        predicted = self._classifier(images).argmax(dim=1)
        per_class = [(predicted[labels == k] == k).float().mean().item() for k in range(ds.num_classes)]
        return {"accuracy": (predicted == labels).float().mean().item(), "worst_class": min(per_class)}


METRICS = [("class_accuracy", ClassAccuracy, ClassAccuracyParams)]
