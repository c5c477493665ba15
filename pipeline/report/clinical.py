"""The report's clinical sections, from what the runs logged: recalibration (each
configuration's calibration before and after), permutation importance and subgroup
performance of the best configuration (its ``feature_importance.csv``, ``subgroups.csv`` and
``subgroup_gaps.csv``), and the external validation runs of any configuration of the report
(tag ``validates``)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pandas as pd
from markupsafe import Markup

from .. import tracking
from ..evaluation.figures import importance_chart, subgroups_chart
from ..evaluation.subgroups import largest_gap
from .leaderboard import num

log = logging.getLogger(__name__)

CALIBRATION = ("calibration_intercept", "calibration_slope", "ici", "brier")
SUBGROUP_METRICS = ("auroc", "calibration_intercept", "sensitivity_tuned", "specificity_tuned")
VALIDATION = ("auroc", "calibration_intercept", "calibration_slope", "ici", "brier",
              "sensitivity_tuned", "specificity_tuned")


@dataclasses.dataclass
class Clinical:
    importance: pd.DataFrame | None = None  # the best configuration's, one row per variable
    subgroups: pd.DataFrame | None = None
    gaps: pd.DataFrame | None = None
    validations: list = dataclasses.field(default_factory=list)  # validation runs (dicts)


def read_clinical(uri: str, ranked: list, runs: list, tmp) -> Clinical:
    """The best run's evaluation tables and the validation runs of every run in ``runs``."""
    clinical = Clinical()
    if ranked:
        best = ranked[0]["run_id"]
        clinical.importance = _table(uri, best, "feature_importance.csv", tmp)
        clinical.subgroups = _table(uri, best, "subgroups.csv", tmp)
        clinical.gaps = _table(uri, best, "subgroup_gaps.csv", tmp)
    ids = {r["run_id"] for r in runs}
    clinical.validations = [r for r in tracking.search_runs(uri, tags={"biotab.role": "validation"})
                            if r["tags"].get("validates") in ids and r["status"] == "FINISHED"]
    return clinical


def _table(uri, run_id, name, tmp) -> pd.DataFrame | None:
    try:
        return pd.read_csv(tracking.download_artifact(uri, run_id, name, Path(tmp) / f"{run_id}-{name}"),
                           keep_default_na=False, na_values=[""])
    except (FileNotFoundError, ValueError):
        return None  # not configured (subgroups), switched off (importance), or an older run


def calibrated(run: dict) -> str:
    return run["params"].get("calibration.name", "none")


def clinical_html(c) -> dict:
    """Values of the report page's clinical sections (see ``templates/report.html``)."""
    k = c.clinical or Clinical()
    labels = dict(zip(c.board["run_id"], c.board["label"]))
    out = {"recalibration": _recalibration_rows(c.ranked, labels), "validations": [
        {"label": labels.get(v["tags"]["validates"], v["tags"]["validates"][:8]),
         "dataset": _table_name(v["tags"]), "n": v["tags"].get("n_evaluated", "?"),
         "updating": v["tags"].get("update", "none"), "run_id": v["run_id"],
         "metrics": [_ci(v["metrics"], m) for m in VALIDATION]} for v in k.validations],
        "validation_headings": list(VALIDATION)}
    if k.importance is not None and len(k.importance):
        out["importance"] = Markup(importance_chart(k.importance).to_svg())
    if k.subgroups is not None and len(k.subgroups):
        overall = {m: c.ranked[0]["metrics"].get(m)
                   for m in ("auroc", "sensitivity_tuned", "specificity_tuned")}
        out["subgroups"] = Markup(subgroups_chart(k.subgroups, overall).to_svg())
        out["subgroup_rows"] = _subgroup_rows(k.subgroups)
        out["gap"] = gap_sentence(k.gaps)
    return out


def _recalibration_rows(ranked: list, labels: dict) -> list[dict]:
    """Each finished configuration's calibration, and before recalibration where it had one;
    empty when no configuration recalibrated."""
    if all(calibrated(r) == "none" for r in ranked):
        return []
    return [{"label": labels.get(r["run_id"], r["run_name"]), "method": calibrated(r),
             "metrics": [(_ci(r["metrics"], m), num(r["metrics"].get(f"{m}_uncalibrated")))
                         for m in CALIBRATION]} for r in ranked]


