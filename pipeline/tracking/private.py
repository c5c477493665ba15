"""The private or undocumented MLflow APIs biotab relies on, in one place, each with why.

Checked against mlflow 3.17.2 (pinned in pyproject.toml); a new MLflow version is checked
here first.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

# A run's artifact store from its known location: MlflowClient.log_artifact(s) reads the
# run from the tracking store on every call (~10 ms) to find it.
from mlflow.store.artifact.artifact_repository_registry import (  # noqa: F401 (re-exported)
    get_artifact_repository,
)

# mlflow.user and mlflow.source.* tags as the fluent API sets them: the client API used
# here (for explicit experiment ids, see runs.py) does not add them, and the UI shows them.
from mlflow.tracking import context as _context

# pyfunc/sklearn log_model talks only to the global tracking URI; this sets it for one call.
from mlflow.tracking._tracking_service.utils import _use_tracking_uri

# Its check that the model's requirements match the installed packages: ~0.6 s on a process's
# first model save (it maps every installed distribution to its modules).
from mlflow.utils import environment as _environment

# Per-request limits of the REST and store APIs: a batch beyond them is refused.
from mlflow.utils.validation import (  # noqa: F401 (re-exported)
    MAX_ENTITIES_PER_BATCH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAM_VAL_LENGTH,
    MAX_PARAMS_TAGS_PER_BATCH,
    MAX_TAG_VAL_LENGTH,
)


def context_tags() -> dict[str, str]:
    """``mlflow.user`` / ``mlflow.source.*`` as the fluent API would set them."""
    return _context.registry.resolve_tags()


@contextlib.contextmanager
def global_tracking_uri(uri: str) -> Iterator[None]:
    """Point mlflow's global tracking URI at ``uri`` for one call, then put it back.

    ``mlflow.set_tracking_uri`` also writes ``MLFLOW_TRACKING_URI`` into os.environ
    (and restoring "unset" deletes it): the variable is restored exactly as it was.
    """
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    try:
        with _use_tracking_uri(uri):
            yield
    finally:
        if saved is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved


@contextlib.contextmanager
def requirements_unchecked() -> Iterator[None]:
    """Skip MLflow's check that a model's pip requirements are installed, for one call: only
    for requirements read from the installed packages themselves, which cannot mismatch."""
    check = _environment.warn_dependency_requirement_mismatches
    _environment.warn_dependency_requirement_mismatches = lambda requirements: None
    try:
        yield
    finally:
        _environment.warn_dependency_requirement_mismatches = check
