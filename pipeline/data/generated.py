"""Tables that read no file: scikit-learn's bundled breast cancer set, and the seeded
synthetic and XOR cohorts."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import DatasetError
from .dataset import Dataset, finish_dataset
from .options import BREAST_CANCER_DEFAULTS, SYNTHETIC_DEFAULTS, XOR_DEFAULTS, with_defaults


def make_synthetic(
    n_rows: int = 2000,
    n_numeric: int = 8,
    n_categorical: int = 2,
    n_levels: int = 4,
    missing_rate: float = 0.1,
    positive_rate: float = 0.3,
    interaction: float = 2.0,
    seed: int = 0,
) -> Dataset:
    """Generate a seeded binary cohort with a nonlinear signal.

    The log-odds are linear in most features plus ``interaction * x0 * x1``: a
    product of two centred features, which no linear model can represent, so an
    MLP beats logistic regression when ``interaction`` is large. Cells are then
    blanked completely at random (a special case of missing-at-random) with
    probability ``missing_rate``. Vectorised, so millions of rows take seconds.

    Parameters
    ----------
    n_rows : int
        Number of rows (patients).
    n_numeric, n_categorical : int
        Feature counts; the interaction needs ``n_numeric >= 2``.
    n_levels : int
        Levels of each categorical feature.
    missing_rate : float in [0, 1)
        Probability that a feature cell is missing.
    positive_rate : float in (0, 1)
        Expected share of positive rows (class imbalance).
    interaction : float
        Weight of the ``x0 * x1`` term in the log-odds.
    seed : int
        Seed of the one random generator used; same seed = same cohort.

    Returns
    -------
    Dataset
        ``task="binary"``, ``class_names=["negative", "positive"]``.
    """
    _check_synthetic_args(n_rows, n_numeric, n_categorical, n_levels, missing_rate, positive_rate)
    rng = np.random.default_rng(seed)
    numeric = rng.standard_normal((n_rows, n_numeric))
    codes = rng.integers(0, n_levels, size=(n_rows, n_categorical))
    logit = _synthetic_logit(numeric, codes, n_levels, interaction, rng)
    logit += _intercept_for_rate(logit, positive_rate)
    y = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)

    frame = {f"num_{j}": numeric[:, j] for j in range(n_numeric)}
    labels = np.array([f"level_{k}" for k in range(n_levels)], dtype=object)
    frame |= {f"cat_{j}": labels[codes[:, j]] for j in range(n_categorical)}
    X = pd.DataFrame(frame)
    if missing_rate > 0:
        X = X.mask(rng.random(X.shape) < missing_rate)
    return finish_dataset(
        "synthetic", X, y, "binary", ["negative", "positive"], None,
        source=f"synthetic(seed={seed})",
    )


def load_breast_cancer(cfg: Mapping) -> Dataset:
    """scikit-learn's Wisconsin diagnostic set, relabelled so malignant = 1."""
    from sklearn.datasets import load_breast_cancer

    with_defaults(cfg, BREAST_CANCER_DEFAULTS)
    bunch = load_breast_cancer(as_frame=True)
    # scikit-learn codes malignant as 0; clinical convention is positive = disease.
    y = (bunch.target.to_numpy() == 0).astype(np.int64)
    X = bunch.data.astype("float64").reset_index(drop=True)
    return finish_dataset(
        "breast_cancer", X, y, "binary", ["benign", "malignant"], None,
        source="sklearn:load_breast_cancer",
    )


def make_xor(n_rows: int = 400, label_noise: float = 0.05, seed: int = 0) -> Dataset:
    """The lecture's XOR as a noisy cohort: x1, x2 ~ U(-1, 1), y = [x1 > 0] xor [x2 > 0].

    No linear model separates it; logistic regression on the feature map
    (x1, x2, x1 x2) does, and so does an MLP. ``label_noise`` flips that share of labels.
    """
    if int(n_rows) < 20 or not 0.0 <= label_noise < 0.5:
        raise DatasetError("dataset.n_rows must be >= 20 and dataset.label_noise in [0, 0.5).")
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(int(n_rows), 2))
    y = ((x[:, 0] > 0) != (x[:, 1] > 0)).astype(np.int64)
    y ^= (rng.random(len(y)) < label_noise).astype(np.int64)
    X = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1]})
    return finish_dataset("xor", X, y, "binary", ["same sign", "opposite signs"], None,
                   source=f"xor(seed={seed})")


def load_xor(cfg: Mapping) -> Dataset:
    opts = with_defaults(cfg, XOR_DEFAULTS)
    del opts["name"], opts["data_dir"]
    return make_xor(**opts)


def load_synthetic(cfg: Mapping) -> Dataset:
    opts = with_defaults(cfg, SYNTHETIC_DEFAULTS)
    del opts["name"], opts["data_dir"]
    return make_synthetic(**opts)


def _check_synthetic_args(n_rows, n_numeric, n_categorical, n_levels, missing_rate, positive_rate):
    checks = [
        (n_rows >= 10, "dataset.n_rows must be at least 10"),
        (n_numeric >= 2, "dataset.n_numeric must be at least 2 (the interaction uses two)"),
        (n_categorical >= 0, "dataset.n_categorical must be >= 0"),
        (n_levels >= 2, "dataset.n_levels must be at least 2"),
        (0 <= missing_rate < 1, "dataset.missing_rate must be in [0, 1)"),
        (0 < positive_rate < 1, "dataset.positive_rate must be in (0, 1)"),
    ]
    for ok, message in checks:
        if not ok:
            raise DatasetError(message + ".")


def _synthetic_logit(numeric, codes, n_levels, interaction, rng) -> np.ndarray:
    """Log-odds: decaying linear weights, one product term, categorical level effects."""
    weights = 1.0 / np.arange(1, numeric.shape[1] + 1)
    weights[:2] = 0.5  # x0 and x1 act mainly through their product
    logit = numeric @ weights + interaction * numeric[:, 0] * numeric[:, 1]
    for j in range(codes.shape[1]):
        logit += rng.normal(0.0, 0.7, size=n_levels)[codes[:, j]]
    return logit


def _intercept_for_rate(logit: np.ndarray, rate: float) -> float:
    """Intercept b with mean(sigmoid(logit + b)) = rate, by bisection (monotone in b)."""
    low, high = -30.0, 30.0
    for _ in range(60):
        mid = (low + high) / 2
        if np.mean(1.0 / (1.0 + np.exp(-(logit + mid)))) < rate:
            low = mid
        else:
            high = mid
    return (low + high) / 2