def _subgroup_rows(table: pd.DataFrame) -> list[dict]:
    rows = []
    for r in table.to_dict("records"):
        scored = r["status"] == "scored"
        rows.append({"variable": r["variable"], "level": r["level"], "n": int(r["n"]),
                     "events": int(r["events"]), "status": r["status"],
                     "metrics": [_ci(r, m) if scored else "–" for m in SUBGROUP_METRICS]})
    return rows


def _ci(values: dict, name: str) -> str:
    value = values.get(name)
    if value is None or pd.isna(value):
        return "–"
    return f"{num(value)} [{num(values.get(f'{name}_ci_low'))}, {num(values.get(f'{name}_ci_high'))}]"


def gap_sentence(gaps: pd.DataFrame | None) -> str | None:
    gap = None if gaps is None else largest_gap(gaps)
    if gap is None:
        return None
    return (f"Largest AUROC gap between subgroups: {gap['variable']}, {gap['highest']} minus "
            f"{gap['lowest']} = {num(gap['gap'])} (95% CI {num(gap['ci_low'])} to {num(gap['ci_high'])}"
            "; joint percentile bootstrap).")


def tripod_sections(c) -> list[tuple[str, list[str]]]:
    """TRIPOD+AI paragraphs for what the runs hold: recalibration, importance, subgroups,
    external validation (each only when present)."""
    if not c.ranked:
        return []
    k, best = c.clinical or Clinical(), c.ranked[0]
    sections = []
    method = calibrated(best)
    if method != "none":
        m = best["metrics"]
        sections.append(("Recalibration", [
            f"The best configuration's probabilities are recalibrated ({method}), fitted within each "
            "outer fold on its inner validation part only and applied to its test part; the "
            "deployed model carries its own calibrator, fitted on the final model's validation part.",
            f"Calibration intercept {num(m.get('calibration_intercept'))} (before recalibration "
            f"{num(m.get('calibration_intercept_uncalibrated'))}), slope {num(m.get('calibration_slope'))} "
            f"({num(m.get('calibration_slope_uncalibrated'))}), ICI {num(m.get('ici'))} "
            f"({num(m.get('ici_uncalibrated'))})."]))
    if k.importance is not None and len(k.importance):
        top = k.importance.head(5)
        listed = "; ".join(f"{r.variable} {num(r.importance)} ({num(r.ci_low)} to {num(r.ci_high)})"
                           for r in top.itertuples())
        sections.append(("Feature importance", [
            f"Permutation importance on each outer fold's test part (loss of {top['metric'].iloc[0]} "
            "when a variable is shuffled; the encodings of one variable move together), averaged "
            f"over folds with bootstrap 95% CIs. Most important: {listed}."]))
    if k.subgroups is not None and len(k.subgroups):
        small = k.subgroups[k.subgroups["status"] != "scored"]
        text = [f"Performance was estimated within {k.subgroups['variable'].nunique()} subgroup "
                f"variable(s) ({len(k.subgroups) - len(small)} levels scored, {len(small)} too small)."]
        if k.gaps is not None:
            sentence = gap_sentence(k.gaps)
            text += [sentence] if sentence else []
        sections.append(("Performance in subgroups", text))
    if k.validations:
        sections.append(("External validation", [_validation_sentence(v) for v in k.validations]))
    return sections


def _table_name(tags: dict) -> str:
    """The validation table: its dataset config, and its file when that says more."""
    name, file = tags.get("dataset", "?"), tags.get("dataset_file")
    return f"{name} ({file})" if file and not file.startswith(name) else name


def _validation_sentence(v: dict) -> str:
    m, tags = v["metrics"], v["tags"]
    update = tags.get("update", "none")
    how = "" if update == "none" else f", after update={update} fitted on another part of that table"
    text = (f"{tags.get('model_configuration', '?')} on {_table_name(tags)} "
            f"({tags.get('n_evaluated', '?')} patients{how}): AUROC {_ci(m, 'auroc')}, calibration "
            f"intercept {_ci(m, 'calibration_intercept')}, slope {_ci(m, 'calibration_slope')}")
    if update != "none":
        text += (f"; the model as logged, on the same patients: intercept "
                 f"{_ci(m, 'original_calibration_intercept')}, slope {_ci(m, 'original_calibration_slope')}")
    return text + f" (run {v['run_id']})."
