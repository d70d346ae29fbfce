"""Image metrics as ``[[metrics]]`` components: FID, KID, Inception Score, precision/recall, and the
classifier-feature scores (FID, class coverage, conditional accuracy) that need no download.

Each metric object keeps its feature extractor and the real data's features between calls, so during
training only the generated samples are embedded at each evaluation.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveInt

from gancompose import RecipeError
from gancompose_eval import stats
from gancompose_eval.features import FeatureParams, fake_samples, make_extractor, real_samples


class _OnFeatures:
    needs_real = True

    def __init__(self, p):
        self.p = p
        self._extractor = None
        self._real: dict | None = None

    def extractor(self, run):
        if self._extractor is None:
            self._extractor = make_extractor(self.p, run)
        return self._extractor

    def real_features(self, run) -> dict[str, torch.Tensor]:
        if self._real is None:
            self._real = self.extractor(run)(real_samples(run, self.p.samples, self.p.seed))
        return self._real

    def fake_features(self, run, n: int | None = None, labels=None) -> dict[str, torch.Tensor]:
        return self.extractor(run)(fake_samples(run, n or self.p.samples, self.p.seed, labels))


class FIDParams(FeatureParams):
    samples: PositiveInt = Field(10_000, description="generated and real samples (50,000 in the literature)")


class FID(_OnFeatures):
    """Fréchet Inception Distance (Heusel et al. 2017) between generated and training samples."""

    @torch.no_grad()
    def __call__(self, run) -> dict[str, float]:
        return {"value": stats.fid_from_features(self.real_features(run)["features"],
                                                 self.fake_features(run)["features"])}


class KIDParams(FeatureParams):
    samples: PositiveInt = Field(10_000, description="generated and real samples")
    subsets: PositiveInt = Field(100, description="random subsets the MMD is averaged over")
    subset_size: PositiveInt = Field(1000, description="samples of each set per subset")


class KID(_OnFeatures):
    """Kernel Inception Distance (Bińkowski et al. 2018): unbiased cubic-kernel MMD^2, mean and std over subsets."""

    @torch.no_grad()
    def __call__(self, run) -> dict[str, float]:
        mean, std = stats.kid_from_features(self.real_features(run)["features"], self.fake_features(run)["features"],
                                            self.p.subsets, self.p.subset_size, self.p.seed)
        return {"mean": mean, "std": std}


class ISParams(FeatureParams):
    samples: PositiveInt = Field(10_000, description="generated samples (50,000 in the literature)")
    splits: PositiveInt = Field(10, description="the score is averaged over this many splits")


class InceptionScore(_OnFeatures):
    """Inception Score (Salimans et al. 2016) of generated samples, mean and std over splits."""

    def __init__(self, p: ISParams):
        if p.features == "raw":
            raise RecipeError("the Inception Score needs class probabilities: features = 'inception' or "
                              "'classifier'", key=["features"])
        super().__init__(p)

    @torch.no_grad()
    def __call__(self, run) -> dict[str, float]:
        probs = F.softmax(self.fake_features(run)["logits"].double(), dim=1)
        mean, std = stats.inception_score_from_probs(probs, self.p.splits)
        return {"mean": mean, "std": std}


class PRParams(FeatureParams):
    samples: PositiveInt = Field(10_000, description="generated and real samples")
    k: PositiveInt = Field(3, description="the k of the k-th nearest neighbour radius")


class PrecisionRecall(_OnFeatures):
    """Improved precision and recall (Kynkäänniemi et al. 2019): k-NN manifolds on any features."""

    @torch.no_grad()
    def __call__(self, run) -> dict[str, float]:
        precision, recall = stats.precision_recall(self.real_features(run)["features"],
                                                   self.fake_features(run)["features"], self.p.k)
        return {"precision": precision, "recall": recall}


class ClassifierMetricsParams(FeatureParams):
    features: Literal["classifier"] = Field("classifier", description="always 'classifier'")
    samples: PositiveInt = Field(2_500, description="generated and real samples")
    min_share: float = Field(0.1, ge=0, le=1, description="a class is covered when it receives at least this share "
                                                         "of its expected count (samples / classes)")
    confidence: float = Field(0.9, gt=0, lt=1, description="a sample is confidently classified above this "
                                                           "probability (the analogue of mode coverage's "
                                                           "high-quality samples)")


class ClassifierMetrics(_OnFeatures):
    """FID on the features of a classifier trained on the run's labelled data, class coverage and, for a
    conditional generator, the share of samples classified as the class asked for. Fully offline."""

    @torch.no_grad()
    def __call__(self, run) -> dict[str, float]:
        real = self.real_features(run)
        num_classes = real["logits"].shape[1]
        from gancompose.engine.context import is_conditional
        conditional = is_conditional(run.sampling_network(run.generator_name(), True))
        labels = None
        if conditional:  # as many of each class, in random order
            g = torch.Generator().manual_seed(self.p.seed)
            labels = torch.arange(self.p.samples) % num_classes
            labels = labels[torch.randperm(len(labels), generator=g)]
        fake = self.fake_features(run, labels=labels)
        probs = F.softmax(fake["logits"].double(), dim=1)
        conf, predicted = probs.max(dim=1)
        counts = torch.bincount(predicted, minlength=num_classes)
        out = {"fid": stats.fid_from_features(real["features"], fake["features"]),
               "classes": int((counts >= self.p.min_share * len(predicted) / num_classes).sum()),
               "confident": float((conf >= self.p.confidence).double().mean()),
               "reverse_kl": stats.histogram_reverse_kl(counts)}
        if labels is not None:
            out["accuracy"] = float((predicted == labels).double().mean())
        return out


METRICS = [
    ("fid", FID, FIDParams),
    ("kid", KID, KIDParams),
    ("inception_score", InceptionScore, ISParams),
    ("precision_recall", PrecisionRecall, PRParams),
    ("classifier_metrics", ClassifierMetrics, ClassifierMetricsParams),
]
