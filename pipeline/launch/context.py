"""What a job learns from Hydra about the run it is part of."""

from __future__ import annotations

import json
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

SWEEP_ID = "BIOTAB_SWEEP_ID"  # set for a multirun's jobs (config key sweep_id)
SWEEP_FILE = "mlflow_sweep.json"  # in the sweep directory: the sweep run the jobs nest under
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def sweep_state() -> dict:
    """What the sweep callback recorded in the sweep file for the jobs (the sweep run,
    the swept keys, whether it resumes an earlier sweep); ``{}`` outside a sweep."""
    if not is_multirun():
        return {}
    path = Path(HydraConfig.get().sweep.dir) / SWEEP_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def sweep_run_id():
    """The run this job of a sweep nests under: the sweep run that the sweep callback
    recorded in the sweep directory (joblib's workers start before it exists, so the
    environment cannot carry it); None outside a sweep."""
    return sweep_state().get("run_id")


def swept_values() -> dict[str, str]:
    """This job's values of what its sweep varies, e.g. ``{"loss": "squared_error"}``;
    ``{}`` outside a sweep."""
    keys = sweep_state().get("swept", [])
    values = dict(split_override(o) for o in task_overrides())
    return {key: values[key] for key in keys if key in values}


def split_override(override: str) -> tuple[str, str]:
    """``("optimizer.learning_rate", "0.01")`` of ``+optimizer.learning_rate=0.01``."""
    key, _, value = override.partition("=")
    return key.lstrip("+~"), value


def is_multirun():
    try:
        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:  # not running under Hydra (e.g. called from a test)
        return False


def task_overrides():
    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:
        return []
