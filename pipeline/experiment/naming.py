"""Run names, tags and notes: how a configuration is told apart in the MLflow UI and reports."""

from __future__ import annotations

MIN_TEST_EVENTS = 10  # below this, a test fold's threshold metrics are unstable

LOSS_ABBREVIATIONS = {"cross_entropy": "ce", "squared_error": "se", "absolute_error": "ae"}


def run_name(config):
    """A readable run name that tells a sweep's configurations apart in the MLflow UI,
    e.g. ``mlp[64,32] relu ce adam lr=0.001 l2=0.0001 es``; the preprocessing appears when it
    is not the standard one, the dataset when runs of several share an experiment."""
    model, reg, opt = config.model, config.regularization, config.optimizer
    parts = [] if config.tracking.experiment is None else [config.dataset["name"]]
    parts += ["logistic" if model.name == "logistic"
              else f"mlp[{','.join(map(str, model.hidden_layer_sizes))}] {model.activation}"]
    if config.preprocess.get("name", "standard") != "standard":
        parts.append(config.preprocess["name"])
    parts += [LOSS_ABBREVIATIONS[config.loss.name], opt.name, f"lr={opt.learning_rate:g}"]
    parts += [f"{key}={value:g}" for key, value in
              (("l1", reg.l1), ("l2", reg.l2), ("dropout", reg.dropout)) if value]
    if reg.early_stopping:
        parts.append("es")
    return " ".join(parts)


def config_tags(config, notes):
    tags = {"biotab.role": "configuration", "model": config.model.name,
            "seed": str(config.seed), **sweep_tag(config)}
    if notes:  # the run's description in the MLflow UI
        tags["mlflow.note.content"] = " ".join(notes)
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
    """The run's description (notes, then warnings) and one tag per kind of warning."""
    tags = {}
    if notes or warnings:
        tags["mlflow.note.content"] = " ".join([*notes, *(f"Warning: {w}" for w in warnings)])
    for warning in warnings:
        kind = "convergence" if warning.startswith("did not converge") else "events"
        tags[f"warning.{kind}"] = warning
    return tags
