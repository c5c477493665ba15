"""Ranking metrics: AUROC and average precision (AUPRC), weighted, sharing one sort."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .common import TINY, div, tie_groups


class Ranked(NamedTuple):
    """Weighted counts per distinct score, highest score first, each (groups, b).

    Resamples run along the columns, so the cumulative sums over scores add contiguous
    rows. AUROC and AUPRC share one sort and one gather of the (b, n) counts.
    """

    pos: np.ndarray  # positives with each score
    neg: np.ndarray  # negatives with each score
    tp: np.ndarray  # positives scored at or above each score


def ranked(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> Ranked:
    order, starts = tie_groups(-p)
    counts = w.T[order]
    pos = counts * y[order, None]
    neg = np.subtract(counts, pos, out=counts)  # in place: each fresh (n, b) array costs page faults
    if starts.size < p.size:  # ties: one row per distinct score
        pos, neg = (np.add.reduceat(a, starts, axis=0) for a in (pos, neg))
    return Ranked(pos, neg, np.cumsum(pos, axis=0))


def auroc_of(r: Ranked) -> np.ndarray:
    """AUROC as the Mann-Whitney U statistic: P(score_pos > score_neg) + P(tie) / 2.

    Counted from the negatives: each wins against the positives scored higher (``tp``
    minus the ``pos`` of its own score) and half of those tied with it. Equal to the
    trapezoidal area under the ROC curve (scikit-learn) with ties.
    """
    wins = 0.5 * r.pos
    np.subtract(r.tp, wins, out=wins)  # positives above each score, ties counting half
    u = np.einsum("gb,gb->b", r.neg, wins)
    return div(u, r.tp[-1] * r.neg.sum(axis=0))


def auprc_of(r: Ranked) -> np.ndarray:
    """Average precision: sum over distinct thresholds of (R_k - R_{k-1}) * P_k.

    The step-wise (not interpolated) area of scikit-learn's ``average_precision_score``.
    """
    predicted = np.cumsum(r.neg, axis=0)
    predicted += r.tp
    # predicted is 0 only above the highest score drawn, where tp and pos are 0 too: a
    # tiny divisor makes that precision 0, and it adds nothing.
    precision = np.divide(r.tp, np.maximum(predicted, TINY, out=predicted), out=predicted)
    return div(np.einsum("gb,gb->b", r.pos, precision), r.tp[-1])


def weighted_auroc(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    return auroc_of(ranked(y, p, w))


def weighted_auprc(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    return auprc_of(ranked(y, p, w))


def macro_auroc(y, proba, w) -> np.ndarray:
    """One-vs-rest AUROC averaged over classes; ``nan`` if any class is absent."""
    per_class = [weighted_auroc((y == k).astype(float), proba[:, k], w) for k in range(proba.shape[1])]
    return np.mean(per_class, axis=0)
