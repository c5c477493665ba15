"""Resumable sweeps: a sweep killed with ``kill -9`` part-way, resumed with ``resume=latest``,
ends with every configuration FINISHED exactly once; orphans are marked KILLED."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from mlflow import MlflowClient

from pipeline import tracking
from tests.conftest import MLFLOW_ENV, PROJECT_ROOT

SWEEP = ["experiment=loss", "hydra/launcher=basic", "optimizer.max_epochs=40", "n_bootstrap=50",
         "tracking.log_plots=false", "split.n_splits=3"]


def _command(tmp_path, *extra):
    return [sys.executable, "-m", "pipeline.train", *SWEEP, f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
            f"hydra.sweep.dir={tmp_path}/multirun-{len(list(tmp_path.glob('multirun-*')))}", *extra]


def _configurations(client):
    experiment = client.get_experiment_by_name("breast_cancer")
    if experiment is None:
        return []
    return client.search_runs([experiment.experiment_id], "tags.`biotab.role` = 'configuration'")


@pytest.mark.slow
def test_a_sweep_killed_mid_way_and_resumed_finishes_every_configuration_once(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in MLFLOW_ENV}
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    first = subprocess.Popen(_command(tmp_path), cwd=PROJECT_ROOT, env=env, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # kill once one configuration finished and one runs
        made = (tmp_path / "mlflow.db").exists()  # an empty store is the sweep's to create
        statuses = sorted(r.info.status for r in _configurations(client)) if made else []
        if statuses == ["FINISHED", "RUNNING"]:
            break
        assert first.poll() is None, "the sweep ended before it could be killed"
        time.sleep(0.1)
    else:
        pytest.fail("the first configuration did not finish within 300 s")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    # (a busy machine may have finished one more between the look and the kill)
    kept = [r for r in _configurations(client) if r.info.status == "FINISHED"]
    orphans = [r for r in _configurations(client) if r.info.status == "RUNNING"]
    assert len(kept) + len(orphans) <= 3 and len(orphans) <= 1

    resumed = subprocess.run(_command(tmp_path, "resume=latest"), cwd=PROJECT_ROOT, env=env,
                             text=True, capture_output=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (f"{len(kept)} configurations finished (kept), {len(orphans)} to rerun "
            f"({len(orphans)} orphaned runs marked KILLED)") in resumed.stdout
    assert all(f"done before the resume: {r.info.run_name}" in resumed.stdout for r in kept)

    configurations = _configurations(client)
    assert sorted(r.info.run_name for r in configurations) == [
        "loss=absolute_error", "loss=cross_entropy", "loss=squared_error"]
    assert all(r.info.status == "FINISHED" for r in configurations)
    assert len({r.data.tags["config_hash"] for r in configurations}) == 3
    assert {r.info.run_id for r in kept} < {r.info.run_id for r in configurations}  # reused, not rerun
    for orphan in (client.get_run(r.info.run_id) for r in orphans):
        assert orphan.info.status == "KILLED" and orphan.data.tags["biotab.role"] == "superseded"
        assert "orphaned" in orphan.data.tags["failure_reason"]
        folds = client.search_runs([orphan.info.experiment_id],
                                   f"tags.`mlflow.parentRunId` = '{orphan.info.run_id}'")
        assert {r.info.status for r in folds} <= {"FINISHED", "KILLED"}
    experiment = client.get_experiment_by_name("breast_cancer").experiment_id
    (sweep,) = client.search_runs([experiment], "tags.`biotab.role` = 'sweep'")
    assert sweep.info.status == "FINISHED" and sweep.data.tags["resumed"] == "1"
    assert {r.data.tags["sweep_id"] for r in configurations} == {sweep.data.tags["sweep_id"]}
    default = client.get_experiment_by_name("Default")
    assert default is None or not client.search_runs([default.experiment_id])


def test_resume_of_an_unknown_sweep_names_the_sweeps_there(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    tracking.start_sweep(uri, "bc", "20260101-120000-abcdef", "sweep", "")
    with pytest.raises(ValueError, match=r"resume=20260101-120000-abcdee: no such sweep .*"
                                         r"20260101-120000-abcdef.*Did you mean"):
        tracking.resume_sweep(uri, "bc", "20260101-120000-abcdee")
    tracking.ensure_experiment("other", uri)
    with pytest.raises(ValueError, match="has no sweep to resume"):
        tracking.resume_sweep(uri, "other", "latest")


def test_sweep_summary_marks_orphans_killed(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    experiment = tracking.ensure_experiment("bc", uri)
    lost = client.create_run(experiment, tags={"sweep_id": "s", "biotab.role": "configuration"}).info.run_id
    done = client.create_run(experiment, tags={"sweep_id": "s", "biotab.role": "configuration"}).info.run_id
    client.set_terminated(done, "FINISHED")
    other = client.create_run(experiment, tags={"sweep_id": "t", "biotab.role": "configuration"}).info.run_id
    assert tracking.mark_orphans(uri, "bc", "s", "the sweep's summary") == 1
    assert client.get_run(lost).info.status == "KILLED"
    assert "marked KILLED by the sweep's summary" in client.get_run(lost).data.tags["failure_reason"]
    assert client.get_run(done).info.status == "FINISHED" and client.get_run(other).info.status == "RUNNING"


@pytest.mark.slow
def test_a_resumed_sweep_runs_again_what_it_finished_on_a_table_that_has_changed_since(tmp_path):
    """Resuming keeps a FINISHED configuration only while its table is the one it was run on."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.iloc[:, [0, 1, 2, 3, -1]]
    table = tmp_path / "cohort.csv"
    frame.to_csv(table, index=False)
    env = {k: v for k, v in os.environ.items() if k not in MLFLOW_ENV}
    uri = f"sqlite:///{tmp_path}/mlflow.db"

    def sweep(*extra):
        command = [sys.executable, "-m", "pipeline.train", "-m", "model=logistic,mlp", "dataset=csv",
                   f"dataset.path={table}", "dataset.target=target", "optimizer.max_epochs=5",
                   "n_bootstrap=20", "tracking.log_plots=false", "tracking.log_model=false",
                   "evaluation=fast", f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path}/multirun",
                   *extra]
        done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, text=True, capture_output=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    sweep()
    kept = sweep("resume=latest")  # same table: nothing runs again
    assert kept.stdout.count("done before the resume") == 2
    frame.iloc[::7, 0] += 1.0  # a corrected column: another table
    frame.to_csv(table, index=False)
    rerun = sweep("resume=latest")
    assert "done before the resume" not in rerun.stdout
    assert rerun.stdout.count("the table changed since the sweep ran it") == 2
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("cohort").experiment_id],
                              "tags.`biotab.role` != 'sweep'")
    roles = {role: [r for r in runs if r.data.tags["biotab.role"] == role]
             for role in ("configuration", "superseded")}
    assert [len(roles[role]) for role in roles] == [2, 2]  # the first results set aside
    assert {r.info.status for r in runs if r.data.tags["biotab.role"] != "fold"} == {"FINISHED"}
    (new,), (old,) = ({r.data.tags["dataset_fingerprint"] for r in roles[role]} for role in roles)
    assert old != new
