"""What the experiment records into, spelled out: the methods a tracker's run offers
(:class:`pipeline.tracking.RunHandle` implements them with MLflow) and :class:`NoTracking`,
which implements each as a no-op when tracking is off, so a misspelt call fails either way."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Protocol


class RunRecorder(Protocol):
    run_id: str | None

    def log_params(self, params: Mapping) -> None: ...
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None,
                    history: Mapping[str, object] | None = None) -> None: ...
    def set_tags(self, tags: Mapping[str, str]) -> None: ...
    def log_chart(self, chart, name: str) -> None: ...
    def log_text(self, text: str, name: str) -> None: ...
    def log_table(self, frame, name: str) -> None: ...
    def log_npz(self, arrays: Mapping, name: str) -> None: ...
    def log_model(self, model, feature_dtypes: Mapping[str, str], name: str = "model",
                  proba: bool = True) -> str | None: ...
    def log_model_metrics(self, metrics: Mapping[str, float]) -> None: ...
    def log_dataset(self, name: str, digest: str, source: str, column_types: Mapping[str, str],
                    counts: Mapping[str, int], context: str = "training") -> None: ...
    def artifacts_together(self) -> contextlib.AbstractContextManager: ...


class Tracker(Protocol):
    def run(self, name: str, params: Mapping | None = None, tags: Mapping | None = None,
            parent=None) -> contextlib.AbstractContextManager[RunRecorder]: ...
    def reopen(self, run_id: str) -> contextlib.AbstractContextManager[RunRecorder]: ...
    def fingerprints(self, dataset: str) -> set[str]: ...


class NoTracking:
    """Tracker and run in one when tracking is off: every record is dropped."""

    run_id = None

    @contextlib.contextmanager
    def run(self, name, params=None, tags=None, parent=None) -> Iterator[NoTracking]:
        yield self

    @contextlib.contextmanager
    def reopen(self, run_id) -> Iterator[NoTracking]:
        yield self

    def fingerprints(self, dataset):
        return set()

    def log_params(self, params):
        pass

    def log_metrics(self, metrics, step=None, history=None):
        pass

    def set_tags(self, tags):
        pass

    def log_chart(self, chart, name):
        pass

    def log_text(self, text, name):
        pass

    def log_table(self, frame, name):
        pass

    def log_npz(self, arrays, name):
        pass

    def log_model(self, model, feature_dtypes, name="model", proba=True):
        return None

    def log_model_metrics(self, metrics):
        pass

    def log_dataset(self, name, digest, source, column_types, counts, context="training"):
        pass

    @contextlib.contextmanager
    def artifacts_together(self) -> Iterator[None]:
        yield
