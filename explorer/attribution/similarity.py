"""How alike two maps are: Spearman rank correlation and SSIM, in numpy alone.

Both match their references (scipy's ``spearmanr``, scikit-image's ``structural_similarity``
with its defaults; see tests/test_trust.py) without importing them.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["rankdata", "centred_ranks", "rank_correlation", "spearman", "ssim"]


def rankdata(a: np.ndarray) -> np.ndarray:
    """Ranks 1…n of the flattened array, ties sharing their average rank (as scipy's)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    order = np.argsort(a)  # tied values share their mean rank, so stability does not matter
    sorted_a = a[order]
    # Runs of equal values: each gets the mean of the ranks it spans.
    starts = np.flatnonzero(np.r_[True, sorted_a[1:] != sorted_a[:-1]])
    ends = np.r_[starts[1:], a.size]
    mean_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(a.size, dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def centred_ranks(a: np.ndarray) -> tuple[np.ndarray, float]:
    """The ranks of ``a`` minus their mean, and their norm: what :func:`rank_correlation` takes,
    so a map compared many times is ranked once."""
    r = rankdata(a)
    r -= r.mean()
    return r, math.sqrt(float((r * r).sum()))  # elementwise: no BLAS threads for a dot product


def rank_correlation(ra: tuple[np.ndarray, float], rb: tuple[np.ndarray, float]) -> float:
    """Spearman rank correlation of two maps given as :func:`centred_ranks`; NaN when one map
    is constant."""
    if ra[0].size != rb[0].size:
        raise ValueError("maps of different sizes")
    denom = ra[1] * rb[1]
    return float((ra[0] * rb[0]).sum() / denom) if denom > 0 else float("nan")


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps (Pearson correlation of their ranks); NaN when
    one map is constant."""
    return rank_correlation(centred_ranks(a), centred_ranks(b))


def _box_mean(a: np.ndarray, k: int) -> np.ndarray:
    """Mean over every k×k window that fits inside ``a`` (an integral image: O(H·W))."""
    s = np.zeros((a.shape[0] + 1, a.shape[1] + 1))
    s[1:, 1:] = a.cumsum(0).cumsum(1)
    return (s[k:, k:] - s[:-k, k:] - s[k:, :-k] + s[:-k, :-k]) / (k * k)


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0, win_size: int = 7) -> float:
    """Mean structural similarity (Wang et al. 2004) of two 2-D maps with scikit-image's
    defaults: a uniform ``win_size``² window, K1 = 0.01, K2 = 0.03, sample covariance, mean
    over the windows that fit inside the image."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError("maps of different sizes")
    if x.ndim != 2 or min(x.shape) < win_size:
        raise ValueError(f"maps must be 2-D and at least {win_size}×{win_size} for SSIM")
    n = win_size ** 2
    cov = n / (n - 1)
    ux, uy = _box_mean(x, win_size), _box_mean(y, win_size)
    vx = cov * (_box_mean(x * x, win_size) - ux * ux)
    vy = cov * (_box_mean(y * y, win_size) - uy * uy)
    vxy = cov * (_box_mean(x * y, win_size) - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return float(s.mean())

