"""FID cross-checked against the packages users trust: pytorch-fid (and torch-fidelity), with one weights file.

No download: the weights are a randomly initialized FID Inception in pytorch-fid's layout (the
``pt_inception-2015-12-05-6726825d.pth`` tensor names), built from pytorch-fid's own modules (its
``fid_inception_v3`` with the ``FIDInceptionA/C/E_1/E_2`` blocks, 1008 classes), with random batch-norm
scales and shifts and running statistics measured on noise images, so that activations stay of order 1
through the 94 convolutions as with trained weights (with torch's default initialization and batch norm
the pool3 features are about 3e-7, too small to compare anything). pytorch-fid gets
that file through its weight-download function, monkeypatched to read it; gancompose reads it the way a
user's ``--feature-weights PATH`` does; torch-fidelity through its ``feature_extractor_weights_path``.

The images are 8-bit noise, the hardest case for resizing: 4 of 32x32 ("real") and 4 of 64x64 ("fake"),
written as PNGs, which pytorch-fid reads (PIL, ``ToTensor``) and resizes to 299x299 itself; gancompose gets
the same pixels as its data pipeline gives them (``to_unit_range``: uint8 -> [-1, 1]).

Tolerances. Features: ``max |ours - theirs| <= 1e-4 * max |theirs|``. The two compute the same float32
network; they differ only in the order of the affine map and the bilinear resize (pytorch-fid resizes
[0, 1] images then maps them to [-1, 1], gancompose maps then resizes) and so by round-off, amplified
through 94 layers (measured: 5e-6 of the feature scale). A protocol change is far larger: torch-fidelity's
TF1-style resize and (x - 128) / 128 scaling move the same features by 1e-2 (299 px, scaling alone) to 3e-1
(32 px noise) of their scale, asserted below. FID: 1e-4 relative (measured: 1.3e-7).
"""
from __future__ import annotations

import contextlib
import io
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from gancompose.data.images import to_unit_range
from gancompose.protocols import Dataset
from gancompose_eval import stats
from gancompose_eval.inception import WEIGHTS_FILE, load_inception
from gancompose_eval.metrics import FID, FIDParams

pfi = pytest.importorskip("pytorch_fid.inception")
pfs = pytest.importorskip("pytorch_fid.fid_score")

FEATURE_TOL = 1e-4  # of the largest feature
FID_TOL = 1e-4      # relative


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One thread for torch and for numpy/scipy's BLAS (scipy's 2048x2048 matrix square root in pytorch-fid
    takes about 3 times longer with 2 threads on a machine shared with other processes)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # slower, same results
        limits = contextlib.nullcontext()
    else:
        limits = threadpool_limits(1, user_api="blas")
    with limits:
        yield
    torch.set_num_threads(before)


def _no_download(url, *args, **kwargs):
    raise AssertionError(f"the test tried to download {url}")


def _noise(n: int, size: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, size, size), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    """A random FID Inception in pytorch-fid's file layout, built by pytorch-fid's own fid_inception_v3."""
    import torchvision
    torch.manual_seed(0)
    init = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False,
                                           num_classes=1008).state_dict()
    with pytest.MonkeyPatch.context() as mp:  # its download returns those tensors; it loads them strictly
        mp.setattr(pfi, "load_state_dict_from_url", lambda url, **kw: init)
        net = pfi.fid_inception_v3()
    assert type(net.Mixed_7c) is pfi.FIDInceptionE_2 and net.fc.out_features == 1008
    g = torch.Generator().manual_seed(1)
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for bn in bns:
            bn.weight.uniform_(0.5, 1.5, generator=g)
            bn.bias.normal_(0.0, 0.2, generator=g)
            bn.reset_running_stats()
            bn.momentum = None  # one cumulative average: the statistics of the batch below
        net.train()
        x = torch.nn.functional.interpolate(_noise(2, 48, 2).float() / 255, size=(299, 299), mode="bilinear",
                                            align_corners=False)
        net(2 * x - 1)
    for bn in bns:
        bn.momentum = 0.1
    path = tmp_path_factory.mktemp("weights") / WEIGHTS_FILE
    torch.save(net.eval().state_dict(), path)
    return path


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict:
    """4 real images of 32x32 and 4 fake of 64x64, in memory (uint8) and as PNG folders."""
    from PIL import Image
    root = tmp_path_factory.mktemp("images")
    out = {"real": _noise(4, 32, 10), "fake": _noise(4, 64, 11)}
    for name, batch in out.items():
        (root / name).mkdir()
        for i, img in enumerate(batch):
            Image.fromarray(img.permute(1, 2, 0).numpy()).save(root / name / f"{i}.png")
    out["dirs"] = [str(root / "real"), str(root / "fake")]
    return out


