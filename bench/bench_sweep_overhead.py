"""Per-configuration overhead of a sweep: a 16-configuration breast-cancer multirun on 2
parallel joblib jobs, against the sum of its jobs' pure training time.

    python bench/bench_sweep_overhead.py [--keep DIR]

overhead per configuration = (wall time x jobs - sum of training time) / configurations,
i.e. the core-seconds each configuration spends outside training: process start,
imports, data loading, evaluation with bootstrap CIs, plots and MLflow logging.
Each configuration's training time is its logged ``fit_seconds`` metric.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlflow import MlflowClient

ROOT = Path(__file__).resolve().parent.parent
GRID = ["model=logistic,mlp", "regularization=none,l2,dropout,early_stopping",
        "loss=cross_entropy,squared_error"]
N_JOBS = 2


def run_sweep(directory, extra):
    uri = f"sqlite:///{directory}/mlflow.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "BIOTAB_SWEEP"))}
    command = [sys.executable, "-m", "pipeline.train", "-m", "hydra/launcher=joblib",
               f"hydra.launcher.n_jobs={N_JOBS}", *GRID, *extra, f"tracking.uri={uri}",
               f"hydra.sweep.dir={directory}/multirun"]
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - start, uri


def training_seconds(uri):
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("breast_cancer").experiment_id
    runs = client.search_runs([experiment], "tags.`biotab.role` = 'configuration'")
    assert all(r.info.status == "FINISHED" for r in runs), "a configuration failed"
    return [r.data.metrics["fit_seconds"] for r in runs]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", help="directory to keep the store in (default: temporary)")
    args = parser.parse_args()
    print(f"| setting | configurations | wall (s) | sum of training (s) | overhead per configuration (s) |")
    print("|---|---|---|---|---|")
    for label, extra in [("full logging (default)", []),
                         ("no plots, no model", ["tracking.log_plots=false", "tracking.log_model=false"])]:
        with tempfile.TemporaryDirectory(dir=args.keep) as directory:
            wall, uri = run_sweep(directory, extra)
            fits = training_seconds(uri)
        overhead = (wall * N_JOBS - sum(fits)) / len(fits)
        print(f"| {label} | {len(fits)} | {wall:.1f} | {sum(fits):.1f} | {overhead:.2f} |", flush=True)


if __name__ == "__main__":
    main()
