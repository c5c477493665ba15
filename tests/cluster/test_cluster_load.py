"""Load on the PostgreSQL-backed tracking server: two launchers of 40 short configurations each,
at once. Nothing lost, nothing in Default, nothing duplicated; the time per configuration is
printed beside the same two sweeps on a SQLite store."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter

import pytest

from pipeline import PROJECT_ROOT

pytestmark = pytest.mark.cluster
N_CONFIGURATIONS = 40
SHORT = ["model=logistic", f"seed=range(0,{N_CONFIGURATIONS})", "split.n_splits=2", "optimizer.max_epochs=20",
         "n_bootstrap=20", "tracking.log_plots=false", "tracking.log_model=false",
         "hydra/launcher=joblib", "hydra.launcher.n_jobs=1"]


def _two_launchers(env, uri, tmp_path, experiment) -> float:
    """Start two sweeps at once against ``uri``; return the wall time until both ended."""
    start = time.monotonic()
    launchers = [subprocess.Popen(
        [sys.executable, "-m", "pipeline.train", "-m", *SHORT, f"tracking.uri={uri}",
         f"tracking.experiment={experiment}", f"hydra.sweep.dir={tmp_path}/{experiment}-{i}"],
        cwd=PROJECT_ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for i in range(2)]
    outputs = [launcher.communicate(timeout=1800)[0] for launcher in launchers]
    for launcher, output in zip(launchers, outputs):
        assert launcher.returncode == 0, output[-3000:]
    return time.monotonic() - start


def _check(client, experiment) -> None:
    found = client.get_experiment_by_name(experiment).experiment_id
    runs = client.search_runs([found], max_results=5000)
    sweeps = [r for r in runs if r.data.tags.get("biotab.role") == "sweep"]
    configurations = [r for r in runs if r.data.tags.get("biotab.role") == "configuration"]
    assert len(sweeps) == 2 and all(s.info.status == "FINISHED" for s in sweeps)
    assert len(configurations) == 2 * N_CONFIGURATIONS, "runs lost"
    assert all(r.info.status == "FINISHED" for r in configurations)
    per_sweep = Counter((r.data.tags["sweep_id"], r.data.params["seed"]) for r in configurations)
    assert set(per_sweep.values()) == {1}, "runs duplicated"
    assert {s.data.tags["sweep_id"] for s in sweeps} == {sweep for sweep, _ in per_sweep}
    default = client.get_experiment_by_name("Default")
    assert default is None or not client.search_runs([default.experiment_id])


def test_two_launchers_of_forty_configurations_lose_and_duplicate_nothing(cluster, tmp_path):
    import mlflow

    experiment = f"load-{time.strftime('%Y%m%d-%H%M%S')}"  # the server's store outlives a test
    server = _two_launchers(cluster.env, cluster.tracking_uri, tmp_path, experiment)
    _check(mlflow.MlflowClient(cluster.tracking_uri), experiment)
    sqlite = f"sqlite:///{tmp_path}/mlflow.db"
    env = {k: v for k, v in cluster.env.items() if k != "MLFLOW_TRACKING_URI"}
    local = _two_launchers(env, sqlite, tmp_path, "load-sqlite")
    _check(mlflow.MlflowClient(sqlite), "load-sqlite")
    n = 2 * N_CONFIGURATIONS
    report = (f"load: {n} configurations by two launchers at once: PostgreSQL-backed server "
              f"{server:.0f} s ({server / n:.2f} s per configuration), SQLite store {local:.0f} s "
              f"({local / n:.2f} s per configuration); ratio {server / local:.2f}")
    print(report)
    (cluster.state_dir / "load_test.txt").write_text(report + "\n")
    os.sync()