@pytest.fixture(scope="module")
def pytorch_fid(weights, images) -> dict:
    """pytorch-fid's calculate_fid_given_paths on the two folders, its weights from the file; its
    features and its Fréchet distance recorded on the way (the functions it calls, unchanged)."""
    seen = {"features": [], "frechet": []}
    get_activations, frechet = pfs.get_activations, pfs.calculate_frechet_distance

    def load(url, **kwargs):
        assert url == pfi.FID_WEIGHTS_URL and url.endswith(WEIGHTS_FILE)  # the file named in our docs
        return torch.load(weights, map_location="cpu", weights_only=True)

    def recording_activations(*args, **kwargs):
        seen["features"].append(get_activations(*args, **kwargs))
        return seen["features"][-1]

    def recording_frechet(*args, **kwargs):
        seen["frechet"].append(frechet(*args, **kwargs))
        return seen["frechet"][-1]

    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(printed), warnings.catch_warnings():
        mp.setattr(pfi, "load_state_dict_from_url", load)
        mp.setattr(torch.hub, "load_state_dict_from_url", _no_download)
        mp.setattr(pfs, "get_activations", recording_activations)
        mp.setattr(pfs, "calculate_frechet_distance", recording_frechet)
        # 4 samples in 2048 dimensions: singular covariances, which scipy's sqrtm warns about
        warnings.simplefilter("ignore", category=Warning)
        value = pfs.calculate_fid_given_paths(images["dirs"], batch_size=4, device="cpu", dims=2048, num_workers=0)
    assert len(seen["features"]) == 2 and seen["frechet"] == [value]
    assert "adding" not in printed.getvalue()  # its plain formula, not its fallback with 1e-6 added to the diagonals
    return {"fid": float(value), "real": torch.from_numpy(seen["features"][0]),
            "fake": torch.from_numpy(seen["features"][1])}


class _Dataset(Dataset):
    """The real images as a run's dataset gives them; remembers the order they were read in."""

    def __init__(self, images: torch.Tensor):
        self.images, self.order = to_unit_range(images), []

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        self.order.append(i)
        return {"image": self.images[i]}


class _Replay(torch.nn.Module):
    """A "generator" whose i-th sample is the i-th fake image (latent i)."""

    def __init__(self, images: torch.Tensor):
        super().__init__()
        self.images = to_unit_range(images)

    def forward(self, z):
        return self.images[z[:, 0].long()]


class _Run(types.SimpleNamespace):
    device = torch.device("cpu")

    def generator_name(self): return "g"
    def sampling_network(self, name, use_ema): return self.net
    def sample_latent(self, n, generator=None): return torch.arange(n, dtype=torch.float32)[:, None]


@pytest.fixture(scope="module")
def ours(weights, images) -> dict:
    """gancompose's fid metric, end to end (real samples from the dataset, fake ones from the generator,
    features from the weights file given as ``feature_weights``), its features recorded on the way."""
    seen = []

    def recording_fid(real, fake):
        seen.append((real, fake))
        return fid(real, fake)

    fid = stats.fid_from_features
    run = _Run(dataset=_Dataset(images["real"]), net=_Replay(images["fake"]))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch.hub, "load_state_dict_from_url", _no_download)
        mp.setattr(stats, "fid_from_features", recording_fid)
        value = FID(FIDParams(feature_weights=str(weights), samples=4, batch_size=4))(run)["value"]
    (real, fake), = seen
    in_order = torch.empty_like(real)
    in_order[torch.tensor(run.dataset.order)] = real  # real_samples draws a random subset: back to file order
    return {"fid": value, "real": in_order, "fake": fake}


