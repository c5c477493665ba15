"""The HTML report: the values of each section, rendered through ``templates/report.html``
with autoescaping (figures are our own SVG markup, inlined so the page is one file)."""

from __future__ import annotations

import time

import jinja2
from markupsafe import Markup

from .. import plots, tracking
from .clinical import clinical_html
from .comparison import compare_with_best, incomparable, paired_sentence
from .leaderboard import (
    board_metrics,
    board_varied,
    ci_method,
    lower_is_better,
    mean_sd,
    metric_label,
    num,
    pooled_ci,
)
from .tripod import tripod_summary

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("pipeline.report", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    trim_blocks=True, lstrip_blocks=True,
)


def render_html(c) -> str:
    """The report page of report context ``c`` (see :class:`pipeline.report.build.ReportContext`)."""
    return _TEMPLATES.get_template("report.html").render(
        title=c.title, uri=c.uri,
        experiments=", ".join(sorted({str(r["experiment"]) for r in c.runs})),
        n_runs=len(c.runs), n_finished=len(c.ranked),
        generated=time.strftime("%Y-%m-%d %H:%M:%S"),
        metric=metric_label(c.metric), direction="lower" if lower_is_better(c.metric) else "higher",
        ci_method=ci_method(c.board),
        board=_board(c), learning_curves=_learning_curves(c), n_shown=min(c.top, len(c.ranked)),
        curves=_curves(c), comparisons=_comparisons(c), nested=_nested(c),
        warnings=_warnings(c), tripod=tripod_summary(c), clinical=clinical_html(c),
    )


def _board(c) -> dict:
    board = c.board
    names, varied = board_metrics(board), board_varied(board)
    rows = [{
        "rank": str(row["rank"]) if row["status"] == "FINISHED" else "–",
        "label": row["label"], "note": row["note"], "status": row["status"],
        "failure_reason": row["failure_reason"], "run_id": row["run_id"],
        "metrics": [(pooled_ci(row, m), mean_sd(row, m)) for m in names],
        "params": [str(row[k]) for k in varied],
        "best": row["status"] == "FINISHED" and row["rank"] == 1,
    } for _, row in board.iterrows()]
    headings = ["rank", "configuration", "status", *map(metric_label, names), *varied, "run id"]
    return {"headings": headings, "rows": rows}


def _learning_curves(c) -> Markup | None:
    labels = dict(zip(c.board["run_id"], c.board["label"]))
    curves = {labels[r["run_id"]]: {key: tracking.metric_history(c.uri, r["run_id"], key)
                                    for key in ("mean_val_loss", "mean_val_auroc")}
              for r in c.ranked}
    if not any(v for curve in curves.values() for v in curve.values()):
        return None
    best = [labels[r["run_id"]] for r in c.ranked[:c.top]]
    return Markup(plots.validation_curves(curves, best).to_svg())


def _curves(c) -> dict:
    if c.task != "binary":
        return {"skipped": "ROC and calibration curves are drawn for binary outcomes "
                           f"(this task: {c.task})."}
    if not c.ranked or c.oof.get(c.ranked[0]["run_id"]) is None:
        return {"skipped": "Skipped: the best configuration has no out-of-fold predictions."}
    best = c.ranked[0]
    labels = dict(zip(c.board["run_id"], c.board["label"]))
    shown, notes = {labels[best["run_id"]]: c.oof[best["run_id"]].prediction}, []
    for run in c.ranked[1:c.top]:
        reason = incomparable(best, run, c.oof[best["run_id"]], c.oof.get(run["run_id"]))
        if reason:
            notes.append(f"{labels[run['run_id']]} left out: {reason}.")
        else:
            shown[labels[run["run_id"]]] = c.oof[run["run_id"]].prediction
    y = c.oof[best["run_id"]].y
    groups = c.oof[best["run_id"]].clusters  # the smoothed curves' bands resample whole patients
    figures = [Markup(plots.roc_curve(y, shown).to_svg()),
               Markup(plots.calibration_curve(y, shown, groups=groups).to_svg())]
    return {"figures": figures, "notes": notes}


def _comparisons(c) -> dict:
    """Every other finished configuration against the best, on the same predictions."""
    if len(c.ranked) < 2:
        return {"skipped": "Skipped: fewer than two configurations finished."}
    labels = dict(zip(c.board["run_id"], c.board["label"]))
    best = labels[c.ranked[0]["run_id"]]
    rows = []
    for result in compare_with_best(c.ranked, c.oof, c.task):
        label = labels[result["run"]["run_id"]]
        if "skipped" in result:
            rows.append({"label": label, "skipped": result["skipped"]})
        else:
            rows.append({"label": label, "difference": f"{result['difference']:+.4f}",
                         "ci": f"{result['ci_low']:+.4f} to {result['ci_high']:+.4f}",
                         "p": f"{result['p_value']:.3f}",
                         "sentence": paired_sentence(result, best, label)})
    return {"best": best, "rows": rows}


def _nested(c) -> dict:
    if isinstance(c.nested, str):
        return {"skipped": c.nested}
    n = c.nested
    labels = dict(zip(c.board["run_id"], c.board["label"]))
    chosen = n.selected.assign(label=n.selected["run_id"].map(labels))
    return {"objective": n.objective, "value": num(n.value), "ci": f"{num(n.ci_low)} to {num(n.ci_high)}",
            "apparent": num(n.apparent), "optimism": f"{n.optimism:+.4f}",
            "n_configurations": len(c.ranked),
            "selected": [{"repeat": int(r["repeat"]), "fold": int(r["fold"]), "label": r["label"],
                          "val_objective": num(r["val_objective"])} for _, r in chosen.iterrows()]}


def _warnings(c) -> list[tuple[str, str]]:
    """(configuration, warning) for every warning a finished run carries."""
    labels = dict(zip(c.board["run_id"], c.board["label"]))
    return [(labels[r["run_id"]], value) for r in c.ranked
            for key, value in sorted(r["tags"].items()) if key.startswith("warning.")]
