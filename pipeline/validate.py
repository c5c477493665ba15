"""``python -m pipeline.validate``: external validation of a logged configuration's model on
another labelled table, recorded as a validation run linked to the model's run.

    python -m pipeline.validate model_run=<run id> dataset=heart_cleveland
    python -m pipeline.validate model_run=<run id> dataset=csv dataset.path=other.csv \\
        dataset.target=outcome dataset.positive_label=yes update=intercept
    make validate RUN=<run id> DATASET=pima ARGS="update=logistic"

Arguments, as ``key=value``:

* ``model_run`` (required): the configuration run whose logged model is validated.
* ``dataset=<option of conf/dataset>`` and any ``dataset.*`` override (Hydra syntax, as for
  ``pipeline.train``): the new table.
* ``update=none|intercept|logistic`` (default none): model updating, fitted on a stratified
  (patient-grouped) share ``update_fraction`` (default 0.5) of the new table and evaluated,
  with the original model beside it, on the rest.
* ``schema=strict|warn`` (default strict): whether a suspected unit or coding difference
  stops the validation; missing columns and columns of another kind always do.
* ``n_bootstrap``, ``seed`` (default: the model run's), ``uri`` (default:
  ``$MLFLOW_TRACKING_URI``, else the project's store), ``experiment`` (default: the model
  run's), ``debug=true`` (tracebacks).

The new table is checked against the training schema the model run logged
(``training_schema.json``: columns, kinds, percentiles, hashed levels): missing columns,
columns of another kind, values in other units, levels not seen in training, values beyond
the training range. The validation run (tag ``validates`` = the model run's id) holds the
full metric set with bootstrap CIs (whole patients when the table has groups; sensitivity
and the other threshold metrics also at the model run's median fold threshold as
``*_tuned``), the schema findings, the predictions (row, part, probability, label: no
feature values), calibration, ROC and decision-curve figures, and subgroup performance when
the model's configuration named subgroups that the new table has.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from . import metrics, plots
from .config import flatten
from .data import load_dataset
from .errors import ConfigError, DatasetError, did_you_mean
from .evaluation import UPDATE_METHODS
from .evaluation.recalibration import fit_update
from .evaluation.schema import check_table
from .evaluation.subgroups import BAND_SUFFIX, subgroup_levels, subgroup_table
from .splits import validation_split

log = logging.getLogger("biotab")

OPTIONS = {"model_run": None, "update": "none", "update_fraction": "0.5", "schema": "strict",
           "n_bootstrap": None, "seed": None, "uri": None, "experiment": None, "debug": "false"}
HEADLINE = ("auroc", "auprc", "brier", "calibration_intercept", "calibration_slope", "ici",
            "sensitivity_tuned", "specificity_tuned")


class SchemaError(DatasetError):
    """The new table does not fit the model's training schema."""


@dataclasses.dataclass
class Validation:
    model_run: dict
    dataset: object  # pipeline.data.Dataset
    findings: list
    rows: np.ndarray  # the evaluated rows (all, or the part not used for updating)
    prediction: np.ndarray  # the validated model on ``rows`` (updated when update != none)
    original: np.ndarray | None  # the model as logged on ``rows``, when it was updated
    threshold: float
    scores: dict  # metric -> {"value", "ci_low", "ci_high", ...} of ``prediction``
    original_scores: dict | None
    subgroups: tuple | None  # (table, gaps) or None
    run_id: str | None = None


