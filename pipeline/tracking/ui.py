"""The MLflow UI as a way to compare: a saved view per sweep opened by one deep link, and
links to runs. The view format is MLflow 3.17's (``views.py``); another version gets a
link that carries the filter in the URL instead."""

from __future__ import annotations

from urllib.parse import urlsplit

import mlflow
from mlflow import MlflowClient

from ..metrics.registry import MAIN_METRICS
from . import views

SUPPORTED_UI = "3.17."  # the saved-view format was read from this UI's front-end
DEFAULT_UI = "http://127.0.0.1:5000"  # where `make ui` serves the project's store
LINE_METRICS = {"binary": ("mean_val_loss", "mean_train_loss", "mean_val_auroc")}


def ui_url(uri: str) -> str:
    """The UI of a tracking server, else the one ``make ui`` starts."""
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") else DEFAULT_UI


def experiment_id(uri: str, experiment: str) -> str:
    return MlflowClient(uri).get_experiment_by_name(experiment).experiment_id


def run_link(uri: str, experiment_id: str, run_id: str) -> str:
    return f"{ui_url(uri)}/#/experiments/{experiment_id}/runs/{run_id}"


def artifact_link(uri: str, experiment_id: str, run_id: str, path: str) -> str:
    """The run page's Artifacts tab opened on ``path``."""
    return f"{run_link(uri, experiment_id, run_id)}/artifacts/{path}"


def comparison_link(uri: str, experiment_id: str, name: str, filter_string: str, task: str,
                    columns=(), run_ids=(), metric_keys=None) -> str:
    """Write (or replace) the saved view ``name`` of the runs matching ``filter_string`` (and
    ``run_ids``) and return the deep link that opens it in the Model-training mode, on its
    learning curves and pooled metrics with every run charted. ``metric_keys``: every metric
    those runs logged, when the caller has them (else they are searched). Other MLflow
    versions get a link carrying the filter, without the saved view."""
    client = MlflowClient(uri)
    line, bar = LINE_METRICS.get(task, ("mean_val_loss", "mean_train_loss")), MAIN_METRICS.get(task, ())
    if not mlflow.__version__.startswith(SUPPORTED_UI):
        return views.fallback_link(ui_url(uri), experiment_id, views.run_filter(filter_string, run_ids))
    if metric_keys is None:
        metric_keys = _metric_keys(client, experiment_id, filter_string, run_ids)
    # The UI charts each metric no card names: every other one gets a hidden card.
    key, value, share_key = views.shared_view_tag(
        name, filter_string=filter_string, run_ids=run_ids, line_metrics=line, bar_metrics=bar,
        columns=columns, hidden_metrics=sorted(set(metric_keys) - set(line) - set(bar)))
    client.set_experiment_tag(experiment_id, key, value)
    return views.deep_link(ui_url(uri), experiment_id, share_key)


def sweep_link(uri: str, experiment_id: str, sweep_id: str, task: str, swept=(),
               metric_keys=None) -> str:
    """The deep link to the saved view of one sweep's configuration runs, with a column for
    each swept parameter (a swept group, ``loss``, shows as its ``loss.name``) and each
    headline interval tag."""
    columns = [views.column_key("params", key if "." in key else f"{key}.name") for key in swept]
    columns += [views.column_key("tags", f"{m}_95ci") for m in MAIN_METRICS.get(task, ())[:2]]
    return comparison_link(uri, experiment_id, f"sweep {sweep_id}", views.sweep_filter(sweep_id),
                           task, columns, metric_keys=metric_keys)


def single_run_link(uri: str, experiment_id: str, run_id: str, task: str) -> str:
    """The deep link to a view of one configuration run's learning curves and metrics."""
    return comparison_link(uri, experiment_id, f"run {run_id}", "", task, run_ids=[run_id])


def _metric_keys(client, experiment_id, filter_string, run_ids) -> set[str]:
    runs = client.search_runs([experiment_id], views.run_filter(filter_string, run_ids),
                              max_results=1000)
    return {key for run in runs for key in run.data.metrics}
