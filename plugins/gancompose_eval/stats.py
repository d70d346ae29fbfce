"""The arithmetic of the image metrics, on feature tensors: Gaussian statistics and the Fréchet distance,
KID's unbiased polynomial-kernel MMD, Inception Score, and k-NN precision/recall. No network in here, so
every function is tested against closed forms (and scipy) on known distributions.

Everything runs in float64: the Fréchet distance of 2048-d features subtracts numbers of order 1e3 to get
answers of order 1, which float32 cannot do reliably.
"""
from __future__ import annotations

import math

import torch

from gancompose_core.metrics import histogram_reverse_kl  # noqa: F401  (shared with mode_coverage)


def gaussian_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``[d]`` and unbiased covariance ``[d, d]`` (rows are samples), in float64."""
    x = features.detach().to(torch.float64).reshape(len(features), -1)
    if len(x) < 2:
        raise ValueError("statistics need at least two samples")
    mu = x.mean(dim=0)
    xc = x - mu
    return mu, xc.T @ xc / (len(x) - 1)


def sqrtm_psd(a: torch.Tensor) -> torch.Tensor:
    """The symmetric square root of a symmetric positive semi-definite matrix, by eigendecomposition
    (negative eigenvalues from round-off are clamped to zero)."""
    a = a.to(torch.float64)
    a = (a + a.T) / 2
    w, v = torch.linalg.eigh(a)
    return (v * w.clamp_min(0).sqrt()) @ v.T


def trace_sqrt_product(sigma1: torch.Tensor, sigma2: torch.Tensor) -> torch.Tensor:
    """``tr sqrt(sigma1 @ sigma2)`` for covariance matrices. sigma1 sigma2 is similar to the symmetric PSD
    matrix ``s sigma2 s`` with ``s = sqrt(sigma1)``, so its square root's trace is the sum of the square
    roots of that matrix's eigenvalues: no non-symmetric square root (scipy.linalg.sqrtm) needed."""
    s = sqrtm_psd(sigma1)
    m = s @ sigma2.to(torch.float64) @ s
    return torch.linalg.eigvalsh((m + m.T) / 2).clamp_min(0).sqrt().sum()


def frechet_distance(mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor) -> float:
    """Fréchet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2):
    ``|mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr sqrt(sigma1 sigma2)`` (Heusel et al. 2017)."""
    mu1, mu2 = mu1.to(torch.float64), mu2.to(torch.float64)
    sigma1, sigma2 = sigma1.to(torch.float64), sigma2.to(torch.float64)
    diff = mu1 - mu2
    value = diff @ diff + sigma1.trace() + sigma2.trace() - 2 * trace_sqrt_product(sigma1, sigma2)
    return max(float(value), 0.0)


def fid_from_features(real: torch.Tensor, fake: torch.Tensor) -> float:
    return frechet_distance(*gaussian_stats(real), *gaussian_stats(fake))


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor, degree: int = 3, gamma: float | None = None,
                      coef0: float = 1.0) -> torch.Tensor:
    """KID's kernel ``(gamma <x, y> + coef0) ^ degree`` with gamma = 1 / dimension by default."""
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    return (gamma * (x @ y.T) + coef0) ** degree


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor, **kernel) -> float:
    """The unbiased estimate of the squared MMD (Gretton et al. 2012, eq. 3): the diagonals of the
    within-set kernel matrices are left out, so its expectation is exactly zero for one distribution."""
    x, y = x.to(torch.float64), y.to(torch.float64)
    m, n = len(x), len(y)
    kxx, kyy, kxy = polynomial_kernel(x, x, **kernel), polynomial_kernel(y, y, **kernel), polynomial_kernel(x, y, **kernel)
    return float((kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
                 + (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1)) - 2 * kxy.mean())


def kid_from_features(real: torch.Tensor, fake: torch.Tensor, subsets: int = 100, subset_size: int = 1000,
                      seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance (Bińkowski et al. 2018): the unbiased MMD^2 with the cubic polynomial
    kernel, averaged over ``subsets`` random subsets of ``subset_size`` of each set (drawn without
    replacement within a subset). Returns (mean, std over subsets)."""
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError("KID needs at least two samples in each set")
    g = torch.Generator().manual_seed(seed)
    values = torch.tensor([mmd2_unbiased(real[torch.randperm(len(real), generator=g)[:size]],
                                         fake[torch.randperm(len(fake), generator=g)[:size]])
                           for _ in range(subsets)], dtype=torch.float64)
    return float(values.mean()), float(values.std(unbiased=False))


def inception_score_from_probs(probs: torch.Tensor, splits: int = 10) -> tuple[float, float]:
    """Inception Score (Salimans et al. 2016): ``exp E_x KL(p(y|x) || p(y))`` on each of ``splits`` parts of
    the samples, rows ``[i N // splits, (i + 1) N // splits)`` as in the original code (and torch-fidelity);
    returns (mean, std over splits). ``probs`` is ``[N, classes]``, rows sum to 1."""
    p = probs.to(torch.float64)
    n = len(p)
    scores = []
    for i in range(splits):
        part = p[i * n // splits:(i + 1) * n // splits]
        if not len(part):
            continue
        marginal = part.mean(dim=0, keepdim=True)
        kl = (torch.special.xlogy(part, part) - part * torch.log(marginal.clamp_min(1e-300))).sum(dim=1)
        scores.append(math.exp(float(kl.mean())))
    t = torch.tensor(scores, dtype=torch.float64)
    return float(t.mean()), float(t.std(unbiased=False)) if len(t) > 1 else 0.0


def _kth_neighbour_radii(x: torch.Tensor, k: int, batch: int = 4096) -> torch.Tensor:
    """Distance from each row of ``x`` to its k-th nearest other row."""
    out = []
    for start in range(0, len(x), batch):
        d = torch.cdist(x[start:start + batch], x)
        out.append(d.kthvalue(k + 1, dim=1).values)  # the 1st is the point itself (distance 0)
    return torch.cat(out)


def _inside_any(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, batch: int = 4096) -> torch.Tensor:
    out = []
    for start in range(0, len(points), batch):
        out.append((torch.cdist(points[start:start + batch], centres) <= radii[None]).any(dim=1))
    return torch.cat(out)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019): each set's manifold is the union of balls
    around its points with radius the distance to the k-th nearest neighbour in the same set. Precision:
    share of fake points inside the real manifold; recall: share of real points inside the fake one."""
    real = real.to(torch.float64).reshape(len(real), -1)
    fake = fake.to(torch.float64).reshape(len(fake), -1)
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples in each set")
    precision = _inside_any(fake, real, _kth_neighbour_radii(real, k)).double().mean()
    recall = _inside_any(real, fake, _kth_neighbour_radii(fake, k)).double().mean()
    return float(precision), float(recall)