def parse_args(argv: Sequence[str]) -> tuple[dict, list[str]]:
    """``key=value`` arguments as options and the dataset overrides (``dataset=...``,
    ``dataset.*=...``, also with Hydra's ``+``/``~`` prefixes)."""
    options, overrides = dict(OPTIONS), []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep:
            raise ConfigError(f"argument {arg!r} is not key=value; e.g. model_run=<run id> dataset=pima")
        if key.lstrip("+~").split(".")[0] == "dataset":
            overrides.append(arg)
        elif key in OPTIONS:
            options[key] = value
        else:
            raise ConfigError(f"unknown argument {key!r}.{did_you_mean(key, list(OPTIONS) + ['dataset'])} "
                              f"Arguments: {', '.join(OPTIONS)}, dataset=<name> and dataset.* overrides.")
    if not options["model_run"]:
        raise ConfigError("model_run=<run id> is required: the configuration run whose model to validate.")
    if not any(o.startswith("dataset=") and o != "dataset=" for o in overrides):
        raise ConfigError("dataset=<name> is required (an option of conf/dataset, e.g. dataset=csv "
                          "dataset.path=new.csv dataset.target=outcome).")
    if options["update"] not in UPDATE_METHODS:
        raise ConfigError(f"update={options['update']!r} is not valid; choose one of {list(UPDATE_METHODS)}.")
    if options["schema"] not in ("strict", "warn"):
        raise ConfigError(f"schema={options['schema']!r} is not valid; choose strict or warn.")
    fraction = _number(options, "update_fraction", float, "0.3")
    if not 0 < fraction < 1:
        raise ConfigError(f"update_fraction must lie strictly between 0 and 1, got {fraction}.")
    for key, example in (("n_bootstrap", "1000"), ("seed", "0")):
        if options[key]:
            _number(options, key, int, example)
    return options, overrides


def _number(options: dict, key: str, kind: type, example: str):
    try:
        return kind(options[key])
    except ValueError:
        raise ConfigError(f"{key}={options[key]!r} is not a {'whole ' if kind is int else ''}number; "
                          f"e.g. {key}={example}.") from None


def validate_model(options: dict, dataset_cfg: dict, tracking) -> Validation:
    """Check, predict, update, score and record; ``tracking`` is :mod:`pipeline.tracking`."""
    from .tracking.lookup import get_run, load_model

    uri = tracking.resolve_tracking_uri(options["uri"])
    model_run = get_run(uri, options["model_run"])
    if model_run["tags"].get("biotab.role") != "configuration":
        role = model_run["tags"].get("biotab.role", "non-biotab")
        raise ConfigError(f"run {options['model_run']} is a {role} run; pass the id of a "
                          "configuration run (the one with the logged model).")
    training_config, schema = _model_run_files(tracking, uri, model_run["run_id"])
    dataset = load_dataset(dataset_cfg)
    task = model_run["tags"].get("task")
    if dataset.task != "binary" or task != "binary":
        raise ConfigError(f"external validation scores binary outcomes; the model's task is {task} "
                          f"and this table's is {dataset.task}.")
    model = load_model(uri, model_run["run_id"])
    schema = schema or _columns_only(model)
    findings = check_table(schema, dataset.X, dataset.numeric)
    _stop_on_errors(findings, options["schema"])
    n_boot = int(options["n_bootstrap"] or model_run["params"].get("n_bootstrap", 1000))
    seed = int(options["seed"] or model_run["params"].get("seed", 0))
    threshold = float(model_run["metrics"].get("threshold_median", 0.5))
    X = dataset.X[[c["name"] for c in schema["columns"]]]
    p = positive_probability(model, X)
    rows, original = np.arange(len(p)), None
    if options["update"] != "none":
        # Stratified, whole patients: update_fraction of the table fits the update, the rest scores it.
        rows, update_rows = validation_split(dataset.y, dataset.groups,
                                             float(options["update_fraction"]), seed)
        calibrator = fit_update(options["update"], p[update_rows], dataset.y[update_rows])
        original, p = p[rows], calibrator.transform(p[rows])
    else:
        p = p[rows]
    groups = None if dataset.groups is None else dataset.groups[rows]
    y = dataset.y[rows]

    def score(prediction):
        return metrics.evaluate("binary", y, prediction, n_boot=n_boot, seed=seed, groups=groups,
                                extra_thresholds={"tuned": threshold})

    result = Validation(model_run, dataset, findings, rows, p, original, threshold, score(p),
                        None if original is None else score(original), None)
    result.subgroups = _subgroups(training_config, dataset, rows, p, threshold, n_boot, seed, groups)
    result.run_id = _record(tracking, uri, options, dataset_cfg, result, n_boot, seed)
    return result


