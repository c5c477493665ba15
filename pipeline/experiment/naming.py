"""Run names, tags and notes: how a configuration is told apart in the MLflow UI and reports."""

from __future__ import annotations

import hashlib
import json

from ..config import flatten
from ..metrics import DEFAULT_INTERVAL

MIN_TEST_EVENTS = 10  # below this, a test fold's threshold metrics are unstable

LOSS_ABBREVIATIONS = {"cross_entropy": "ce", "squared_error": "se", "absolute_error": "ae"}
SHORT_KEYS = {"learning_rate": "lr", "hidden_layer_sizes": "hidden"}
HEADLINE = {"binary": ("auroc", "calibration_slope"), "multiclass": ("macro_auroc", "log_loss"),
            "regression": ("rmse", "r2")}


def run_name(config):
    """A readable run name that tells a sweep's configurations apart in the MLflow UI,
    e.g. ``mlp[64,32] relu ce adam lr=0.001 l2=0.0001 es``; the preprocessing appears when it
    is not the standard one, the recalibration when there is one, the dataset when runs of
    several share an experiment."""
    model, reg, opt = config.model, config.regularization, config.optimizer
    parts = [] if config.tracking.experiment is None else [config.dataset["name"]]
    parts += ["logistic" if model.name == "logistic"
              else f"mlp[{','.join(map(str, model.hidden_layer_sizes))}] {model.activation}"]
    if config.preprocess.get("name", "standard") != "standard":
        parts.append(config.preprocess["name"])
    parts += [LOSS_ABBREVIATIONS[config.loss.name], opt.name]
    if opt.rule != "lbfgs":  # its line search picks the steps
        parts.append(f"lr={opt.learning_rate:g}")
    parts += [f"{key}={value:g}" for key, value in
              (("l1", reg.l1), ("l2", reg.l2), ("dropout", reg.dropout)) if value]
    if reg.early_stopping:
        parts.append("es")
    if config.calibration.name != "none":
        parts.append(config.calibration.name)
    return " ".join(parts)


# Where a run goes and what it records, not what it is:
NOT_HASHED = ("tracking.", "sweep_id", "sweep_details", "debug", "resume")


def config_hash(config) -> str:
    """A hash of everything that decides a configuration's results (not where they are
    logged): a resumed sweep recognises what it already finished by it."""
    settings = {k: v for k, v in flatten(config).items() if not k.startswith(NOT_HASHED)}
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def swept_name(swept: dict[str, str]) -> str:
    """What a sweep varied, as this configuration's values: ``activation=sigmoid``,
    ``loss=squared_error lr=0.01`` (a key's last part, unless two keys share it)."""
    last = [key.rsplit(".", 1)[-1] for key in swept]
    return " ".join(f"{SHORT_KEYS.get(short, short) if last.count(short) == 1 else key}={value}"
                    for (key, value), short in zip(swept.items(), last))


def config_tags(config, notes, descriptor):
    tags = {"biotab.role": "configuration", "biotab.descriptor": descriptor,
            "config_hash": config_hash(config),
            "ci_method": f"{DEFAULT_INTERVAL} bootstrap, 95%",
            "model": config.model.name, "seed": str(config.seed), **sweep_tag(config)}
    if notes:  # read by the leaderboards; the run's description until the results
        tags["biotab.notes"] = tags["mlflow.note.content"] = " ".join(notes)
    return tags


def ineffective_settings(config):
    """Valid settings that change nothing, said once so that identical results of a sweep's
    crossed grid (e.g. logistic x dropout) are not read as an effect."""
    if config.regularization.dropout and not config.model.hidden_layer_sizes:
        return [f"regularization.dropout={config.regularization.dropout:g} has no effect: dropout "
                "acts on hidden units and this model has none."]
    return []


def sweep_tag(config):
    return {"sweep_id": config.sweep_id} if config.sweep_id else {}


def result_warnings(results, summary, config) -> list[str]:
    """What a reader of this configuration's numbers must know: folds whose fit did not
    converge, test folds with too few events for stable threshold metrics."""
    found = []
    unconverged = [r for r in results if not r.diagnostics["converged"]]
    if unconverged:
        reasons = sorted({r.diagnostics["stop_reason"] for r in unconverged})
        found.append(f"did not converge in {len(unconverged)} of {len(results)} folds "
                     f"(stopped by {', '.join(reasons)}): raise optimizer.max_epochs or change "
                     "the learning rate; its metrics describe the optimizer, not the model.")
    events = summary.get("test_events_min")
    if events is not None and events < MIN_TEST_EVENTS:
        found.append(f"a test fold has only {events} events (fewer than {MIN_TEST_EVENTS}): its "
                     "fold metrics are unstable; use fewer folds (split.n_splits) or "
                     "split=repeated_kfold.")
    return found


def warning_tags(notes, warnings) -> dict[str, str]:
    """The notes and warnings in plain text (``biotab.notes``, read by the leaderboards) and
    one tag per kind of warning (the runs table can show and filter them)."""
    said = " ".join([*notes, *(f"Warning: {w}" for w in warnings)])
    tags = {"biotab.notes": said} if said else {}
    for warning in warnings:
        kind = ("convergence" if warning.startswith("did not converge")
                else "calibration" if warning.startswith("recalibration")
                else "data" if warning.startswith("data: ") else "events")
        key = f"warning.{kind}"
        tags[key] = f"{tags[key]} {warning}" if key in tags else warning
    return tags


def describe(descriptor, pooled, summary, task, notes, warnings) -> str:
    """The run's description in the MLflow UI (Markdown): the configuration, its pooled
    headline metrics with CIs, convergence, then any notes and warnings."""
    figures = [f"**{name} {interval(pooled[name])}**" if i == 0 else f"{name} {interval(pooled[name])}"
               for i, name in enumerate(HEADLINE[task]) if name in pooled]
    unconverged = summary.get("n_unconverged", 0)
    converged = "all folds converged" if not unconverged else f"{unconverged} folds did not converge"
    lines = [f"`{descriptor}`", " · ".join([*figures, converged])]
    lines += notes + [f"**Warning:** {w}" for w in warnings]
    lines.append("Learning curves (`mean_*`): the mean over folds; after a fold stops early it "
                 "holds the value of the epoch whose weights it kept (`n_folds_active` counts "
                 "the folds still training).")
    return "\n\n".join(lines)


def interval(stats) -> str:
    """``0.993 [0.986, 0.998]``: a pooled value and its 95% CI."""
    return f"{stats['value']:.3f} [{stats['ci_low']:.3f}, {stats['ci_high']:.3f}]"


def interval_tags(pooled, names) -> dict[str, str]:
    """Readable CI tags (``auroc_95ci``) for the runs table's columns."""
    return {f"{name}_95ci": interval(pooled[name]) for name in names if name in pooled}
