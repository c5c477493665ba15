"""Preprocessing built from the ``preprocess`` config group.

:func:`build_preprocessor` returns an *unfitted* scikit-learn estimator: a
``ColumnTransformer`` (domain range -> impute -> scale numeric columns; pool rare levels ->
impute -> encode categorical ones), optionally followed by degree-2 polynomial features and
a low-variance filter. The experiment fits it on the training part of each fold
only, so that no statistic (mean, median, scale, category list) is learned
from test rows.

Nothing fitted may identify a patient, since the fitted preprocessor is part of the logged
model: category levels held by fewer than ``min_category_count`` training rows are pooled
into one ``infrequent`` level before anything sees them (so a rare ward name or a sentence
never becomes a feature name or a stored category), the min-max scaler and the domain
ranges keep the 0.5th and 99.5th percentiles rather than the extremes, and a model whose
fitted state holds training rows (the KNN imputer) is not logged unless the user says so
(:func:`model_may_be_logged`).

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
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.experimental import enable_iterative_imputer  # noqa: F401 (registers IterativeImputer)
from sklearn.feature_selection import VarianceThreshold
from sklearn.impute import IterativeImputer, KNNImputer, MissingIndicator, SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    RobustScaler,
    StandardScaler,
)
from sklearn.utils.validation import check_is_fitted

from .defaults import option
from .errors import DatasetError, did_you_mean

log = logging.getLogger(__name__)

#: Keys of the ``preprocess`` config group with their defaults: the ``standard`` preset
#: (``conf/preprocess/``, their one source).
DEFAULTS: dict[str, Any] = option("preprocess", "standard")

#: Keys of the ``preprocess`` group (config schema checks).
KNOWN_KEYS = frozenset(DEFAULTS)

INFREQUENT = "infrequent"  # the level rare levels are pooled into
PERCENTILES = (0.5, 99.5)  # kept instead of the extremes: an extreme is one patient's value


class RangeScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Min-max scaling between the 0.5th and 99.5th training percentiles (to 0 and 1):
    scikit-learn's ``MinMaxScaler`` stores each column's minimum and maximum, which are two
    patients' values."""

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        self.n_features_in_ = X.shape[1]
        self.lower_, self.upper_ = np.nanpercentile(X, PERCENTILES, axis=0)
        span = self.upper_ - self.lower_
        self.scale_ = np.where(span > 0, 1.0 / np.where(span > 0, span, 1.0), 1.0)
        return self

    def transform(self, X):
        check_is_fitted(self, "scale_")
        return (np.asarray(X, dtype=np.float64) - self.lower_) * self.scale_


