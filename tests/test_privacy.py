"""Nothing that identifies a patient leaves the table.

A cohort gets planted values: a numeric sentinel (one patient's extreme lab value), a rare
category level (a ward held by three patients), a sentence naming a patient, and record
ids. It then runs through every preprocessing preset (and the percentile min-max scaler),
two failing configurations whose errors quote cells on the terminal, and a small sweep on
the command line. Afterwards the whole store (the SQLite file), every artifact byte by byte
(model files included) and the logs are searched for the planted values.
"""

from __future__ import annotations

import logging
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import tracking
from pipeline.config import validate
from pipeline.defaults import option_names
from pipeline.experiment import run_experiment
from pipeline.preprocessing import build_preprocessor, model_may_be_logged, rows_held
from tests.conftest import PROJECT_ROOT

SENTINEL = 987654.321  # one patient's lab value, far above the rest
RARE = "Ward Zeta-7"  # a ward held by three patients
SENTENCE = "Mr Planted-Smith of 12 Oak Street has hepatitis C"
ID_PREFIX = "MRN-5550"
SECRETS = {
    "numeric sentinel (text)": b"987654.321",
    "numeric sentinel (float64)": struct.pack("<d", SENTINEL),
    "numeric sentinel (big-endian float64)": struct.pack(">d", SENTINEL),
    "rare level": b"Zeta-7",
    "sentence": b"Planted-Smith",
    "address": b"Oak Street",
    "record ids": ID_PREFIX.encode(),
}
FAST = ("optimizer.max_epochs=5", "n_bootstrap=20", "split=holdout", "model=logistic")


def cohort(directory: Path, n: int = 200) -> Path:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({
        "mrn": [f"{ID_PREFIX}{i:03d}" for i in range(n)],
        "age": rng.normal(60, 10, n).round(1),
        "crp": rng.gamma(2, 5, n).round(2),
        "ward": rng.choice(["A", "B", "C"], n),
        "smoker": rng.choice(["yes", "no"], n),
        "outcome": rng.integers(0, 2, n),
    })
    frame.loc[17, "crp"] = SENTINEL
    frame.loc[[3, 50, 120], "ward"] = RARE
    frame.loc[88, "smoker"] = SENTENCE
    frame.loc[[5, 60], "age"] = np.nan
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "cohort.csv"
    frame.to_csv(path, index=False)
    return path


def table_overrides(path: Path) -> tuple[str, ...]:
    return ("dataset=csv", f"dataset.path={path}", "dataset.target=outcome", "dataset.id_column=mrn")


def leaks(directory: Path, extra_text: str = "") -> dict[str, list[str]]:
    """Which secret was found in which file under ``directory`` (and in ``extra_text``)."""
    found: dict[str, list[str]] = {}
    blobs = [(str(p.relative_to(directory)), p.read_bytes())
             for p in sorted(directory.rglob("*")) if p.is_file()]
    blobs.append(("<logs>", extra_text.encode("utf-8", "replace")))
    for name, secret in SECRETS.items():
        hits = [where for where, blob in blobs if secret in blob]
        if hits:
            found[name] = hits
    return found


def test_no_planted_value_leaves_the_table_in_any_preprocess_option(compose, tmp_path, caplog,
                                                                   isolated_mlflow):
    path = cohort(tmp_path / "data")
    store = tmp_path / "store"
    store.mkdir()
    uri = f"sqlite:///{store}/mlflow.db"
    tracker = tracking.Tracker(uri, "privacy")
    variants = [(f"preprocess={name}",) for name in option_names("preprocess")]
    variants += [("preprocess.scaler=minmax",),
                 ("preprocess.encoder=ordinal", "preprocess.add_indicator=true")]
    with caplog.at_level(logging.DEBUG):
        for overrides in variants:
            config = validate(compose(*FAST, *table_overrides(path), f"tracking.uri={uri}", *overrides))
            result = run_experiment(config, tracker)
            assert np.isfinite(result.objective)
        # Errors whose terminal text quotes cells (labels, ids): their stored reason does not.
        for target in ("ward", "mrn"):
            config = validate(compose(*FAST, "dataset=csv", f"dataset.path={path}",
                                      f"dataset.target={target}", "dataset.task=binary",
                                      f"tracking.uri={uri}"))
            with pytest.raises(ValueError) as info:
                run_experiment(config, tracker)
            assert target in str(info.value)
    runs = tracker.client.search_runs([tracker.experiment_id])
    failed = [r for r in runs if r.info.status == "FAILED"]
    assert len(failed) == 2 and all("classes" in r.data.tags["failure_reason"] for r in failed)
    logged_models = tracker.client.search_logged_models([tracker.experiment_id])
    assert len(logged_models) == len(variants) - 1  # knn's model holds training rows: not logged
    assert "the fitted model is not logged" in caplog.text
    assert leaks(store, caplog.text) == {}


def test_the_search_has_teeth_a_knn_model_logged_on_purpose_holds_rows(compose, tmp_path,
                                                                      isolated_mlflow):
    """Logged anyway (``tracking.log_models_with_training_rows=true``), the KNN imputer's
    model file holds the planted value: the search above would see it."""
    path = cohort(tmp_path / "data")
    store = tmp_path / "store"
    store.mkdir()
    uri = f"sqlite:///{store}/mlflow.db"
    config = validate(compose(*FAST, *table_overrides(path), f"tracking.uri={uri}", "preprocess=knn",
                              "tracking.log_models_with_training_rows=true"))
    run_experiment(config, tracking.Tracker(uri, "privacy"))
    found = leaks(store)
    assert "numeric sentinel (float64)" in found
    assert all("/models/" in where for where in found["numeric sentinel (float64)"])


def test_model_holding_training_rows_is_refused_unless_asked():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=30), "c": ["x", "y"] * 15})
    knn = build_preprocessor({"numeric_imputer": "knn"}, ["a"], ["c"]).fit(X)
    median = build_preprocessor({}, ["a"], ["c"]).fit(X)
    assert rows_held(knn) == ["num.impute (KNNImputer)"] and rows_held(median) == []
    assert not model_may_be_logged(knn) and model_may_be_logged(knn, with_training_rows=True)
    assert model_may_be_logged(median)


@pytest.mark.slow
def test_a_sweep_on_the_command_line_stores_no_planted_value(tmp_path):
    path = cohort(tmp_path / "data")
    store = tmp_path / "store"
    store.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "BIOTAB_SWEEP"))}
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.train", "-m", *table_overrides(path),
         "optimizer.max_epochs=5", "n_bootstrap=20", "split=holdout",
         "model=logistic,mlp", "preprocess=standard,iterative",
         f"tracking.uri=sqlite:///{store}/mlflow.db", f"hydra.sweep.dir={store}/multirun"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert list((store / "multirun").rglob("*.log")), "the sweep's job logs are searched too"
    assert leaks(store, done.stdout + done.stderr) == {}
