"""Reading runs back (the report, the sweep summary): searches, metric histories, artifacts."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import mlflow.artifacts
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from .runs import strings

_PROGRESS_BAR = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


def search_runs(uri: str, experiment: str | None = None,
                tags: Mapping[str, str] | None = None) -> list[dict]:
    """Active runs of ``experiment`` (every active experiment when None) that carry all
    ``tags``, oldest first, as plain dicts.

    Each dict has ``run_id``, ``run_name``, ``status``, ``start_time`` and ``end_time``
    (ms since the epoch; ``end_time`` None while running), ``experiment_id``,
    ``experiment`` (its name), ``parent_run_id`` (or None), and the ``params``,
    ``metrics`` (latest value of each key) and ``tags`` dicts.

    Raises ``ValueError`` for an unknown experiment name (listing the known ones).
    """
    client = MlflowClient(uri)
    experiments = _experiment_names(client)
    if experiment is not None:
        ids = [i for i, name in experiments.items() if name == experiment]
        if not ids:
            raise ValueError(f"no experiment named {experiment!r} in {uri}; experiments there: "
                             f"{', '.join(sorted(experiments.values())) or 'none'}")
    else:
        ids = list(experiments)
    if not ids:
        return []
    query = " and ".join(f"tags.`{key}` = '{_filter_value(value)}'"
                         for key, value in strings(tags or {}).items())
    runs, token = [], None
    while True:
        page = client.search_runs(ids, query, order_by=["attributes.start_time ASC"],
                                  max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            break
    _ARTIFACT_ROOTS.update(((uri, run.info.run_id), run.info.artifact_uri) for run in runs)
    return [_run_dict(run, experiments) for run in runs]


def metric_history(uri: str, run_id: str, key: str) -> list[float]:
    """Values of metric ``key`` of a run ordered by step (the last value logged for a step
    wins); empty when the run never logged ``key``."""
    history = MlflowClient(uri).get_metric_history(run_id, key)
    by_step = {m.step: m.value for m in sorted(history, key=lambda m: (m.step, m.timestamp))}
    return [float(by_step[step]) for step in sorted(by_step)]


def download_artifact(uri: str, run_id: str, path: str, dst_dir: str | Path) -> Path:
    """Copy artifact ``path`` (a file or folder) of a run into ``dst_dir``; return the local path.

    From the run's artifact location directly: ``MlflowClient.download_artifacts`` reads
    the run twice and searches its logged models on every call (25 ms; a sweep's report
    reads 2 files per configuration). Raises ``FileNotFoundError`` when the run has no
    such artifact.
    """
    Path(dst_dir).mkdir(parents=True, exist_ok=True)
    saved = os.environ.get(_PROGRESS_BAR)
    os.environ[_PROGRESS_BAR] = "false"  # mlflow draws a bar per file on stderr otherwise
    try:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"{_artifact_root(uri, run_id)}/{path}", dst_path=str(dst_dir),
            tracking_uri=uri)
    except (MlflowException, OSError) as err:
        raise FileNotFoundError(f"run {run_id} has no artifact {path!r} ({err})") from None
    finally:
        if saved is None:
            os.environ.pop(_PROGRESS_BAR, None)
        else:
            os.environ[_PROGRESS_BAR] = saved
    return Path(local)


_ARTIFACT_ROOTS: dict[tuple[str, str], str] = {}  # (store, run id) -> artifact location


def _artifact_root(uri: str, run_id: str) -> str:
    """Where a run's artifacts live: fixed when the run is created, so kept once read
    (:func:`search_runs` reads them too)."""
    key = (uri, run_id)
    if key not in _ARTIFACT_ROOTS:
        _ARTIFACT_ROOTS[key] = MlflowClient(uri).get_run(run_id).info.artifact_uri
    return _ARTIFACT_ROOTS[key]


def find_sweep_run(uri: str, sweep_id: str) -> dict | None:
    """The sweep-level run (``biotab.role=sweep``) of ``sweep_id`` as a :func:`search_runs`
    dict; the newest one if there are several; None if there is none."""
    runs = search_runs(uri, tags={"biotab.role": "sweep", "sweep_id": sweep_id})
    return runs[-1] if runs else None


def _experiment_names(client: MlflowClient) -> dict[str, str]:
    """Id -> name of the store's active experiments."""
    names, token = {}, None
    while True:
        page = client.search_experiments(max_results=1000, page_token=token)
        names.update({e.experiment_id: e.name for e in page})
        token = page.token
        if not token:
            return names


def _filter_value(value: str) -> str:
    if "'" in value:  # mlflow's filter grammar has no escape for a quote inside a value
        raise ValueError(f"cannot search for a tag value containing a quote: {value!r}")
    return value


def _run_dict(run, experiments: Mapping[str, str]) -> dict:
    info, data = run.info, run.data
    return {
        "run_id": info.run_id, "run_name": info.run_name, "status": info.status,
        "start_time": info.start_time, "end_time": info.end_time,
        "experiment_id": info.experiment_id, "experiment": experiments.get(info.experiment_id),
        "parent_run_id": data.tags.get(MLFLOW_PARENT_RUN_ID),
        "params": dict(data.params), "metrics": dict(data.metrics), "tags": dict(data.tags),
    }
