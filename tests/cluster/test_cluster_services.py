"""The throwaway cluster itself: SLURM runs and accounts jobs, MLflow stores runs in PostgreSQL."""

from __future__ import annotations

import subprocess
import time

import pytest

pytestmark = pytest.mark.cluster


def slurm(cluster, *cmd: str, timeout: float = 60) -> str:
    return subprocess.run(cmd, env=cluster.env, check=True, capture_output=True, text=True,
                          timeout=timeout).stdout.strip()


def sacct_state(cluster, job: str) -> str:
    out = slurm(cluster, "sacct", "-n", "-X", "-P", "-o", "State", "-j", job).split()
    return out[0] if out else ""


def wait_state(cluster, job: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = sacct_state(cluster, job)
        if state and state not in ("PENDING", "RUNNING", "COMPLETING"):
            return state
        time.sleep(0.5)
    return sacct_state(cluster, job)


def test_srun_runs_on_the_node(cluster):
    assert slurm(cluster, "srun", "-p", cluster.partition, "hostname") == \
        slurm(cluster, "sinfo", "-h", "-o", "%N")


def test_sbatch_job_completes_and_is_accounted(cluster, tmp_path):
    out = tmp_path / "job.out"
    job = slurm(cluster, "sbatch", "--parsable", "-p", cluster.partition, "-o", str(out),
                "--wrap", "echo ran $SLURM_JOB_ID").split(";")[0]
    assert wait_state(cluster, job) == "COMPLETED"
    assert out.read_text().strip() == f"ran {job}"


def test_submitit_sees_a_cancelled_job(cluster, tmp_path, monkeypatch):
    """submitit learns of a job that ends without a result only through sacct (slurmdbd):
    without accounting a cancelled job's sweep would wait forever."""
    import submitit

    monkeypatch.setenv("SLURM_CONF", str(cluster.slurm_conf))
    executor = submitit.AutoExecutor(folder=tmp_path / "%j", cluster="slurm")
    executor.update_parameters(slurm_partition=cluster.partition, timeout_min=5, cpus_per_task=1)
    job = executor.submit(time.sleep, 120)
    deadline = time.monotonic() + 30
    while job.state != "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.5)
    slurm(cluster, "scancel", job.job_id)
    with pytest.raises(submitit.core.utils.UncompletedJobError, match="CANCELLED"):
        job.result()  # returns within submitit's sacct polling interval, not never


def test_mlflow_server_stores_runs_in_postgres(cluster):
    import mlflow

    client = mlflow.MlflowClient(cluster.tracking_uri)
    experiment = client.create_experiment(f"cluster-test-{time.time_ns()}")
    run = client.create_run(experiment)
    client.log_metric(run.info.run_id, "auroc", 0.9, step=1)
    client.log_text(run.info.run_id, "hello", "note.txt")
    client.set_terminated(run.info.run_id)

    assert client.get_run(run.info.run_id).info.status == "FINISHED"
    stored = cluster.artifacts_dir / experiment / run.info.run_id / "artifacts" / "note.txt"
    assert stored.read_text() == "hello"  # the server wrote it into the state dir
    # the row is in PostgreSQL itself, not in some fallback store
    psql = cluster.postgres_bin / "psql"
    status = subprocess.run([str(psql), "-h", "127.0.0.1", "-p", str(cluster.postgres_port), "-U", "biotab",
                             "-At", "-c", f"SELECT status FROM runs WHERE run_uuid = '{run.info.run_id}'",
                             "biotab"], check=True, capture_output=True, text=True).stdout.strip()
    assert status == "FINISHED"
