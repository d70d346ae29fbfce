"""The FID Inception-v3 (the TensorFlow graph ``inception-2015-12-05`` of the original FID/IS code, as ported
to PyTorch by pytorch-fid), built here from torchvision's Inception3 and loaded from a local file only.

The FID network differs from torchvision's ImageNet Inception-v3 in four ways, all reproduced below:
1008 output classes; average pools in the A, C and first E blocks that do not count the zero padding
(``count_include_pad=False``); a max pool instead of the average pool in the last E block's pool branch;
and inputs resized to 299x299 (bilinear) and scaled to [-1, 1]. Features are the 2048-d pool3 activations
(FID, KID, precision/recall); Inception Score uses the logits of the fc layer without its bias, as the
original TensorFlow IS code (``matmul(pool3, w)``) and torch-fidelity's ``logits_unbiased`` do.

Nothing is downloaded: when the weights file is missing, :func:`find_weights` raises one
:class:`~gancompose.errors.GancomposeError` saying which file to fetch, from where, and where to put it.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import inception as tv

from gancompose.errors import GancomposeError

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{WEIGHTS_FILE}"
ENV_VAR = "GANCOMPOSE_INCEPTION_WEIGHTS"
FEATURES = 2048
CLASSES = 1008


class FeatureWeightsMissing(GancomposeError):
    """The Inception weights file is not on this machine."""


def default_locations() -> list[Path]:
    """Where the weights file is looked for when no path is given: $GANCOMPOSE_INCEPTION_WEIGHTS, then
    ~/.cache/gancompose/, then torch's hub cache (where pytorch-fid downloads it)."""
    out = []
    if os.environ.get(ENV_VAR):
        out.append(Path(os.environ[ENV_VAR]).expanduser())
    out.append(Path.home() / ".cache" / "gancompose" / WEIGHTS_FILE)
    out.append(Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE)
    return out


def find_weights(path: str | Path | None = None) -> Path:
    """The local weights file: ``path`` if given (it must exist), else the first default location holding it."""
    if path is not None:
        p = Path(path).expanduser()
        if p.is_file():
            return p
        places = [p]
    else:
        places = default_locations()
        for p in places:
            if p.is_file():
                return p
    raise FeatureWeightsMissing(
        f"the FID Inception weights {WEIGHTS_FILE} are not on this machine (looked at: "
        f"{', '.join(str(p) for p in places)})",
        hint=f"download {WEIGHTS_URL} on a machine with internet access, copy it to "
             f"{Path.home() / '.cache' / 'gancompose' / WEIGHTS_FILE} (or anywhere, and pass "
             f"--feature-weights PATH, set feature_weights = \"PATH\" in the recipe's [[metrics]] table, or "
             f"set ${ENV_VAR}); gancompose never downloads it")


def _avg(x):
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(tv.InceptionA):
    def _forward(self, x):
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return [self.branch1x1(x), b5, b3, self.branch_pool(_avg(x))]


class FIDInceptionC(tv.InceptionC):
    def _forward(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for m in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                  self.branch7x7dbl_5):
            bd = m(bd)
        return [self.branch1x1(x), b7, bd, self.branch_pool(_avg(x))]


class FIDInceptionE(tv.InceptionE):
    """Mixed_7b (average pool without padding) or, with ``max_pool``, Mixed_7c (max pool)."""

    def __init__(self, in_channels: int, max_pool: bool):
        super().__init__(in_channels)
        self.max_pool = max_pool

    def _forward(self, x):
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _avg(x)
        return [self.branch1x1(x), b3, bd, self.branch_pool(pooled)]


class FIDInception(nn.Module):
    """Images in [-1, 1] (any size, 1 or 3 channels) -> ``(pool3 [N, 2048], logits [N, 1008])``."""

    def __init__(self):
        super().__init__()
        net = tv.Inception3(num_classes=CLASSES, aux_logits=False, init_weights=False)
        net.Mixed_5b = FIDInceptionA(192, pool_features=32)
        net.Mixed_5c = FIDInceptionA(256, pool_features=64)
        net.Mixed_5d = FIDInceptionA(288, pool_features=64)
        net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
        net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
        net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
        net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
        net.Mixed_7b = FIDInceptionE(1280, max_pool=False)
        net.Mixed_7c = FIDInceptionE(2048, max_pool=True)
        self.net = net.eval().requires_grad_(False)
        self._stem = [net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3, net.maxpool1, net.Conv2d_3b_1x1,
                      net.Conv2d_4a_3x3, net.maxpool2, net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a,
                      net.Mixed_6b, net.Mixed_6c, net.Mixed_6d, net.Mixed_6e, net.Mixed_7a, net.Mixed_7b,
                      net.Mixed_7c]

    def load_file(self, path: str | Path) -> "FIDInception":
        def wrong(why: str) -> GancomposeError:
            return GancomposeError(f"{path} is not the FID Inception weights file {WEIGHTS_FILE}: {why}",
                                   hint=f"get it from {WEIGHTS_URL}")
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:  # not a torch file, a truncated download, a pickle with code in it
            raise wrong(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}") from None
        if not isinstance(state, dict):
            raise wrong(f"it holds a {type(state).__name__}, not a state dict")
        try:
            missing, unexpected = self.net.load_state_dict(state, strict=False)
        except RuntimeError as exc:
            raise wrong(str(exc).strip().splitlines()[-1].strip()) from None
        missing = [k for k in missing if not k.endswith("num_batches_tracked")]
        if missing or unexpected:
            raise wrong(f"{len(missing)} tensors missing, {len(unexpected)} unexpected "
                        f"(e.g. {(missing or unexpected)[0]})")
        return self

    @staticmethod
    def preprocess(images: torch.Tensor) -> torch.Tensor:
        """[-1, 1] images -> 3-channel 299x299 inputs in [-1, 1], quantized to 8 bits first (as saved PNGs
        are, which is what FID is usually computed from)."""
        x = ((images.float().clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[1] != 3:
            raise GancomposeError(f"Inception features need 1- or 3-channel images, got {x.shape[1]} channels")
        if x.shape[-2:] != (299, 299):
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        return x

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The network alone, on inputs already preprocessed (3 channels, 299x299, in [-1, 1]):
        ``(pool3 [N, 2048], fc logits without bias [N, 1008])``."""
        for m in self._stem:
            x = m(x)
        pool = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return pool, pool @ self.net.fc.weight.T

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.embed(self.preprocess(images))


def load_inception(path: str | Path | None = None, device: torch.device | str = "cpu") -> FIDInception:
    """The FID Inception with its weights from a local file (see :func:`find_weights`)."""
    return FIDInception().load_file(find_weights(path)).to(device)
