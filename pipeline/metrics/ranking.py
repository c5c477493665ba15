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


def auroc_of_many(y: np.ndarray, scores: np.ndarray, w: np.ndarray,
                  cells: int = 2_000_000) -> np.ndarray:
    """AUROC of each of K score vectors ``scores`` (K, n) under each row weighting ``w``
    (b, n): shape (K, b), equal to :func:`weighted_auroc` row by row.

    The Mann-Whitney count as matrix products: with ``wins[k, i, j]`` = 1 when positive i
    outscores negative j under score k (1/2 when tied), AUROC[k, b] = w_pos[b] @ wins[k] @
    w_neg[b] / (sum w_pos[b] * sum w_neg[b]). It costs P * N per score instead of a sort and a
    pass over n per score and weighting: far faster (10x on a 114-row fold) while the
    smaller class has at most a few hundred rows, as in permutation importance's many
    shuffled copies of one fold. Resamples are scored in blocks of ``cells`` entries.
    """
    positive = y == 1
    above, below = scores[:, positive, None], scores[:, None, ~positive]  # (K, P, 1), (K, 1, N)
    wins = (above > below) + 0.5 * (above == below)  # (K, P, N)
    n_scores, n_pos, n_neg = wins.shape
    wins = wins.transpose(1, 0, 2).reshape(n_pos, n_scores * n_neg)
    w_pos, w_neg = w[:, positive], w[:, ~positive]
    u = np.empty((n_scores, w.shape[0]))
    step = max(1, cells // (n_scores * n_neg))
    for start in range(0, w.shape[0], step):
        block = slice(start, start + step)
        beaten = (w_pos[block] @ wins).reshape(-1, n_scores, n_neg)  # (b, K, N)
        u[:, block] = np.einsum("bkn,bn->kb", beaten, w_neg[block])
    return div(u, w_pos.sum(axis=1) * w_neg.sum(axis=1))


def weighted_auroc(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    return auroc_of(ranked(y, p, w))


def weighted_auprc(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    return auprc_of(ranked(y, p, w))


def macro_auroc(y, proba, w) -> np.ndarray:
    """One-vs-rest AUROC averaged over classes; ``nan`` if any class is absent."""
    per_class = [weighted_auroc((y == k).astype(float), proba[:, k], w) for k in range(proba.shape[1])]
    return np.mean(per_class, axis=0)
