"""The deployable model: a fitted scikit-learn pipeline logged as an MLflow model with a
signature built from column names and dtypes (never an input example: no patient row is
stored), in skops format, with the ``pipeline`` package shipped beside it."""

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

from .. import PROJECT_ROOT
from . import private

PACKAGE_DIR = PROJECT_ROOT / "pipeline"


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
    name = model_name(name)
    logged = run.client.create_logged_model(
        run.experiment_id, name=name, source_run_id=run.run_id, params=run.params)
    with private.global_tracking_uri(run.uri):  # log_model only talks to the global URI
        info = mlflow.sklearn.log_model(
            model, name=name, model_id=logged.model_id, run_id=run.run_id,
            signature=model_signature(model, feature_dtypes, proba),
            pyfunc_predict_fn=method,
            pip_requirements=_pip_requirements(),
            code_paths=[str(PACKAGE_DIR)],
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
    """
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

    from .. import core, estimators

    modules = [estimators] + [importlib.import_module(f"{core.__name__}.{m.name}")
                              for m in pkgutil.iter_modules(core.__path__)]
    return ["numpy.dtype", *SKLEARN_TYPES_TO_TRUST] + sorted(
        f"{cls.__module__}.{cls.__qualname__}" for module in modules for cls in vars(module).values()
        if isinstance(cls, type) and cls.__module__ == module.__name__)
