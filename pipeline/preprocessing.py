"""Preprocessing built from the ``preprocess`` config group.

:func:`build_preprocessor` returns an *unfitted* scikit-learn estimator: a
``ColumnTransformer`` (impute -> scale numeric columns; impute -> encode
categorical ones), optionally followed by degree-2 polynomial features and a
low-variance filter. The experiment fits it on the training part of each fold
only, so that no statistic (mean, median, scale, category list) is learned
from test rows.

Class imbalance (``preprocess.imbalance``) is applied by the experiment, not by
this estimator: ``class_weight`` passes ``class_weight="balanced"`` to the
model (weights in the loss), ``oversample`` calls :func:`oversample` on the
training part. Oversampling duplicates minority rows, which shifts the
predicted probabilities towards the minority class: it harms calibration, so
prefer class weights (or none, then choose a threshold) when probabilities
matter.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.experimental import enable_iterative_imputer  # noqa: F401 (registers IterativeImputer)
from sklearn.feature_selection import VarianceThreshold
from sklearn.impute import IterativeImputer, KNNImputer, MissingIndicator, SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    RobustScaler,
    StandardScaler,
)

from .defaults import option
from .errors import did_you_mean

log = logging.getLogger(__name__)

#: Keys of the ``preprocess`` config group with their defaults: the ``standard`` preset
#: (``conf/preprocess/``, their one source).
DEFAULTS: dict[str, Any] = option("preprocess", "standard")

#: Keys of the ``preprocess`` group (config schema checks).
KNOWN_KEYS = frozenset(DEFAULTS)

SCALERS = {
    "standard": StandardScaler,
    "minmax": MinMaxScaler,
    "robust": RobustScaler,
    "none": None,
}

NUMERIC_IMPUTERS = ("mean", "median", "most_frequent", "constant", "knn", "iterative")
CATEGORICAL_IMPUTERS = ("most_frequent", "constant")
ENCODERS = ("onehot", "ordinal")
IMBALANCE = ("none", "class_weight", "oversample")
MISSING_CATEGORY = "missing"  # fill value of the constant categorical imputer


def _options(cfg: Mapping) -> dict[str, Any]:
    """Merge over :data:`DEFAULTS`, refusing unknown keys and unknown choices."""
    cfg = dict(cfg)
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        hint = "".join(did_you_mean(k, DEFAULTS) for k in unknown)
        raise ValueError(f"unknown preprocess key(s) {unknown}.{hint} Valid: {sorted(DEFAULTS)}.")
    opts = {**DEFAULTS, **cfg}
    choices = {
        "numeric_imputer": NUMERIC_IMPUTERS,
        "categorical_imputer": CATEGORICAL_IMPUTERS,
        "scaler": tuple(SCALERS),
        "encoder": ENCODERS,
        "imbalance": IMBALANCE,
    }
    for key, valid in choices.items():
        if opts[key] not in valid:
            raise ValueError(f"preprocess.{key}={opts[key]!r} is not one of {', '.join(valid)}.")
    if opts["polynomial_degree"] not in (1, 2):
        raise ValueError(
            f"preprocess.polynomial_degree={opts['polynomial_degree']!r} must be 1 (off) or 2 "
            f"(pairwise products and squares; higher degrees explode the feature count)."
        )
    return opts


def build_preprocessor(cfg: Mapping, numeric: Sequence[str], categorical: Sequence[str]):
    """Build the unfitted preprocessing estimator described by ``cfg``.

    Parameters
    ----------
    cfg : Mapping
        The ``preprocess`` config group as a plain dict (keys in :data:`DEFAULTS`).
    numeric, categorical : sequence of str
        Column names of the input DataFrame by type (``Dataset.numeric`` /
        ``Dataset.categorical``).

    Returns
    -------
    sklearn.compose.ColumnTransformer or sklearn.pipeline.Pipeline
        Unfitted. ``fit`` on the training part of a fold; ``transform`` returns
        a dense float array of shape (n_rows, n_output_features).

    Raises
    ------
    ValueError
        For an unknown key or choice, or when there are no columns at all.
    """
    opts = _options(cfg)
    parts = []
    if numeric:
        parts.append(("num", _numeric_pipeline(opts), list(numeric)))
    if categorical:
        parts.append(("cat", _categorical_pipeline(opts), list(categorical)))
    if opts["add_indicator"] and parts:
        # A separate branch keeps the 0/1 indicators unscaled and unencoded; only
        # columns with missing values in the training part get one.
        # error_on_new=False: a test row may miss a value that no training row missed.
        indicator = MissingIndicator(features="missing-only", error_on_new=False)
        parts.append(("missing", indicator, [*numeric, *categorical]))
    if not parts:
        raise ValueError("build_preprocessor needs at least one numeric or categorical column.")
    columns = ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0)
    steps = [("columns", columns)]
    if opts["polynomial_degree"] == 2:
        poly = PolynomialFeatures(2, interaction_only=opts["interaction_only"], include_bias=False)
        steps.append(("poly", poly))
        scaler = SCALERS[opts["scaler"]]
        if scaler is not None:
            # Products of scaled features are no longer on a unit scale; gradient
            # descent converges faster when every input is.
            steps.append(("poly_scale", scaler()))
    if opts["variance_threshold"] is not None:
        steps.append(("variance", VarianceThreshold(float(opts["variance_threshold"]))))
    return columns if len(steps) == 1 else Pipeline(steps)


def _numeric_pipeline(opts: dict) -> Pipeline:
    steps = [("impute", _numeric_imputer(opts))]
    scaler = SCALERS[opts["scaler"]]
    if scaler is not None:
        steps.append(("scale", scaler()))
    return Pipeline(steps)


def _numeric_imputer(opts: dict):
    kind = opts["numeric_imputer"]
    # keep_empty_features: a column that happens to be all-missing in a training
    # part is kept (filled), so the output always has one column per input column.
    if kind == "knn":
        return KNNImputer(n_neighbors=int(opts["knn_neighbors"]), keep_empty_features=True)
    if kind == "iterative":
        # Not keep_empty_features: with it, scikit-learn 1.9 writes into the read-only
        # arrays pandas 3 hands out (copy-on-write). An all-missing column is dropped.
        return IterativeImputer(max_iter=int(opts["iterative_max_iter"]), random_state=0)
    fill = float(opts["fill_value"])
    return SimpleImputer(strategy=kind, fill_value=fill, keep_empty_features=True)


def _categorical_pipeline(opts: dict) -> Pipeline:
    imputer = SimpleImputer(
        strategy=opts["categorical_imputer"], fill_value=MISSING_CATEGORY, keep_empty_features=True,
    )
    if opts["encoder"] == "onehot":
        # Categories first seen in a test fold become all-zero rows instead of an error.
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    else:
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    return Pipeline([("impute", imputer), ("encode", encoder)])


def feature_names(fitted_preprocessor) -> list[str]:
    """Output column names of a fitted preprocessor, for reports.

    Names drop the ``num__``/``cat__`` prefixes when that leaves them unique
    (``age``, ``cp_4``, ``age cp_4`` for a product), else keep them.

    Parameters
    ----------
    fitted_preprocessor : estimator
        The result of :func:`build_preprocessor` after ``fit``.

    Returns
    -------
    list of str
        One name per output column.
    """
    names = [str(n) for n in fitted_preprocessor.get_feature_names_out()]
    short = [_strip_prefixes(n) for n in names]
    return short if len(set(short)) == len(short) else names


def _strip_prefixes(name: str) -> str:
    """'num__age' -> 'age'; 'missing__missingindicator_ca' -> 'ca_missing' (also inside products)."""
    parts = []
    for part in name.split(" "):
        if part.startswith("missing__missingindicator_"):
            part = part.removeprefix("missing__missingindicator_") + "_missing"
        parts.append(part.removeprefix("num__").removeprefix("cat__"))
    return " ".join(parts)


def oversample(X, y: np.ndarray, rng: np.random.Generator):
    """Randomly duplicate minority-class rows until every class matches the largest one.

    Apply to the training part of a fold only, never to validation or test rows.
    Duplicated rows shift predicted probabilities toward the minority class, so
    oversampling harms calibration; class weights (``preprocess.imbalance:
    class_weight``) are the default alternative.

    Parameters
    ----------
    X : pandas.DataFrame or numpy.ndarray, shape (n_rows, n_features)
    y : numpy.ndarray, shape (n_rows,)
        Class labels.
    rng : numpy.random.Generator
        Source of the random draws (reproducible with a seeded generator).

    Returns
    -------
    X_resampled, y_resampled
        The original rows followed by the drawn duplicates, same types as the input.
    """
    y = np.asarray(y)
    if len(y) != len(X):
        raise ValueError(f"oversample: X has {len(X)} rows but y has {len(y)}.")
    classes, counts = np.unique(y, return_counts=True)
    extra = [
        rng.choice(np.flatnonzero(y == label), size=counts.max() - count, replace=True)
        for label, count in zip(classes, counts, strict=True)
        if count < counts.max()
    ]
    index = np.concatenate([np.arange(len(y)), *extra]).astype(np.int64)
    log.debug("oversample: %d -> %d training rows", len(y), len(index))
    if isinstance(X, pd.DataFrame):
        return X.iloc[index].reset_index(drop=True), y[index]
    return np.asarray(X)[index], y[index]