def _relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| over the scale of b (its largest magnitude)."""
    return float((a.double() - b.double()).abs().max() / b.double().abs().max())


def test_inception_features_equal_pytorch_fid(ours, pytorch_fid):
    for name in ("real", "fake"):  # 32 px and 64 px inputs, both resized to 299 px
        assert ours[name].shape == pytorch_fid[name].shape == (4, 2048)
        assert pytorch_fid[name].std(dim=0).mean() > 0.05  # features that vary between images
        diff = _relative_difference(ours[name], pytorch_fid[name])
        assert diff <= FEATURE_TOL, f"{name}: features differ by {diff:.2e} of their scale"


def test_fid_equals_pytorch_fid_calculate_fid_given_paths(ours, pytorch_fid):
    assert pytorch_fid["fid"] > 1.0
    assert ours["fid"] == pytest.approx(pytorch_fid["fid"], rel=FID_TOL)


@pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated")  # pytorch-fid's call, with SciPy 1.17
def test_frechet_distance_equals_pytorch_fid_and_torch_fidelity():
    """The arithmetic alone, on well-conditioned statistics (more samples than dimensions)."""
    g = torch.Generator().manual_seed(3)
    d = 48
    x = torch.randn(400, d, generator=g, dtype=torch.float64) @ torch.randn(d, d, generator=g, dtype=torch.float64)
    y = torch.randn(300, d, generator=g, dtype=torch.float64) @ torch.randn(d, d, generator=g, dtype=torch.float64) + 0.3
    ours_value = stats.fid_from_features(x, y)
    mu1, s1, mu2, s2 = x.numpy().mean(0), np.cov(x.numpy(), rowvar=False), y.numpy().mean(0), np.cov(y.numpy(), rowvar=False)
    assert ours_value == pytest.approx(float(pfs.calculate_frechet_distance(mu1, s1, mu2, s2)), rel=1e-8)
    metric_fid = pytest.importorskip("torch_fidelity.metric_fid")
    theirs = metric_fid.fid_statistics_to_metric({"mu": mu1, "sigma": s1}, {"mu": mu2, "sigma": s2}, False)
    assert ours_value == pytest.approx(theirs[metric_fid.KEY_METRIC_FID], rel=1e-8)


def test_torch_fidelity_computes_the_same_network_with_another_resize(weights, images, ours):
    """torch-fidelity loads the same file offline (feature_extractor_weights_path) and computes the same network:
    on 299x299 inputs, its pool3 features and unbiased logits (the Inception Score's) equal ours on the
    input it feeds the network, (x - 128) / 128. Its protocol is not pytorch-fid's: it resizes as TensorFlow 1
    did and scales by 128, not 127.5, so its features (and FIDs) of the same images differ from ours."""
    tfe = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tfe, "load_state_dict_from_url", _no_download)
        fe = tfe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                             feature_extractor_weights_path=str(weights))
    net = load_inception(weights)
    full = _noise(1, 299, 12)
    features, logits = fe(full)
    pool, our_logits = net.embed((full.float() - 128) / 128)
    assert _relative_difference(pool, features) <= FEATURE_TOL
    assert _relative_difference(our_logits, logits) <= FEATURE_TOL
    scaling = _relative_difference(net(to_unit_range(full))[0], features)  # pytorch-fid's scaling, no resize
    resized = _relative_difference(ours["real"][:1], fe(images["real"][:1])[0])  # 32 -> 299 px
    assert scaling > 1e-3 and resized > 1e-2, (scaling, resized)


def test_kid_equals_torch_fidelity_on_whole_sets():
    """Bińkowski et al.'s unbiased MMD^2 with the kernel (x.y / d + 1)^3, as torch-fidelity (from the KID
    authors' code) computes it: with subsets as large as the sets, every subset gives the same value."""
    metric_kid = pytest.importorskip("torch_fidelity.metric_kid")
    g = torch.Generator().manual_seed(4)
    x = torch.rand(40, 16, generator=g, dtype=torch.float64) * 3
    y = torch.rand(40, 16, generator=g, dtype=torch.float64) * 3 + 0.2
    theirs = metric_kid.kid_features_to_metric(x, y, kid_subsets=3, kid_subset_size=40, verbose=False)
    mean, std = stats.kid_from_features(x, y, subsets=3, subset_size=40)
    assert mean == pytest.approx(theirs[metric_kid.KEY_METRIC_KID_MEAN], rel=1e-10) and mean > 0
    assert std == pytest.approx(theirs[metric_kid.KEY_METRIC_KID_STD], abs=1e-12)


@pytest.mark.parametrize("n", [100, 25])  # 25: splits of 2 and 3 samples, at the original code's boundaries
def test_inception_score_equals_torch_fidelity(n):
    """exp E KL(p(y|x) || p(y)) on splits [i n // s, (i + 1) n // s), as the original TensorFlow code of
    Salimans et al. and torch-fidelity (unshuffled) compute it, from the same logits."""
    metric_isc = pytest.importorskip("torch_fidelity.metric_isc")
    logits = torch.randn(n, 20, generator=torch.Generator().manual_seed(5), dtype=torch.float64) * 3
    theirs = metric_isc.isc_features_to_metric(logits, splits=10, shuffle=False)
    mean, std = stats.inception_score_from_probs(torch.softmax(logits, dim=1), splits=10)
    assert mean == pytest.approx(theirs[metric_isc.KEY_METRIC_ISC_MEAN], rel=1e-10)
    assert std == pytest.approx(theirs[metric_isc.KEY_METRIC_ISC_STD], rel=1e-8)
