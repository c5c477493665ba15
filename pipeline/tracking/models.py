"""The deployable model: a fitted scikit-learn pipeline logged as an MLflow model with a
signature built from column names and dtypes (never an input example: no patient row is
stored), in skops format, with the ``pipeline`` package shipped beside it.

A biotab pipeline (one whose preprocessing keeps its training domain) is logged wrapped in
:class:`ClinicalModel`: it accepts whole numbers where it was trained on decimals, names
missing or unreadable columns without printing a row, and returns, next to each
probability, how many of the patient's features are missing and which lie outside the
0.5th-99.5th percentiles seen in training (an extrapolation a clinician should see).
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Mapping

import mlflow.sklearn
import numpy as np
import pandas as pd
import sklearn
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema, TensorSpec
from mlflow.types.schema import AnyType
from sklearn.base import BaseEstimator

from .. import PROJECT_ROOT
from ..preprocessing import DomainRange, fitted_steps
from . import private

PACKAGE_DIR = PROJECT_ROOT / "pipeline"
CONF_DIR = PROJECT_ROOT / "conf"


def log_model(run, model, feature_dtypes: Mapping[str, str], name: str = "model",
              proba: bool = True) -> tuple[str, str]:
    """Log a fitted sklearn pipeline as the MLflow model of ``run`` (a :class:`RunHandle`),
    named ``name`` (made a valid model name); return its ``models:/<id>`` URI and model id.

    The pyfunc flavour predicts probabilities (``predict_proba``) when ``proba``,
    else ``predict``. ``code_paths`` ships the ``pipeline`` package with the model
    so it loads where biotab is not installed; explicit ``pip_requirements`` skip
    mlflow's dependency inference (~1.6 s). The signature comes from
    ``feature_dtypes`` alone: no input example, so no patient row is stored.
    Saved in skops format (mlflow's default: loading runs no code; no pickle warning).

    The model entry is created here, in this run's experiment: left to mlflow, a
    model logged outside a fluent ``start_run`` lands in the "Default" experiment.
    """
    method = "predict_proba" if proba else "predict"
    if not hasattr(model, method):
        raise ValueError(f"log_model(proba={proba}) needs a model with {method}(); "
                         f"got {type(model).__name__}.")
    model = clinical(model, feature_dtypes, proba)
    name = model_name(name)
    logged = run.client.create_logged_model(
        run.experiment_id, name=name, source_run_id=run.run_id, params=run.params)
    # log_model only talks to the global URI; the requirements are the installed versions
    with private.global_tracking_uri(run.uri), private.requirements_unchecked():
        info = mlflow.sklearn.log_model(
            model, name=name, model_id=logged.model_id, run_id=run.run_id,
            signature=model_signature(model, feature_dtypes, proba),
            pyfunc_predict_fn=method,
            pip_requirements=_pip_requirements(),
            code_paths=[str(PACKAGE_DIR), str(CONF_DIR)],  # the package reads its defaults there
            skops_trusted_types=_trusted_types(),
        )
    return info.model_uri, logged.model_id


def model_name(name: str) -> str:
    """A run's name as a logged model's: MLflow refuses ``/ : . % " '`` (``lr=0.01`` ->
    ``lr=0_01``) and more than 256 characters."""
    return re.sub(r"[/:.%\"']", "_", name).strip()[:256] or "model"


def model_signature(model, feature_dtypes: Mapping[str, str], proba: bool = True) -> ModelSignature:
    """Input columns by name and type; output float64 probabilities (n, n_classes) or values (n,).

    Every numeric column is declared ``double``, integers included: integer columns
    cannot hold NaN, and a new patient's record may miss any value (mlflow's own
    advice). Pass numeric columns as floats when predicting.

    A :class:`ClinicalModel` declares its columns ``Any`` instead (mlflow refuses int64 for
    ``double``, and an all-blank text column read from a CSV file as float64 for
    ``string``, before the model sees them; the model converts and checks them itself) and
    its outputs as named columns.
    """
    if isinstance(model, ClinicalModel):
        for column, dtype in feature_dtypes.items():
            _mlflow_type(dtype, column)  # the same refusal of undescribable types
        # Not "required": mlflow's own missing-column error prints the input rows; the
        # model names the missing columns itself.
        inputs = Schema([ColSpec(AnyType(), column, required=False) for column in feature_dtypes])
        outputs = Schema([ColSpec("double" if kind == "float64" else "long" if kind == "int64"
                                  else "string", column) for column, kind in model.outputs().items()])
        return ModelSignature(inputs=inputs, outputs=outputs)
    inputs = Schema([ColSpec(_mlflow_type(dtype, column), column)
                     for column, dtype in feature_dtypes.items()])
    classes = getattr(model, "classes_", None)
    shape = (-1, len(classes) if classes is not None else -1) if proba else (-1,)
    return ModelSignature(inputs=inputs, outputs=Schema([TensorSpec(np.dtype("float64"), shape)]))


def _mlflow_type(dtype: str, column: str) -> str:
    dtype = pd.api.types.pandas_dtype(dtype)
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(dtype):
        return "double"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return "string"
    raise ValueError(f"column {column!r} has dtype {dtype}, which an MLflow signature cannot "
                     "describe: convert it to a number or a string before training.")


def _pip_requirements() -> list[str]:
    """The installed versions of what loading the model needs (mlflow adds itself)."""
    import skops

    versions = {"numpy": np.__version__, "pandas": pd.__version__,
                "scikit-learn": sklearn.__version__, "skops": skops.__version__}
    return [f"{name}=={version}" for name, version in versions.items()]


# scikit-learn classes of our preprocessing that skops does not trust by default (the
# iterative imputer is experimental): preprocess=iterative models fail to log without them.
SKLEARN_TYPES_TO_TRUST = ("sklearn.impute._iterative.IterativeImputer",
                          "sklearn.impute._iterative._ImputerTriplet")


@functools.cache
def _trusted_types() -> list[str]:
    """Types the skops loader must be told to trust: every class biotab defines (estimators,
    activations, optimizers, schedules, ...), numpy's dtype and :data:`SKLEARN_TYPES_TO_TRUST`.

    skops, mlflow's safe default format, refuses unknown classes at load time, and mlflow
    loads each model back when saving it: a model holding any other unknown type fails
    loudly at logging time. A fixed list saves asking skops, which serialises the model
    once more (~40 ms).
    """
    import pkgutil

    from .. import core, estimators, preprocessing
    from ..evaluation import recalibration  # a recalibrated model's wrapper and calibrators

    modules = [estimators, recalibration, preprocessing]
    modules += [importlib.import_module(f"{core.__name__}.{m.name}")
                for m in pkgutil.iter_modules(core.__path__)]
    return ["numpy.dtype", f"{__name__}.ClinicalModel", *SKLEARN_TYPES_TO_TRUST] + sorted(
        f"{cls.__module__}.{cls.__qualname__}" for module in modules for cls in vars(module).values()
        if isinstance(cls, type) and cls.__module__ == module.__name__)


def clinical(model, feature_dtypes: Mapping[str, str], proba: bool):
    """``model`` wrapped in :class:`ClinicalModel` when it keeps its training domain (a
    biotab pipeline); any other model is logged as it is."""
    if not any(isinstance(step, DomainRange) for _, step in fitted_steps(model)):
        return model
    numeric = [c for c, dtype in feature_dtypes.items()
               if pd.api.types.is_numeric_dtype(pd.api.types.pandas_dtype(dtype))
               and not pd.api.types.is_bool_dtype(pd.api.types.pandas_dtype(dtype))]
    return ClinicalModel(model, list(feature_dtypes), numeric, proba)


class ClinicalModel(BaseEstimator):
    """A fitted biotab pipeline as deployed: predictions with their domain checks.

    ``predict_proba`` (classification) and ``predict`` (regression) return a DataFrame: the
    probability of the positive class (``probability``; ``probability_<k>`` per class for
    more than two) or the prediction, then ``n_missing`` (features missing for the patient),
    ``n_out_of_range`` and ``out_of_range`` (numeric features below the 0.5th or above the
    99.5th training percentile, by name). Numeric columns may come as whole numbers or
    numeric text; a missing or unreadable column is an error naming it, never its rows.
    """

    def __init__(self, estimator=None, columns=(), numeric=(), proba=True):
        self.estimator = estimator
        self.columns = columns
        self.numeric = numeric
        self.proba = proba

    def fit(self, X, y=None):
        raise NotImplementedError("ClinicalModel wraps a fitted pipeline; fit that, then wrap it.")

    def __sklearn_is_fitted__(self) -> bool:
        return self.estimator is not None

    @property
    def classes_(self):
        return getattr(self.estimator, "classes_", None)

    def outputs(self) -> dict[str, str]:
        """Output column -> dtype."""
        classes = self.classes_
        if not self.proba:
            first = {"prediction": "float64"}
        elif classes is not None and len(classes) > 2:
            first = {f"probability_{c}": "float64" for c in classes}
        else:
            first = {"probability": "float64"}
        return {**first, "n_missing": "int64", "n_out_of_range": "int64", "out_of_range": "object"}

    def predict_proba(self, X, params=None) -> pd.DataFrame:
        X = self._inputs(X)
        p = np.asarray(self.estimator.predict_proba(X), dtype=np.float64)
        values = p[:, 1:] if p.shape[1] == 2 else p
        return self._with_checks(X, values)

    def predict(self, X, params=None) -> pd.DataFrame:
        if self.proba:
            return self.predict_proba(X, params)
        X = self._inputs(X)
        return self._with_checks(X, np.asarray(self.estimator.predict(X), dtype=np.float64))

    def _inputs(self, X) -> pd.DataFrame:
        X = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X, columns=list(self.columns))
        missing = [c for c in self.columns if c not in X.columns]
        if missing:
            raise ValueError(f"the model needs the column(s) {missing}, which the input lacks "
                             f"(it expects: {', '.join(self.columns)}).")
        X = X[list(self.columns)].copy()
        for column in self.numeric:
            cells = X[column]
            parsed = pd.to_numeric(cells, errors="coerce").astype("float64")
            unreadable = int((parsed.isna() & cells.notna()).sum())
            if unreadable:
                raise ValueError(f"column {column!r} must hold numbers; {unreadable} row(s) "
                                 f"hold something else (blank or NaN for a missing value).")
            X[column] = parsed
        for column in self.columns:
            if column not in self.numeric:
                X[column] = X[column].astype(object).where(X[column].notna(), np.nan)
        return X

    def _with_checks(self, X: pd.DataFrame, values: np.ndarray) -> pd.DataFrame:
        names = [c for c in self.outputs() if c.startswith(("probability", "prediction"))]
        out = pd.DataFrame(values.reshape(len(X), -1), columns=names, index=X.index)
        out["n_missing"] = X.isna().sum(axis=1).astype("int64")
        flags, flagged = [], []
        for _, step in fitted_steps(self.estimator):
            if isinstance(step, DomainRange):
                flags.append(step.outside(X))
                flagged += [str(c) for c in step.feature_names_in_]
        outside = np.hstack(flags) if flags else np.zeros((len(X), 0), dtype=bool)
        names = np.asarray(flagged, dtype=object)
        out["n_out_of_range"] = outside.sum(axis=1).astype("int64")
        out["out_of_range"] = [", ".join(names[row]) for row in outside]
        return out