def _model_run_files(tracking, uri, run_id) -> tuple[dict, dict | None]:
    """The model run's resolved configuration (raw) and training schema (None for runs
    logged before the schema was kept)."""
    import json

    with tempfile.TemporaryDirectory() as tmp:
        config = yaml.safe_load(tracking.download_artifact(uri, run_id, "config.yaml", tmp).read_text())
        try:
            schema = json.loads(tracking.download_artifact(uri, run_id, "training_schema.json",
                                                           Path(tmp) / "schema").read_text())
        except FileNotFoundError:
            log.warning("run %s has no training_schema.json: only missing columns are checked", run_id)
            schema = None
    return config, schema


def positive_probability(model, X: pd.DataFrame) -> np.ndarray:
    """P(y = 1) of a logged model: an array's second column, or the ``probability`` column of
    a deployed model's table (which adds its domain checks beside it)."""
    out = model.predict_proba(X)
    if isinstance(out, pd.DataFrame):
        return out["probability"].to_numpy(dtype=float)
    return np.asarray(out, dtype=float)[:, 1]


def _columns_only(model) -> dict:
    """A schema of column names alone, from the fitted model (older runs)."""
    names = getattr(model, "columns", None) or getattr(model, "feature_names_in_", None)
    if names is None:
        raise ConfigError("the logged model does not record its input columns; cannot check the new table.")
    return {"columns": [{"name": str(n), "kind": "unknown"} for n in names]}


def _stop_on_errors(findings: list, mode: str) -> None:
    """Raise on errors (missing columns and columns of another kind always; units only with
    schema=strict); the other findings go into the run's description and the summary."""
    always = ("missing column", "kind")
    stopping = [f for f in findings if f["severity"] == "error"
                and (mode == "strict" or f["check"] in always)]
    if stopping:
        raise SchemaError("the new table does not fit the model's training table:\n  "
                          + "\n  ".join(f["message"] for f in stopping))


def _subgroups(training_config, dataset, rows, p, threshold, n_boot, seed, groups):
    """Subgroups the model's configuration named, where the new table has their columns."""
    evaluation = (training_config or {}).get("evaluation") or {}
    bands = evaluation.get("bands") or {}
    names = [n for n in evaluation.get("subgroups", [])
             if n in dataset.X.columns or (n.endswith(BAND_SUFFIX) and n.removesuffix(BAND_SUFFIX) in bands
                                           and n.removesuffix(BAND_SUFFIX) in dataset.X.columns)]
    if not names:
        return None
    X = dataset.X.iloc[rows]
    levels = {name: subgroup_levels(name, X, bands).to_numpy() for name in names}
    return subgroup_table(levels, dataset.y[rows], [p], [np.full(p.size, threshold)], n_boot, seed,
                          groups, int(evaluation.get("min_events", 10)))


def _record(tracking, uri, options, dataset_cfg, v: Validation, n_boot, seed) -> str:
    model_run, dataset = v.model_run, v.dataset
    experiment = options["experiment"] or model_run["experiment"]
    tracker = tracking.Tracker(uri, experiment, tags=tracking.runtime_tags())
    update = options["update"]
    name = f"validate {model_run['run_name']} on {dataset.name}"
    name += f" update={update}" if update != "none" else ""
    params = {"model_run": model_run["run_id"], "update": update, "schema": options["schema"],
              "update_fraction": options["update_fraction"] if update != "none" else "",
              "n_bootstrap": n_boot, "seed": seed, "threshold": v.threshold,
              **flatten(dataset_cfg, "dataset.")}
    tags = {"biotab.role": "validation", "validates": model_run["run_id"], "dataset": dataset.name,
            "dataset_file": Path(str(dataset.source)).name,  # the file's name, never its rows
            "dataset_fingerprint": dataset.fingerprint, "task": dataset.task,
            "n_rows": str(len(dataset.y)), "n_evaluated": str(v.rows.size), "update": update,
            "model_configuration": model_run["run_name"], "mlflow.note.content": describe(v, update)}
    with tracker.run(name, params=params, tags=tags) as run:
        counts = {"num_rows": len(dataset.y), "num_features": dataset.X.shape[1],
                  "num_events": int(dataset.y.sum())}
        run.log_dataset(dataset.name, dataset.fingerprint, dataset.source,
                        {c: "double" if c in dataset.numeric else "string" for c in dataset.X.columns},
                        counts, context="evaluation")  # the UI's Dataset column: scored, not trained on
        flat = _flat(v.scores)
        if v.original_scores is not None:
            flat.update({f"original_{k}": value for k, value in _flat(v.original_scores).items()})
        run.log_metrics(flat)
        with run.artifacts_together():
            _log_artifacts(run, v, update)
        return run.run_id


