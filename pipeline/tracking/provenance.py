"""Provenance: the code version, library versions and BLAS kernel a result depends on, and
the once-per-process warm-up of a job's first run."""

from __future__ import annotations

import functools
import logging
import os
import platform
import subprocess
from urllib.parse import urlsplit

import mlflow
import numpy as np
import pandas as pd
import sklearn

from .. import PROJECT_ROOT
from . import private
from .store import SERVER_SCHEMES, resolve_tracking_uri

logger = logging.getLogger(__name__)


def warm_up(configured_uri: str | None = None) -> None:
    """Do the once-per-process work of a job's first run ahead of it: the imports of the
    database store (~0.5 s) and of the first model save (skops, ~0.7 s), and the provenance
    tags. The store itself is not opened: it may not exist yet."""
    import skops.io  # noqa: F401

    if urlsplit(resolve_tracking_uri(configured_uri)).scheme not in (*SERVER_SCHEMES, "file"):
        import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    context_tags()
    runtime_tags()


@functools.cache
def context_tags() -> dict[str, str]:
    """mlflow.user / mlflow.source.* as the fluent API would set them (once per process)."""
    return private.context_tags()


@functools.cache
def runtime_tags() -> dict[str, str]:
    """Code version, library versions and BLAS kernel: what a result depends on besides config.

    Computed once per process (git subprocesses, BLAS probing): a sweep worker runs many jobs.
    """
    import threadpoolctl

    tags = {
        "git_commit": _git_commit(),
        "version.python": platform.python_version(),
        "version.numpy": np.__version__,
        "version.pandas": pd.__version__,
        "version.scikit-learn": sklearn.__version__,
        "version.mlflow": mlflow.__version__,
    }
    blas = {  # numpy and scipy may each load their own copy
        f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} threads={i.get('num_threads')}"
        for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"
    }
    if blas:
        tags["blas"] = "; ".join(sorted(blas))
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if os.environ.get(var):
            tags[f"env.{var}"] = os.environ[var]
    if os.environ.get("OPENBLAS_CORETYPE"):  # a forced older kernel costs 30-70% (PERFORMANCE.md)
        logger.warning("OPENBLAS_CORETYPE=%s is set: OpenBLAS may run a slower kernel than this "
                       "CPU supports (%s)", os.environ["OPENBLAS_CORETYPE"], tags.get("blas", "?"))
    return tags


def _git_commit() -> str:
    """Short sha of HEAD, ``-dirty`` if the tree differs from it (untracked files included)."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    try:
        sha = git("rev-parse", "--short", "HEAD")
        return f"{sha}-dirty" if git("status", "--porcelain") else sha
    except (OSError, subprocess.SubprocessError):
        return "unknown"
