"""Feature extractors for the image metrics, and the real/generated samples they are applied to.

- ``inception``: pool3 features (and logits) of the FID Inception-v3, from a local weights file.
- ``classifier``: the penultimate layer (and logits) of a small CNN trained on the run's own labelled data
  (the one ``class_accuracy`` trains, imported from gancompose_conditional), needing nothing from the
  internet. Trained once and cached in the run folder (``RUN/eval/classifier-<hash>.safetensors``).
- ``raw``: the samples themselves, flattened (2-D points, tiny images).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal, Optional

import torch
from pydantic import Field, PositiveInt

from gancompose import Params, RecipeError
from gancompose.data import DataStandIn
from gancompose.errors import GancomposeError
from gancompose.protocols import Dataset, implements

FeatureName = Literal["inception", "classifier", "raw"]


class FeatureParams(Params):
    """Parameters shared by every metric computed on features."""

    features: FeatureName = Field("inception", description="feature extractor: 'inception' (FID Inception-v3 "
                                  "from a local weights file), 'classifier' (small CNN trained on the run's "
                                  "labelled data, offline) or 'raw' (the flattened samples)")
    feature_weights: Optional[str] = Field(None, description="path of the Inception weights file "
                                           "(pt_inception-2015-12-05-6726825d.pth); default: "
                                           "$GANCOMPOSE_INCEPTION_WEIGHTS, ~/.cache/gancompose/, torch's hub cache")
    batch_size: PositiveInt = Field(50, description="images per feature-extractor batch")
    classifier_steps: PositiveInt = Field(600, description="training steps of the 'classifier' features' network")
    seed: int = Field(0, description="seed of the generated latents and of the real-sample subset")


# ---------------------------------------------------------------------------------------------- samples
def real_samples(run, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` training samples (all of them if fewer), a seeded random subset, on the CPU."""
    ds = run.dataset
    if isinstance(ds, DataStandIn):  # a run rebuilt from a checkpoint whose data is not here
        raise ds.missing or GancomposeError("this metric needs the run's training data")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(ds), generator=g)[:n]
    if implements(ds, "get_batch", Dataset):
        return ds.get_batch(idx)["image"].float().cpu()
    return torch.stack([ds[int(i)]["image"] for i in idx]).float().cpu()


def fake_samples(run, n: int, seed: int = 0, labels: torch.Tensor | None = None) -> torch.Tensor:
    from gancompose.sampling import generate
    return generate(run, n, seed=seed, labels=labels)


def run_dir(run) -> Path | None:
    d = getattr(run, "run_dir", None)
    return Path(d) if d is not None else None


# ---------------------------------------------------------------------------------------------- extractors
class Extractor:
    """``images -> {"features": [N, d], "logits": [N, k] or absent}`` in batches, on ``device``."""

    name = "raw"

    def __init__(self, batch_size: int = 50, device: torch.device | str = "cpu"):
        self.batch_size, self.device = batch_size, torch.device(device)

    def _batch(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"features": x.reshape(len(x), -1)}

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        parts = [self._batch(images[i:i + self.batch_size].to(self.device)) for i in range(0, len(images),
                                                                                             self.batch_size)]
        return {k: torch.cat([p[k].float().cpu() for p in parts]) for k in parts[0]}


_INCEPTIONS: dict[tuple, torch.nn.Module] = {}


class InceptionExtractor(Extractor):
    name = "inception"

    def __init__(self, weights: str | None, batch_size: int = 50, device="cpu"):
        super().__init__(batch_size, device)
        from gancompose_eval.inception import find_weights, load_inception
        path = find_weights(weights).resolve()
        key = (str(path), path.stat().st_mtime_ns, str(self.device))
        if key not in _INCEPTIONS:  # one copy per file and device, shared by the metrics of a run or eval
            _INCEPTIONS.clear()
            _INCEPTIONS[key] = load_inception(path, self.device)
        self.net = _INCEPTIONS[key]

    def _batch(self, x):
        if x.dim() != 4:
            raise GancomposeError(f"Inception features need images [N, C, H, W], got samples of shape "
                                  f"{tuple(x.shape[1:])}", hint="use features = 'raw' for vector data")
        pool, logits = self.net(x)
        return {"features": pool, "logits": logits}


class ClassifierExtractor(Extractor):
    name = "classifier"

    def __init__(self, net: torch.nn.Module, batch_size: int = 50, device="cpu"):
        super().__init__(batch_size, device)
        self.net = net.to(self.device).eval()

    def _batch(self, x):
        feats = self.net[:-1](x)
        return {"features": feats, "logits": self.net[-1](feats)}


def classifier_cache_key(run, steps: int, seed: int) -> str:
    data = run.recipe.data.model_dump(mode="json")
    raw = json.dumps({"data": data, "steps": steps, "seed": seed, "v": 1}, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def trained_classifier(run, steps: int, seed: int = 0) -> torch.nn.Module:
    """The small classifier of the run's labelled image data: loaded from the run folder's cache when it
    was trained before (same data, steps and seed), else trained now and cached there."""
    from gancompose_conditional.metrics import small_classifier, train_classifier
    from safetensors.torch import load_file, save_file
    ds = run.dataset
    shape = tuple(ds.sample_shape)
    if not ds.num_classes or len(shape) != 3:
        raise RecipeError("'classifier' features need labelled image data (such as 'digits' or 'shapes')",
                          key=["metrics"])
    folder = run_dir(run)
    path = None if folder is None else folder / "eval" / f"classifier-{classifier_cache_key(run, steps, seed)}.safetensors"
    if path is not None and path.is_file():
        net = small_classifier(shape, ds.num_classes)
        net.load_state_dict(load_file(str(path)))
        return net.eval()
    if isinstance(ds, DataStandIn):
        real_samples(run, 1)  # raises the reason the data is missing
    with torch.enable_grad():
        net = train_classifier(ds, steps, 128, seed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return net


def make_extractor(p: FeatureParams, run) -> Extractor:
    device = getattr(run, "device", "cpu")
    if p.features == "inception":
        return InceptionExtractor(p.feature_weights, p.batch_size, device)
    if p.features == "classifier":
        return ClassifierExtractor(trained_classifier(run, p.classifier_steps, p.seed), p.batch_size, device)
    return Extractor(p.batch_size, device)
