"""Per-configuration overhead of a sweep: a 16-configuration breast-cancer multirun on 2
parallel joblib jobs, against the sum of its jobs' pure training time.

    python bench/bench_sweep_overhead.py [--keep DIR] [--repeat N]

The last row doubles the grid (two learning rates): comparing it with the second row
separates the fixed start-up and end from what each further configuration adds. The next
line measures two costs outside biotab's code, each on its own: a worker's imports and
Hydra composing one configuration. The last one says what the 0.4 s target leaves, per
configuration of the 32-configuration sweep, once they are paid.

Two views of the overhead, from each configuration's logged ``fit_seconds``:
  wall per configuration = (wall time - sum of training / jobs) / configurations: how much
      longer the sweep takes than its training alone, perfectly parallel;
  core-seconds per configuration = (wall time x jobs - sum of training) / configurations.
The phases come from the MLflow run timestamps: start-up (interpreter, Hydra, imports,
store, sweep run) until the first configuration starts; inside the runs but outside
training (data, evaluation with bootstrap CIs, plots, model, logging); between runs
(Hydra's per-job set-up, worker start-up); and the end (leaderboard, report).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

from mlflow import MlflowClient
from table import record

from pipeline import PROJECT_ROOT

GRID = ["model=logistic,mlp", "regularization=none,l2,dropout,early_stopping",
        "loss=cross_entropy,squared_error"]
N_JOBS = 2


def run_sweep(directory, extra):
    uri = f"sqlite:///{directory}/mlflow.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "BIOTAB_SWEEP"))}
    command = [sys.executable, "-m", "pipeline.train", "-m", "hydra/launcher=joblib",
               f"hydra.launcher.n_jobs={N_JOBS}", *GRID, *extra, f"tracking.uri={uri}",
               f"hydra.sweep.dir={directory}/multirun"]
    start, start_ms = time.perf_counter(), time.time() * 1000
    subprocess.run(command, cwd=PROJECT_ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - start, start_ms, time.time() * 1000, uri


def configuration_runs(uri):
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("breast_cancer").experiment_id
    runs = client.search_runs([experiment], "tags.`biotab.role` = 'configuration'")
    assert all(r.info.status == "FINISHED" for r in runs), "a configuration failed"
    return runs


def measure(extra, existing, keep):
    """One sweep: its row of the table (see the header in :func:`main`)."""
    with tempfile.TemporaryDirectory(dir=keep) as directory:
        if existing:  # a team's store exists already: its one-off creation is not per sweep
            MlflowClient(f"sqlite:///{directory}/mlflow.db").create_experiment(
                "breast_cancer", artifact_location=f"{directory}/mlartifacts")
        wall, start_ms, end_ms, uri = run_sweep(directory, extra)
        runs = configuration_runs(uri)
    fit = sum(r.data.metrics["fit_seconds"] for r in runs)
    n = len(runs)
    in_run = sum((r.info.end_time - r.info.start_time) / 1000 for r in runs)
    first = min(r.info.start_time for r in runs)
    last = max(r.info.end_time for r in runs)
    return {"n": n, "wall": wall, "fit": fit, "overhead": (wall - fit / N_JOBS) / n,
            "core_s": (wall * N_JOBS - fit) / n, "start": (first - start_ms) / 1000,
            "in_run": (in_run - fit) / n,
            "between": ((last - first) / 1000 * N_JOBS - in_run) / n, "end": (end_ms - last) / 1000}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", help="directory to keep the store in (default: temporary)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="sweeps per setting; the row shown is the median one (this 2-core VM "
                             "swings one sweep's overhead by +-0.05 s per configuration)")
    args = parser.parse_args()
    print("| setting | configs | wall (s) | sum of training (s) | overhead: wall per config (s) "
          "| core-s per config | start-up (s) | in-run, not training (s per config) "
          "| between runs (core-s per config) | end (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    settings = [("fresh store, full logging (default)", [], False),
                ("existing store, full logging (default)", [], True),
                ("existing store, no plots, no model",
                 ["tracking.log_plots=false", "tracking.log_model=false"], True),
                # Twice the grid: what a configuration costs once the start-up is shared.
                ("existing store, full logging, x 2 learning rates",
                 ["optimizer.learning_rate=0.001,0.003"], True)]
    overheads = {}  # configurations -> total overhead (wall s), existing store, full logging
    for label, extra, existing in settings:
        rows = sorted((measure(extra, existing, args.keep) for _ in range(args.repeat)),
                      key=lambda row: row["overhead"])
        r = rows[len(rows) // 2]
        spread = f" ({rows[0]['overhead']:.2f}-{rows[-1]['overhead']:.2f})" if len(rows) > 1 else ""
        if existing and "log_model=false" not in " ".join(extra):
            overheads[r["n"]] = r["overhead"] * r["n"]
        if r["n"] == 32:  # the restated target of the sweeps issue: < 0.4 s per configuration
            at_target = r
            record("per-configuration overhead, 32 configurations, full logging", r["overhead"],
                   0.4, "target", r["overhead"] / 0.4, "<= 1", unit="s/config",
                   note=f"{label}; wall {r['wall']:.0f} s, training {r['fit']:.0f} s, 2 jobs")
        print(f"| {label} | {r['n']} | {r['wall']:.1f} | {r['fit']:.1f} | {r['overhead']:.2f}{spread} "
              f"| {r['core_s']:.2f} | {r['start']:.1f} | {r['in_run']:.2f} | {r['between']:.2f} "
              f"| {r['end']:.1f} |", flush=True)
    (n1, w1), (n2, w2) = sorted(overheads.items())
    each = (w2 - w1) / (n2 - n1)
    print(f"\nexisting store, full logging: fixed {w1 - n1 * each:.1f} s per sweep "
          f"+ {each:.2f} s per configuration")
    worker_imports, compose = floors()
    print(f"outside biotab's code: a worker's imports {worker_imports:.2f} core-s ({N_JOBS} workers); "
          f"Hydra composing one configuration {compose * 1000:.0f} ms, twice per configuration "
          f"(the launcher composes every job before any starts, then each worker its own): "
          f"{2 * compose * n1:.2f} core-s for {n1} configurations")
    print(budget_line(at_target, worker_imports, compose))


def budget_line(row, worker_imports, compose, target=0.4):
    """What the overhead target leaves, per configuration of ``row``'s sweep, for everything
    but training once the costs outside biotab's code are paid: the target allows
    ``N_JOBS * target`` core-s per configuration beyond training (both cores busy all along)."""
    n = row["n"]
    outside = (N_JOBS * worker_imports + 2 * n * compose) / n
    return (f"at {n} configurations the {target} s target allows {N_JOBS * target:.2f} core-s per "
            f"configuration beyond training; the workers' imports and Hydra's compositions take "
            f"{outside:.2f}, leaving {N_JOBS * target - outside:.2f} for the start, evaluation, "
            f"logging, Hydra's job set-up and the end; evaluation and logging inside the runs "
            f"alone took {row['in_run']:.2f}")


def floors():
    """CPU seconds of one worker's imports (mlflow, scikit-learn, pandas, skops, the SQL store:
    what ``launch.workers.warm_up`` loads) and of Hydra composing one configuration of the grid."""
    code = ("import time; start = time.process_time(); "
            "import hydra_plugins.hydra_joblib_launcher._core; from pipeline.launch import workers; "
            "workers.warm_up({'enabled': True, 'uri': None}); print(time.process_time() - start)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    imports = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, check=True,
                             capture_output=True, text=True).stdout.split()[-1]
    from hydra import compose, initialize_config_dir

    overrides = ["hydra/launcher=joblib", "model=mlp", "regularization=l2", "loss=squared_error"]
    with initialize_config_dir(str(PROJECT_ROOT / "conf"), version_base="1.3"):
        compose("config", overrides, return_hydra_config=True)  # the first one imports
        start = time.process_time()
        for _ in range(10):
            compose("config", overrides, return_hydra_config=True)
    return float(imports), (time.process_time() - start) / 10


if __name__ == "__main__":
    main()
