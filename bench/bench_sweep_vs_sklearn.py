"""A logged sweep, biotab against the scikit-learn route, on the same grid in one run.

    make bench        # or: python bench/bench_sweep_vs_sklearn.py [--repeat 1] [--epochs 200]

16 MLP configurations on breast cancer: hidden (32) or (64, 32) x relu or tanh x l2 in
{1e-4, 1e-3, 1e-2, 1e-1}; stratified 5-fold; adam, lr 1e-3, batch 32, 200 epochs, no early
stopping; 2 parallel jobs; each side with a fresh SQLite store, timed whole as a process
(imports, start-up, the end of the sweep included).

  biotab  ``python -m pipeline.train -m`` with the joblib launcher: per configuration its
          folds (each with an inner validation part monitored every epoch), bootstrap CIs,
          plots, fold runs; at the end, for the best configuration, permutation importance
          and the refit on all rows logged as a pyfunc model (``sweep_details=best``); then
          the report.
  peer    ``bench/peer_gridsearch_autolog.py``: GridSearchCV(StandardScaler + MLPClassifier)
          with mlflow.sklearn.autolog(max_tuning_runs=None): a run per candidate, the refit.

Ratio = biotab / peer (target <= 0.35). The two alternate (which one goes first changes
per repeat); the row shown is the median repeat.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sklearn
from table import record

from pipeline import PROJECT_ROOT

HERE = Path(__file__).resolve().parent
GRID = ["model=mlp", "model.hidden_layer_sizes=[32],[64,32]", "model.activation=relu,tanh",
        "regularization=l2", "regularization.l2=0.0001,0.001,0.01,0.1", "optimizer=adam",
        "optimizer.learning_rate=0.001", "optimizer.batch_size=32", "split=kfold"]
N_JOBS = 2


def _env():
    return {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "BIOTAB_SWEEP"))}


def biotab(directory, epochs):
    command = [sys.executable, "-m", "pipeline.train", "-m", "hydra/launcher=joblib",
               f"hydra.launcher.n_jobs={N_JOBS}", *GRID, f"optimizer.max_epochs={epochs}",
               f"tracking.uri=sqlite:///{directory}/mlflow.db", f"hydra.sweep.dir={directory}/multirun"]
    return _timed(command)


def peer(directory, epochs):
    command = [sys.executable, str(HERE / "peer_gridsearch_autolog.py"),
               f"--uri=sqlite:///{directory}/mlflow.db", f"--jobs={N_JOBS}"]
    if epochs != 200:
        command.append(f"--epochs={epochs}")
    return _timed(command)


def _timed(command):
    start = time.perf_counter()
    subprocess.run(command, cwd=PROJECT_ROOT, env=_env(), check=True, capture_output=True)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=200, help=argparse.SUPPRESS)
    args = parser.parse_args()
    rows = []
    for i in range(args.repeat):
        times = {}
        order = [("biotab", biotab), ("peer", peer)]
        for name, run in order if i % 2 == 0 else order[::-1]:
            with tempfile.TemporaryDirectory() as directory:
                times[name] = run(directory, args.epochs)
        rows.append((times["biotab"] / times["peer"], times["biotab"], times["peer"]))
    ratio, ours, theirs = sorted(rows)[len(rows) // 2]
    spread = f" ({rows[0][0]:.2f}-{rows[-1][0]:.2f})" if len(rows) > 1 else ""
    print("\n| 16-configuration MLP sweep, 5-fold, 2 jobs, fresh stores | biotab (s) "
          f"| GridSearchCV + mlflow.sklearn.autolog, scikit-learn {sklearn.__version__} (s) "
          "| ratio biotab / peer |")
    print("|---|---|---|---|")
    print(f"| breast cancer, {args.epochs} epochs | {ours:.1f} | {theirs:.1f} | {ratio:.2f}{spread} |")
    record("16-config MLP sweep, everything logged", ours, theirs,
           f"GridSearchCV + mlflow.sklearn.autolog (scikit-learn {sklearn.__version__})", ratio,
           "<= 0.35", note="folds trained in lock-step; importance and model of the best configuration")


if __name__ == "__main__":
    main()