SCALERS = {
    "standard": StandardScaler,
    "minmax": RangeScaler,
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
    lowest = {"min_category_count": 1, "max_levels": 2, "knn_neighbors": 1, "iterative_max_iter": 1}
    for key, low in lowest.items():
        value = opts[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"preprocess.{key}={value!r} must be a whole number >= {low}.")
    return opts


def check_config(cfg: Mapping) -> None:
    """Check the ``preprocess`` config's keys and values (before any data is read)."""
    _options(cfg)


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
    steps = [("domain", DomainRange()), ("impute", _numeric_imputer(opts))]
    scaler = SCALERS[opts["scaler"]]
    if scaler is not None:
        steps.append(("scale", scaler()))
    return Pipeline(steps)


def _numeric_imputer(opts: dict):
    kind = opts["numeric_imputer"]
    # keep_empty_features: a column that happens to be all-missing in a training
    # part is kept (filled), so the output always has one column per input column.
    if kind == "knn":  # keeps the training rows: see model_may_be_logged
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
    # Pooling comes first, so that no later step (the imputer's most frequent level
    # included) ever holds a rare level.
    pool = RareLevels(min_count=int(opts["min_category_count"]), max_levels=int(opts["max_levels"]))
    return Pipeline([("pool", pool), ("impute", imputer), ("encode", encoder)])


class RareLevels(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Pool the levels held by fewer than ``min_count`` training rows into ``infrequent``
    (also a level never seen in training), and refuse a column with more than
    ``max_levels`` distinct training values (text, not categories). Only the kept levels
    are stored (``levels_``), never the pooled ones."""

    def __init__(self, min_count=10, max_levels=50):
        self.min_count = min_count
        self.max_levels = max_levels

    def fit(self, X, y=None):
        frame = _frame(X)
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.n_features_in_ = frame.shape[1]
        self.levels_ = []
        for name in frame.columns:
            counts = frame[name].dropna().astype(str).value_counts()
            if len(counts) > self.max_levels:
                raise DatasetError(
                    f"categorical column {name!r} has {len(counts)} distinct values in the "
                    f"training part, more than preprocess.max_levels={self.max_levels}: free "
                    f"text or a code list is not a category. Add it to dataset.drop, declare it "
                    f"as dataset.id_column, or raise preprocess.max_levels (levels held by "
                    f"fewer than preprocess.min_category_count={self.min_count} rows are pooled)."
                )
            self.levels_.append(sorted(counts.index[counts >= self.min_count]))
        return self

    def transform(self, X):
        check_is_fitted(self, "levels_")
        frame = _frame(X)
        out = np.empty(frame.shape, dtype=object)
        for j, (name, kept) in enumerate(zip(frame.columns, self.levels_)):
            cells = frame[name]
            text = cells.astype(str).where(cells.notna())
            out[:, j] = text.where(text.isin(kept) | text.isna(), INFREQUENT).to_numpy(dtype=object)
        return np.where(pd.isna(out), np.nan, out).astype(object)


class DomainRange(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Passes numeric columns through unchanged and keeps their 0.5th and 99.5th training
    percentiles (``lower_``, ``upper_``): the range a new patient's value is checked against
    when the logged model predicts (percentiles, not extremes, which are patients' values)."""

    def fit(self, X, y=None):
        frame = _frame(X)
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.n_features_in_ = frame.shape[1]
        with warnings.catch_warnings():  # an all-missing column has no range (nan)
            warnings.simplefilter("ignore", RuntimeWarning)
            self.lower_, self.upper_ = np.nanpercentile(
                frame.to_numpy(dtype=np.float64), PERCENTILES, axis=0)
        return self

    def transform(self, X):
        check_is_fitted(self, "lower_")
        return X

    def outside(self, X) -> np.ndarray:
        """Boolean (n_rows, n_columns): a present value below ``lower_`` or above ``upper_``."""
        values = _frame(X)[list(self.feature_names_in_)].to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore"):
            return (values < self.lower_) | (values > self.upper_)


def _frame(X) -> pd.DataFrame:
    return X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=object))


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


def fitted_steps(model):
    """Every estimator inside ``model`` as ``(path, estimator)``: pipeline steps, column
    transformer parts and estimators held as attributes (e.g. a recalibration wrapper's)."""
    def visit(obj, where, seen):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        yield where.rstrip("."), obj
        if isinstance(obj, Pipeline):
            children = obj.steps
        elif isinstance(obj, ColumnTransformer):
            children = [(n, t) for n, t, _ in getattr(obj, "transformers_", obj.transformers)]
        else:
            children = [(k, v) for k, v in vars(obj).items() if isinstance(v, BaseEstimator)]
        for name, child in children:
            if isinstance(child, BaseEstimator):
                yield from visit(child, f"{where}{name}.", seen)

    yield from visit(model, "", set())


def rows_held(model) -> list[str]:
    """Names of the fitted steps of ``model`` whose state holds training rows (a KNN imputer
    keeps the whole training matrix to find neighbours); empty when none does."""
    return [f"{path} ({type(step).__name__})" for path, step in fitted_steps(model)
            if isinstance(step, KNNImputer) or hasattr(step, "_fit_X")]


def model_may_be_logged(model, with_training_rows: bool = False) -> bool:
    """Whether the fitted ``model`` may be stored (logged to MLflow): not when its state
    holds training rows, unless ``tracking.log_models_with_training_rows`` is set on
    purpose (``with_training_rows``). A refusal is logged with what to do."""
    held = rows_held(model)
    if held and not with_training_rows:
        log.warning(
            "the fitted model is not logged: %s keeps the training rows (patients' values) "
            "inside the model (preprocess.numeric_imputer=knn finds neighbours among them). "
            "Choose another preprocess.numeric_imputer, or set "
            "tracking.log_models_with_training_rows=true to log it anyway (only where patient "
            "rows may be stored).", ", ".join(held))
        return False
    return True


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
