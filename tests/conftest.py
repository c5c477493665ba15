"""Shared fixtures: data-layer tables, composed configs, an isolated or served MLflow store."""

from __future__ import annotations

import copy
import functools
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipeline import PROJECT_ROOT

SHARED_ENV = "BIOTAB_SHARED_DATASETS"


@pytest.fixture(scope="session")
def shared_datasets_dir() -> Path:
    """The reference UCI copies: ``$BIOTAB_SHARED_DATASETS`` or ``../shared/datasets``.

    Tests using it skip cleanly when the directory is absent (e.g. a fresh clone).
    """
    path = Path(os.environ.get(SHARED_ENV) or PROJECT_ROOT.parent / "shared" / "datasets")
    if not path.is_dir():
        pytest.skip(f"reference datasets not found at {path} (set {SHARED_ENV})")
    return path


@pytest.fixture
def clean_data_env(monkeypatch):
    """Keep a developer's ``$BIOTAB_DATA_DIR`` from redirecting the loaders under test."""
    monkeypatch.delenv("BIOTAB_DATA_DIR", raising=False)


@pytest.fixture
def write_table(tmp_path):
    """Write ``text`` to ``tmp_path/name`` and return the path."""

    def write(text: str, name: str = "table.csv") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


MLFLOW_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID",
              "BIOTAB_SWEEP_ID")


def compose_config(*overrides: str) -> dict:
    """``conf/`` composed with Hydra overrides, as the plain dict the app validates: each set
    of overrides is composed once per test session, and every caller gets its own copy."""
    # The config reads $BIOTAB_SWEEP_ID: part of what is cached.
    return copy.deepcopy(_composed(tuple(overrides), os.environ.get("BIOTAB_SWEEP_ID")))


@functools.cache
def _composed(overrides: tuple[str, ...], sweep_id: str | None) -> dict:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)


@pytest.fixture
def compose():
    return compose_config


@pytest.fixture
def isolated_mlflow(monkeypatch):
    """A developer's MLFLOW_*/sweep variables must not redirect the runs under test."""
    for name in MLFLOW_ENV:
        monkeypatch.delenv(name, raising=False)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path):
    """``mlflow server`` on a free loopback port, stopped after the test."""
    port = _free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
           "MLFLOW_DISABLE_TELEMETRY": "true"}
    server = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "mlflow"), "server", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path}/server.db",
         "--artifacts-destination", str(tmp_path / "server-artifacts")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{uri}/health", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        server.kill()
        pytest.fail("mlflow server did not start within 120 s")
    yield uri
    server.terminate()
    server.wait(timeout=30)
