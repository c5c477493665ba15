"""What a job learns from Hydra about the run it is part of."""

from __future__ import annotations

import json
import time
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

SWEEP_ID = "BIOTAB_SWEEP_ID"  # set for a multirun's jobs (config key sweep_id)
SWEEP_FILE = "mlflow_sweep.json"  # in the sweep directory: the sweep run the jobs nest under
OPENING = ("queued", "opening")  # the sweep file's status before the sweep run is open
OPENING_TIMEOUT = 600.0  # seconds a job waits for it (a server's new store can be slow)
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


class SweepNotOpened(RuntimeError):
    """The sweep's MLflow run could not be opened, so no job of the sweep can run."""


def sweep_state() -> dict:
    """What the sweep callback recorded in the sweep file for the jobs (the sweep run,
    the swept keys, whether it resumes an earlier sweep); ``{}`` outside a sweep."""
    if not is_multirun():
        return {}
    path = Path(HydraConfig.get().sweep.dir) / SWEEP_FILE
    return opened_sweep(path) if path.exists() else {}


def opened_sweep(path: Path, timeout: float = OPENING_TIMEOUT) -> dict:
    """The sweep file's state once its sweep run is open. A worker of the launcher opens
    it while the first jobs start, so a job may wait for it (~2 s). Raises if it could not
    be opened, or still is not after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while (state := json.loads(path.read_text()))["status"] in OPENING:
        if time.monotonic() > deadline:
            raise SweepNotOpened(f"the sweep's MLflow run was not opened within {timeout:.0f} s "
                                 f"({path} says {state['status']!r}): is the process that "
                                 f"launched the sweep still running? If it ended, run the sweep "
                                 f"again.")
        time.sleep(0.02)
    if state["status"] == "failed":
        raise SweepNotOpened(f"could not open the sweep in MLflow: {state['error']}")
    return state


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