def _flat(scores: dict) -> dict:
    out = {}
    for name, stats in scores.items():
        out.update({name: stats["value"], f"{name}_ci_low": stats["ci_low"],
                    f"{name}_ci_high": stats["ci_high"]})
    return out


def _log_artifacts(run, v: Validation, update: str) -> None:
    y = v.dataset.y[v.rows]
    run.log_table(pd.DataFrame(v.findings, columns=["column", "check", "severity", "message"]),
                  "schema_check.csv")
    frame = pd.DataFrame({"row": v.rows, "probability": v.prediction, "label": y})
    if v.original is not None:
        frame["probability_original"] = v.original
    run.log_table(frame, "validation_predictions.csv")
    run.log_table(pd.DataFrame(metrics.decision_curve(y, v.prediction)), "decision_curve.csv")
    shown = v.prediction if v.original is None else {f"updated ({update})": v.prediction,
                                                      "as logged": v.original}
    groups = None if v.dataset.groups is None else v.dataset.groups[v.rows]
    run.log_chart(plots.calibration_curve(y, shown, groups=groups), "calibration")
    run.log_chart(plots.roc_curve(y, shown), "roc")
    run.log_chart(plots.decision_curve(y, shown), "decision_curve")
    if v.subgroups is not None:
        from .evaluation.figures import subgroups_chart

        run.log_table(v.subgroups[0], "subgroups.csv")
        run.log_table(v.subgroups[1], "subgroup_gaps.csv")
        run.log_chart(subgroups_chart(v.subgroups[0], {k: s["value"] for k, s in v.scores.items()}),
                      "subgroups")


def describe(v: Validation, update: str) -> str:
    """The validation run's description (Markdown) and the printed summary's body."""
    parts = [f"External validation of `{v.model_run['run_name']}` (run {v.model_run['run_id']}) on "
             f"{v.dataset.name}: {v.rows.size} patients evaluated"
             + (f" (the other part of the table fitted update={update})" if update != "none" else "") + "."]
    parts.append(" · ".join(f"{m} {_interval(v.scores[m])}" for m in HEADLINE if m in v.scores))
    if v.original_scores is not None:
        parts.append("As logged, on the same patients: " + " · ".join(
            f"{m} {_interval(v.original_scores[m])}" for m in HEADLINE if m in v.original_scores))
    parts += [f"Schema {f['severity']}: {f['message']}" for f in v.findings]
    return "\n\n".join(parts)


def _interval(stats) -> str:
    return f"{stats['value']:.3f} [{stats['ci_low']:.3f}, {stats['ci_high']:.3f}]"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = any(a in ("debug=true", "debug=True") for a in argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        options, overrides = parse_args(argv)
        from . import tracking  # imports mlflow (~1 s)
        from .launch.compose import compose_config

        dataset_cfg = compose_config(overrides)["dataset"]
        result = validate_model(options, dataset_cfg, tracking)
    except Exception as err:  # one readable line; the traceback only with debug=true
        if debug:
            raise
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(describe(result, options["update"]).replace("\n\n", "\n"))
    print(f"\nvalidation run {result.run_id} (tag validates={result.model_run['run_id']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
