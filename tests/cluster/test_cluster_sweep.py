"""A real sweep through hydra's submitit SLURM launcher, logging to the PostgreSQL-backed server."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from pipeline import PROJECT_ROOT

pytestmark = pytest.mark.cluster


def test_loss_sweep_runs_every_configuration_as_a_slurm_job(cluster, tmp_path):
    import mlflow

    sweep_dir = tmp_path / "sweep"
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.train", "experiment=loss", "hydra/launcher=slurm",
         f"hydra.launcher.partition={cluster.partition}", f"hydra.sweep.dir={sweep_dir}",
         "optimizer.max_epochs=5", "n_bootstrap=50"],
        cwd=PROJECT_ROOT, env=cluster.env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    # every configuration was a task of one SLURM array job, and SLURM accounted it COMPLETED
    job_dirs = sorted(p for p in (sweep_dir / ".submitit").iterdir() if re.fullmatch(r"\d+_\d+", p.name))
    assert len(job_dirs) == 3
    assert all((d / f"{d.name}_0_result.pkl").exists() for d in job_dirs)
    array_id = job_dirs[0].name.split("_")[0]
    sacct = subprocess.run(["sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", array_id], env=cluster.env,
                           check=True, capture_output=True, text=True).stdout.split()
    assert sorted(sacct) == [f"{array_id}_{i}|COMPLETED" for i in range(3)]

    # and each logged a FINISHED configuration run to the tracking server
    sweep_id = json.loads((sweep_dir / "mlflow_sweep.json").read_text())["sweep_id"]
    client = mlflow.MlflowClient(cluster.tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(
        experiments, f"tags.sweep_id = '{sweep_id}' and tags.`biotab.role` = 'configuration'")
    assert sorted(r.info.status for r in runs) == ["FINISHED"] * 3

    # the sweep's end added the best configuration's importance and model through the server
    (best,) = [r for r in runs if r.data.tags.get("biotab.details") == "completed"]
    assert "feature_importance.csv" in {a.path for a in client.list_artifacts(best.info.run_id)}
    models = client.search_logged_models([best.info.experiment_id],
                                         filter_string=f"source_run_id = '{best.info.run_id}'")
    assert len(models) == 1 and models[0].name == best.info.run_name
