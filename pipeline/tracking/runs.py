"""Runs: a :class:`Tracker` opens runs in one experiment, a :class:`RunHandle` records into one.

Everything goes through an explicit ``MlflowClient(uri)`` and explicit experiment ids
rather than mlflow's fluent API, whose global state bites pipelines: ``mlflow.set_experiment``
exports ``MLFLOW_EXPERIMENT_ID`` to the environment and can lose a creation race to a
parallel job and log into "Default". A configuration is one run and its folds are nested
child runs (the ``mlflow.parentRunId`` tag is what the UI nests by). Per-epoch values are
sent with ``log_batch`` (~50x faster than one call per value on SQLite).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT, MLFLOW_PARENT_RUN_ID

from ..errors import killed_reason, stored_reason, uninterrupted
from .models import log_model
from .private import (
    MAX_ENTITIES_PER_BATCH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAM_VAL_LENGTH,
    MAX_PARAMS_TAGS_PER_BATCH,
    MAX_TAG_VAL_LENGTH,
    get_artifact_repository,
)
from .provenance import context_tags
from .store import ensure_experiment, open_client

logger = logging.getLogger(__name__)

MAX_FAILURE_REASON = 5000
DIGEST_LENGTH = 16  # of the dataset fingerprint in the UI's Dataset column (MLflow allows 36)


class Tracker:
    """Opens runs in one experiment of one store; ``tags`` go on every run (sweep id, commit, ...)."""

    def __init__(self, uri: str, experiment: str, tags: Mapping[str, str] | None = None):
        self.uri = uri
        self.experiment = experiment
        self.client = open_client(uri)
        self.experiment_id = ensure_experiment(experiment, uri)
        # mlflow.user / mlflow.source.* as the fluent API would set them (for the UI columns).
        self.tags = {**context_tags(), **strings(tags or {})}

    @contextlib.contextmanager
    def run(self, name: str, params: Mapping | None = None, tags: Mapping | None = None,
            parent: RunHandle | str | None = None) -> Iterator[RunHandle]:
        """Open a run, nested under ``parent`` (a handle or a run id, e.g. a sweep's run);
        FINISHED on normal exit, FAILED (with a ``failure_reason`` tag) on an exception,
        KILLED (the signal named) on Ctrl-C, SIGTERM or SIGHUP. The exception is always
        re-raised."""
        run_tags = {**self.tags, **strings(tags or {})}
        if parent is not None:
            run_tags[MLFLOW_PARENT_RUN_ID] = parent if isinstance(parent, str) else parent.run_id
        handle = None
        try:
            with uninterrupted():  # a signal here would leave a RUNNING run without its handle
                run = self.client.create_run(self.experiment_id, run_name=name, tags=run_tags)
                handle = RunHandle(self.client, run.info, self.uri)
            handle.log_params(params or {})
            yield handle
        except KeyboardInterrupt as interrupt:  # Ctrl-C, or a signal (errors.Interrupted)
            if handle is not None:
                handle._end(RunStatus.KILLED, killed_reason(interrupt))
            raise
        except Exception as exc:
            if handle is not None:  # else the store refused to create it: nothing to close
                handle._end(RunStatus.FAILED, stored_reason(exc))
            raise
        else:
            handle._end(RunStatus.FINISHED)

    @contextlib.contextmanager
    def reopen(self, run_id: str) -> Iterator[RunHandle]:
        """Finished run ``run_id``, to add what was computed after it ended (a sweep's
        deferred details); its status stays as it is."""
        run = self.client.get_run(run_id)
        handle = RunHandle(self.client, run.info, self.uri)
        handle.params = dict(run.data.params)
        inputs = run.inputs.dataset_inputs if run.inputs else []
        if inputs:
            handle.dataset = (inputs[0].dataset.name, inputs[0].dataset.digest)
        yield handle

    def fingerprints(self, dataset: str) -> set[str]:
        """The dataset fingerprints of this experiment's configuration runs of ``dataset``."""
        runs = self.client.search_runs(
            [self.experiment_id], f"tags.dataset = '{dataset.replace(chr(39), '')}' and "
            "tags.`biotab.role` = 'configuration'", max_results=1000)
        return {r.data.tags["dataset_fingerprint"] for r in runs if "dataset_fingerprint" in r.data.tags}


class RunHandle:
    """What a running configuration or fold records into its MLflow run."""

    def __init__(self, client: MlflowClient, info, uri: str):
        self.client = client
        self.uri = uri
        self.run_id: str = info.run_id
        self.artifact_uri: str = info.artifact_uri
        self.experiment_id: str = info.experiment_id
        self.params: dict[str, str] = {}  # as logged, for the models of this run
        self.model_id: str | None = None  # of the model logged by log_model
        self.dataset: tuple[str, str] | None = None  # (name, digest) logged by log_dataset
        self._staging: Path | None = None  # see artifacts_together
        self._unsent: list[Param] = []  # see log_params

    def log_params(self, params: Mapping) -> None:
        """Flat ``{dotted.key: value}``; values stringified and cut to mlflow's length limit.
        Sent with the run's next record, or when it ends: a store round trip fewer (a fold
        run's records are then one call)."""
        entries = [Param(str(k), str(v)[:MAX_PARAM_VAL_LENGTH]) for k, v in params.items()]
        self._unsent += entries
        self.params.update((p.key, p.value) for p in entries)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None,
                    history: Mapping[str, object] | None = None) -> None:
        """Final ``metrics`` and, optionally, per-epoch ``history`` (lists -> ``step = epoch``;
        entries that are not sequences, e.g. ``best_epoch``, skipped) in one ``log_batch``
        (chunked past 1000): on SQLite a call costs ~3 ms plus ~50 us per value.

        NaN is logged as NaN: an undefined metric (e.g. AUROC of a one-class fold) stays
        visible instead of vanishing.
        """
        now = _now_ms()
        self._batch(metrics=[Metric(k, float(v), now, step or 0) for k, v in metrics.items()]
                    + _history_metrics(history or {}, now))

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._batch(tags=[RunTag(k, v) for k, v in strings(tags).items()])

    def log_chart(self, chart, name: str) -> None:
        """A :class:`pipeline.svg.Chart` as ``plots/<name>.svg`` (the UI displays SVG)."""
        self.log_text(chart.to_svg(), f"plots/{name}.svg")

    def log_text(self, text: str, name: str) -> None:
        with self._artifact(name) as path:
            path.write_text(text, encoding="utf-8")

    def log_table(self, frame: pd.DataFrame, name: str) -> None:
        """CSV artifact; a default RangeIndex is left out, a meaningful index is kept."""
        keep_index = not isinstance(frame.index, pd.RangeIndex)
        with self._artifact(name) as path:
            frame.to_csv(path, index=keep_index)

    def log_npz(self, arrays: Mapping[str, np.ndarray], name: str) -> None:
        with self._artifact(name) as path:
            np.savez_compressed(path, **arrays)

    def log_model(self, model, feature_dtypes: Mapping[str, str], name: str = "model",
                  proba: bool = True) -> str:
        """Log a fitted sklearn pipeline as this run's MLflow model (see
        :func:`pipeline.tracking.models.log_model`); return its ``models:/<id>`` URI."""
        uri, self.model_id = log_model(self, model, feature_dtypes, name, proba)
        return uri

    def log_model_metrics(self, metrics: Mapping[str, float]) -> None:
        """Metrics of the model logged by :meth:`log_model`, on the run's dataset: the
        Models tab shows them beside each model."""
        if self.model_id is None:
            return
        name, digest = self.dataset or (None, None)
        now = _now_ms()
        self._batch(metrics=[Metric(k, float(v), now, 0, model_id=self.model_id, dataset_name=name,
                                    dataset_digest=digest) for k, v in metrics.items()])

    def log_dataset(self, name: str, digest: str, source: str, column_types: Mapping[str, str],
                    counts: Mapping[str, int], context: str = "training") -> None:
        """The data as an MLflow dataset input (the UI's Dataset column and filter): name,
        digest, source, column types and counts, in ``context`` ("training", or "evaluation"
        for a table the run only scores). No rows."""
        schema = {"mlflow_colspec": [{"type": kind, "name": column, "required": False}
                                     for column, kind in column_types.items()]}
        dataset = Dataset(name=name, digest=digest[:DIGEST_LENGTH], source_type="biotab",
                          source=json.dumps({"uri": source}), schema=json.dumps(schema),
                          profile=json.dumps(dict(counts)))
        inputs = [DatasetInput(dataset, tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)])]
        # Runs of one sweep log the same dataset at once, and the server's first insert can
        # race another's (a unique-key violation): the second attempt finds it stored.
        for attempt in (1, 2):
            try:
                self.client.log_inputs(self.run_id, datasets=inputs)
                break
            except MlflowException:
                if attempt == 2:
                    logger.warning("could not record the dataset input of run %s", self.run_id)
                    return
        self.dataset = (name, digest[:DIGEST_LENGTH])

    def _end(self, status: RunStatus | int, failure_reason: str | None = None) -> None:
        """Close the run; never raises an error of its own, so it cannot mask the one being
        reported (a signal arriving meanwhile is raised once the run is closed)."""
        with uninterrupted():
            try:
                reason = failure_reason and {"failure_reason": failure_reason[:MAX_FAILURE_REASON]}
                self.set_tags(reason or {})  # with the parameters not sent yet
                self.client.set_terminated(self.run_id, RunStatus.to_string(status))
            except Exception:
                logger.exception("could not mark MLflow run %s as %s", self.run_id,
                                 RunStatus.to_string(status))

    def _batch(self, metrics=(), tags=()) -> None:
        """``metrics``, ``tags`` and the parameters not sent yet in as few ``log_batch``
        calls as mlflow's per-request limits allow."""
        metrics, params, tags = list(metrics), self._unsent, list(tags)
        self._unsent = []
        while metrics or params or tags:
            some_params, params = params[:MAX_PARAMS_TAGS_PER_BATCH], params[MAX_PARAMS_TAGS_PER_BATCH:]
            some_tags, tags = tags[:MAX_PARAMS_TAGS_PER_BATCH], tags[MAX_PARAMS_TAGS_PER_BATCH:]
            room = min(MAX_METRICS_PER_BATCH, MAX_ENTITIES_PER_BATCH - len(some_params) - len(some_tags))
            some_metrics, metrics = metrics[:room], metrics[room:]
            self.client.log_batch(self.run_id, metrics=some_metrics, params=some_params, tags=some_tags)

    @functools.cached_property
    def _artifact_store(self):
        return get_artifact_repository(self.artifact_uri, tracking_uri=self.uri)

    @contextlib.contextmanager
    def artifacts_together(self) -> Iterator[None]:
        """Artifacts logged inside the block are sent in one call when it ends, also when it
        ends with an error (they help explain a failed run). Each call costs ~2 ms (a
        temporary directory, a copy, a store round trip), and a configuration has a dozen."""
        with tempfile.TemporaryDirectory() as tmp:
            self._staging = Path(tmp)
            try:
                yield
            finally:
                self._staging = None
                self._artifact_store.log_artifacts(tmp)

    @contextlib.contextmanager
    def _artifact(self, name: str) -> Iterator[Path]:
        """A file to write that becomes artifact ``name`` (``a/b.csv`` -> folder a): logged at
        once, or with the others at the end of :meth:`artifacts_together`."""
        if self._staging is not None:
            path = self._staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            yield path
            return
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(name).name
            yield path
            folder = Path(name).parent.as_posix()
            self._artifact_store.log_artifact(str(path), None if folder == "." else folder)


def _history_metrics(history: Mapping[str, object], now: int) -> list[Metric]:
    return [
        Metric(key, float(value), now, epoch)
        for key, values in history.items() if isinstance(values, (list, tuple, np.ndarray))
        for epoch, value in enumerate(values)
    ]


def strings(tags: Mapping) -> dict[str, str]:
    return {str(k): str(v)[:MAX_TAG_VAL_LENGTH] for k, v in tags.items()}


def _now_ms() -> int:
    return int(time.time() * 1000)
