"""Small array helpers shared by the metrics: safe division, weighted means, logits, ties."""

from __future__ import annotations

import numpy as np

LOG_LOSS_EPS = np.finfo(np.float64).eps  # scikit-learn's clipping, so log losses agree
TINY = np.finfo(np.float64).tiny  # smallest normal float64: a divisor that keeps 0 / x = 0
LOGIT_CLIP = 1e-15  # keeps logit(p) finite for p = 0 or 1 in the calibration fits


def div(num, den) -> np.ndarray:
    """``num / den`` elementwise, ``nan`` where ``den == 0`` (the metric is undefined)."""
    num, den = np.broadcast_arrays(np.asarray(num, dtype=float), np.asarray(den, dtype=float))
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def wmean(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted mean of per-row ``values`` (n,) for each resample in ``w`` (b, n)."""
    return (w @ values) / w.sum(axis=1)


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, LOGIT_CLIP, 1 - LOGIT_CLIP)
    return np.log(p) - np.log1p(-p)


def tie_groups(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ascending sort order of ``score`` and the start index of each run of equal scores."""
    order = np.argsort(score, kind="stable")
    s = score[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    return order, starts
