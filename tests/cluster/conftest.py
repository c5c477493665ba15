"""The `cluster` fixture: a real one-node SLURM cluster and a PostgreSQL-backed MLflow server.

Tests here are marked `cluster` and skipped unless BIOTAB_CLUSTER_TESTS=1 (they install Debian
packages and start daemons as root: `make test` must not). The fixture reuses a cluster that
`python tests/cluster/services.py up` already started, and stops only one it started itself.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ENABLE_ENV = "BIOTAB_CLUSTER_TESTS"
HERE = Path(__file__).resolve().parent


def _load_services():
    # loaded by path under a unique name: `services` alone could shadow another module
    spec = importlib.util.spec_from_file_location("biotab_cluster_services", HERE / "services.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


services = _load_services()


def pytest_configure(config):
    config.addinivalue_line("markers", "cluster: needs the real SLURM + PostgreSQL/MLflow cluster "
                                       f"(root; run with {ENABLE_ENV}=1)")


def pytest_collection_modifyitems(config, items):
    if os.environ.get(ENABLE_ENV) == "1":
        return
    skip = pytest.mark.skip(reason=f"cluster test: set {ENABLE_ENV}=1 (make test-cluster)")
    for item in items:
        if HERE in Path(item.fspath).resolve().parents:
            item.add_marker(skip)


@dataclass
class Cluster:
    tracking_uri: str
    partition: str
    artifacts_dir: Path
    slurm_conf: Path
    state_dir: Path
    postgres_port: int
    postgres_bin: Path  # Debian's /usr/lib/postgresql/<version>/bin (psql, pg_isready)
    env: dict = field(repr=False)  # os.environ + SLURM_CONF + MLFLOW_TRACKING_URI, for subprocesses


@pytest.fixture(scope="session")
def cluster():
    if os.geteuid() != 0:
        pytest.skip("the cluster's daemons need root")
    st = services.state()
    reuse = bool(st) and all(services.services_answering(st).values())
    if not reuse:
        st = services.up()
    env = dict(os.environ, SLURM_CONF=st["slurm_conf"], MLFLOW_TRACKING_URI=st["tracking_uri"],
               MLFLOW_DISABLE_TELEMETRY="true",
               # a dead server must fail a test in seconds, not after mlflow's ~4 min of retries
               MLFLOW_HTTP_REQUEST_MAX_RETRIES="2", MLFLOW_HTTP_REQUEST_TIMEOUT="30")
    for name in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID", "BIOTAB_SWEEP_ID"):
        env.pop(name, None)
    try:
        yield Cluster(tracking_uri=st["tracking_uri"], partition=st["partition"],
                      artifacts_dir=Path(st["artifacts_dir"]), slurm_conf=Path(st["slurm_conf"]),
                      state_dir=Path(st["state_dir"]), postgres_port=st["ports"]["postgres"],
                      postgres_bin=services.postgres_bin(), env=env)
    finally:
        if not reuse:
            services.down()
