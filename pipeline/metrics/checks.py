"""Input checks: every metric function validates labels and predictions here and names the
offending argument."""

from __future__ import annotations

import numpy as np

_ROW_SUM_TOL = 1e-5  # float32 softmax outputs sum to 1 only up to rounding


def as_float_array(x, name: str, ndim: int) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numeric: {err}") from None
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {a.shape}")
    if a.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def _check_probabilities(prob, name: str, n: int, ndim: int) -> np.ndarray:
    p = as_float_array(prob, name, ndim)
    if p.shape[0] != n:
        raise ValueError(f"{name} has {p.shape[0]} rows but y_true has {n}")
    if p.min() < 0 or p.max() > 1:
        raise ValueError(f"{name} must hold probabilities in [0, 1], got values in "
                         f"[{p.min():.3g}, {p.max():.3g}]; pass probabilities, not logits")
    return p


def check_binary(y_true, prob, name: str = "prob") -> tuple[np.ndarray, np.ndarray]:
    """Validated 0/1 labels and probabilities as float arrays; ValueError names the argument."""
    y = as_float_array(y_true, "y_true", 1)
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("y_true must hold binary labels 0/1 (1 = positive class), got values "
                         f"{np.unique(y)[:5]}")
    return y, _check_probabilities(prob, name, y.size, 1)


def check_multiclass(y_true, proba, name: str = "proba") -> tuple[np.ndarray, np.ndarray]:
    """Validated class codes and (n, K) probabilities; ValueError names the argument."""
    y = as_float_array(y_true, "y_true", 1)
    p = _check_probabilities(proba, name, y.size, 2)
    k = p.shape[1]
    if k < 2:
        raise ValueError(f"{name} must have one column per class (>= 2), got shape {p.shape}")
    if not np.all((y == np.round(y)) & (y >= 0) & (y < k)):
        raise ValueError(f"y_true must hold integer class codes 0..{k - 1} (one per column "
                         f"of {name}), got values {np.unique(y)[:5]}")
    if np.abs(p.sum(axis=1) - 1).max() > _ROW_SUM_TOL:
        raise ValueError(f"each row of {name} must sum to 1 (class probabilities); "
                         "apply softmax to scores first")
    return y, p


def check_regression(y_true, y_pred, name: str = "y_pred") -> tuple[np.ndarray, np.ndarray]:
    y = as_float_array(y_true, "y_true", 1)
    pred = as_float_array(y_pred, name, 1)
    if pred.size != y.size:
        raise ValueError(f"{name} has {pred.size} rows but y_true has {y.size}")
    return y, pred

CHECKS = {"binary": check_binary, "multiclass": check_multiclass,
           "regression": check_regression}


def check_threshold(threshold) -> float:
    if not (np.isscalar(threshold) and 0 <= threshold <= 1):
        raise ValueError(f"threshold must be a number in [0, 1], got {threshold!r}")
    return float(threshold)


def check_bootstrap_args(n_boot, alpha, minimum: int = 0) -> None:
    if not (isinstance(n_boot, int | np.integer) and n_boot >= minimum):
        raise ValueError(f"n_boot must be an integer >= {minimum}, got {n_boot!r}")
    if not (0 < alpha < 1):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
