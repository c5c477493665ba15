"""Recalibration of a fitted binary classifier's probabilities, and model updating.

Within cross-validation (config group ``calibration``), a calibrator is fitted on an outer
fold's inner validation part only (never on its test rows) and applied to the fold's test
predictions; the logged model carries its own calibrator (:class:`RecalibratedClassifier`).

* ``platt``: Platt (2000) scaling on the network's log-odds, ``q = sigmoid(a + b * logit p)``,
  fitted by maximum likelihood against Platt's smoothed targets ``(N+ + 1) / (N+ + 2)`` for
  events and ``1 / (N- + 2)`` for non-events (a prior that keeps ``a`` and ``b`` finite on a
  small or separated validation part). This is scikit-learn's ``CalibratedClassifierCV
  (method="sigmoid")`` on a classifier whose decision function is ``logit p``.
* ``isotonic``: the non-decreasing step function of ``p`` closest to the labels in squared
  error (pool-adjacent-violators, ties in ``p`` pooled first), linearly interpolated between
  the distinct validation probabilities and constant beyond them: scikit-learn's
  ``IsotonicRegression(out_of_bounds="clip")``, as ``CalibratedClassifierCV(method=
  "isotonic")`` uses it.

For external validation, model updating (Steyerberg, *Clinical Prediction Models*, ch. 20):
``intercept`` re-estimates calibration-in-the-large (``logit q = a + logit p``), ``logistic``
re-estimates intercept and slope (``logit q = a + b logit p``), both by plain maximum
likelihood on part of the new table.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from ..metrics.calibration import calibration_fit
from ..metrics.common import logit
from . import RECALIBRATION_METHODS, UPDATE_METHODS


class LogisticCalibrator:
    """``q = sigmoid(intercept + slope * logit(p))``; the identity at (0, 1)."""

    def __init__(self, intercept: float = 0.0, slope: float = 1.0):
        self.intercept = float(intercept)
        self.slope = float(slope)

    def transform(self, p) -> np.ndarray:
        eta = self.intercept + self.slope * logit(np.asarray(p, dtype=float))
        return 1.0 / (1.0 + np.exp(-np.clip(eta, -700.0, 700.0)))

    def __repr__(self) -> str:
        return f"LogisticCalibrator(intercept={self.intercept:.4g}, slope={self.slope:.4g})"


class IsotonicCalibrator:
    """A non-decreasing map through the points (``x``, ``y``), linear between them and
    constant beyond the first and last."""

    def __init__(self, x=(), y=()):
        self.x = np.asarray(x, dtype=float)
        self.y = np.asarray(y, dtype=float)

    def transform(self, p) -> np.ndarray:
        return np.interp(np.asarray(p, dtype=float), self.x, self.y)

    def __repr__(self) -> str:
        return f"IsotonicCalibrator({self.x.size} points)"


def _check(p, y) -> tuple[np.ndarray, np.ndarray]:
    p, y = np.asarray(p, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if p.shape != y.shape or p.size == 0:
        raise ValueError(f"p and y must be non-empty and of one length, got {p.size} and {y.size}")
    if not (np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))):
        raise ValueError("p must hold probabilities in [0, 1]")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("y must hold 0/1 labels")
    if y.min() == y.max():
        raise ValueError(f"recalibration needs both outcomes among its {y.size} rows; they hold "
                         f"only {'events' if y[0] else 'non-events'}")
    return p, y


def fit_platt(p, y, max_iter: int = 100, tol: float = 1e-12) -> LogisticCalibrator:
    """Platt scaling of probabilities ``p`` (n,) against 0/1 labels ``y`` (n,): Newton's
    method on the cross-entropy of ``sigmoid(a + b * logit p)`` against Platt's targets,
    from ``(a, b)`` = (0, 1), halving a step that does not lower it. Concave in (a, b) with
    targets strictly inside (0, 1), so the optimum is finite and unique."""
    p, y = _check(p, y)
    n_pos = y.sum()
    n_neg = y.size - n_pos
    t = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    X = np.column_stack([np.ones_like(p), logit(p)])

    def loss(beta):
        eta = X @ beta
        return float(np.sum(np.logaddexp(0.0, eta) - t * eta))

    beta, current = np.array([0.0, 1.0]), None
    current = loss(beta)
    for _ in range(max_iter):
        mu = 1.0 / (1.0 + np.exp(-(X @ beta)))
        grad = X.T @ (mu - t)
        hess = (X * (mu * (1 - mu))[:, None]).T @ X
        step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        for _ in range(60):
            candidate = loss(beta - step)
            if candidate <= current + 1e-12 * abs(current):
                break
            step /= 2
        beta, previous, current = beta - step, current, candidate
        if np.max(np.abs(step)) <= tol * (1 + np.max(np.abs(beta))) or previous - current < 1e-15:
            break
    return LogisticCalibrator(*beta)


def fit_isotonic(p, y) -> IsotonicCalibrator:
    """Isotonic regression of 0/1 labels ``y`` on probabilities ``p`` by pool-adjacent-
    violators: rows with equal ``p`` are pooled (their mean label, weighted by their count),
    then adjacent blocks whose means decrease are merged until none does."""
    p, y = _check(p, y)
    x, inverse, counts = np.unique(p, return_inverse=True, return_counts=True)
    means = np.bincount(inverse, weights=y) / counts
    value, weight, size = [], [], []  # the blocks so far: mean, total weight, distinct points
    for m, w in zip(means, counts.astype(float)):
        value.append(m)
        weight.append(w)
        size.append(1)
        while len(value) > 1 and value[-2] >= value[-1]:
            w_last, m_last, s_last = weight.pop(), value.pop(), size.pop()
            total = weight[-1] + w_last
            value[-1] = (value[-1] * weight[-1] + m_last * w_last) / total
            weight[-1], size[-1] = total, size[-1] + s_last
    return IsotonicCalibrator(x, np.repeat(value, size))


def fit_recalibration(method: str, p, y):
    """The calibrator of ``method`` (:data:`RECALIBRATION_METHODS`) fitted on ``p``, ``y``;
    None for ``"none"``."""
    if method not in RECALIBRATION_METHODS:
        raise ValueError(f"calibration method must be one of {RECALIBRATION_METHODS}, got {method!r}")
    if method == "none":
        return None
    return fit_platt(p, y) if method == "platt" else fit_isotonic(p, y)


def fit_update(method: str, p, y) -> LogisticCalibrator | None:
    """Model updating on a new table (:data:`UPDATE_METHODS`): ``intercept`` fits ``a`` in
    ``logit q = a + logit p``, ``logistic`` fits ``a`` and ``b`` in ``logit q = a + b logit p``,
    by maximum likelihood on ``p``, ``y``. None for ``"none"``. ``ValueError`` when the
    labels have no finite maximum (``p`` separates the outcomes)."""
    if method not in UPDATE_METHODS:
        raise ValueError(f"update must be one of {UPDATE_METHODS}, got {method!r}")
    if method == "none":
        return None
    p, y = _check(p, y)
    a, b = calibration_fit(logit(p), y, np.ones((1, p.size)), fit_slope=method == "logistic")[0]
    if not np.isfinite(a) or not np.isfinite(b):
        raise ValueError(f"update={method} has no finite fit on the updating part: the model's "
                         "predictions separate its outcomes (try update=intercept, or more rows "
                         "with validate's update_fraction).")
    return LogisticCalibrator(a, b)


class RecalibratedClassifier(ClassifierMixin, BaseEstimator):
    """A fitted binary classifier (e.g. preprocessing + network) whose P(y = 1) passes through
    a fitted calibrator: what the experiment logs as the model when ``calibration`` is not
    ``none``. Nothing is fitted here; both parts come fitted.

    Parameters
    ----------
    estimator : fitted classifier with ``predict_proba`` (two classes).
    calibrator : :class:`LogisticCalibrator` or :class:`IsotonicCalibrator`.
    method : str -- how the calibrator was fitted (``platt``, ``isotonic``, an update), for readers.
    """

    def __init__(self, estimator=None, calibrator=None, method: str = "platt"):
        self.estimator = estimator
        self.calibrator = calibrator
        self.method = method

    def fit(self, X, y):
        raise NotImplementedError("RecalibratedClassifier wraps an already fitted classifier "
                                  "and calibrator; fit those, then wrap them.")

    @property
    def classes_(self) -> np.ndarray:
        return self.estimator.classes_

    @property
    def feature_names_in_(self) -> np.ndarray:
        return self.estimator.feature_names_in_

    def predict_proba(self, X) -> np.ndarray:
        """Calibrated class probabilities, shape (n, 2)."""
        q = self.calibrator.transform(self.estimator.predict_proba(X)[:, 1])
        return np.column_stack([1.0 - q, q])

    def predict(self, X) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

    def __sklearn_is_fitted__(self) -> bool:
        return self.estimator is not None and self.calibrator is not None


def recalibrated(model, calibrator, method: str):
    """``model`` with ``calibrator`` applied to its P(y = 1), or ``model`` itself when there
    is no calibrator."""
    return model if calibrator is None else RecalibratedClassifier(model, calibrator, method)
