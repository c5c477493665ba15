"""A SLURM sweep with one job cancelled (`scancel`) part-way, resumed with resume=<sweep id>:
nothing lost, nothing duplicated."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

from pipeline import PROJECT_ROOT

pytestmark = pytest.mark.cluster
CONFIGURATIONS = ["loss=absolute_error", "loss=cross_entropy", "loss=squared_error"]


def _sweep(cluster, sweep_dir, *extra, wait=True):
    command = [sys.executable, "-m", "pipeline.train", "experiment=loss", "hydra/launcher=slurm",
               f"hydra.launcher.partition={cluster.partition}", f"hydra.sweep.dir={sweep_dir}",
               "optimizer.max_epochs=60", "n_bootstrap=50", *extra]
    if not wait:
        return subprocess.Popen(command, cwd=PROJECT_ROOT, env=cluster.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return subprocess.run(command, cwd=PROJECT_ROOT, env=cluster.env, capture_output=True, text=True,
                          timeout=900)


def _running_task(cluster, sweep_dir, deadline):
    """The id (``<array>_<i>``) of a task of the sweep's array that SLURM runs now."""
    while time.monotonic() < deadline:
        if (sweep_dir / ".submitit").exists():
            queue = subprocess.run(["squeue", "-h", "-r", "-t", "RUNNING", "-o", "%i"], env=cluster.env,
                                   capture_output=True, text=True).stdout.split()
            if queue:
                return queue[-1]
        time.sleep(0.2)
    pytest.fail("no task of the sweep started running")


def test_a_cancelled_job_is_rerun_by_resume_and_nothing_is_duplicated(cluster, tmp_path):
    import mlflow

    first = _sweep(cluster, tmp_path / "first", wait=False)
    task = _running_task(cluster, tmp_path / "first", time.monotonic() + 300)
    subprocess.run(["scancel", task], env=cluster.env, check=True)
    output, _ = first.communicate(timeout=900)
    sweep_id = json.loads((tmp_path / "first" / "mlflow_sweep.json").read_text())["sweep_id"]

    client = mlflow.MlflowClient(cluster.tracking_uri)
    experiment = client.get_experiment_by_name("breast_cancer").experiment_id
    query = f"tags.sweep_id = '{sweep_id}' and tags.`biotab.role` = 'configuration'"
    before = client.search_runs([experiment], query)
    assert sum(r.info.status == "FINISHED" for r in before) == 2, output[-3000:]
    assert [r.info.status for r in before if r.info.status != "FINISHED"] in ([], ["KILLED"])

    resumed = _sweep(cluster, tmp_path / "resumed", f"resume={sweep_id}")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert re.search(r"2 configurations finished \(kept\), [01] to rerun", resumed.stdout)
    after = client.search_runs([experiment], query)
    assert sorted(r.info.run_name for r in after) == CONFIGURATIONS
    assert all(r.info.status == "FINISHED" for r in after)
    assert len({r.data.tags["config_hash"] for r in after}) == 3
    kept = {r.info.run_id for r in before if r.info.status == "FINISHED"}
    assert kept < {r.info.run_id for r in after}
    (sweep,) = client.search_runs(
        [experiment], f"tags.sweep_id = '{sweep_id}' and tags.`biotab.role` = 'sweep'")
    assert sweep.info.status == "FINISHED" and sweep.data.tags["resumed"] == "1"
    default = client.get_experiment_by_name("Default")
    assert default is None or not client.search_runs([default.experiment_id])
    assert (tmp_path / "resumed" / "report" / "report.html").exists()
