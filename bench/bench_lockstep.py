"""Lock-step folds: 5-fold cross-validation of job A trained as one stacked model against
the same five folds fitted one after the other, in one run.

    make bench        # or: python bench/bench_lockstep.py [--repeats 7]

Job A: breast cancer 569 x 30 (standardised), 30-64-32-1 relu, adam, lr 1e-3, batch 32,
200 epochs, float64; stratified 5-fold (seed 0), each fold's 455-456 training rows.

Rows (each: five sequential fits, then the same five in lock-step, alternated; the ratio is
taken within each repeat, the table shows the median):
  core        training.train five times vs lockstep.train_folds (training alone)
  estimators  NeuralNetClassifier.fit five times vs .fit_folds, each fold monitoring an inner
              validation part (20%) every epoch, as the experiment's folds do

Speed-up = sequential / lock-step (target >= 1.8). Wall-clock time is what users wait for;
CPU time of this process is shown too, because other load on a 2-core machine moves wall
time by +-50% between runs. Every run also checks that the lock-step weights equal the
sequential ones bit for bit.
"""

import argparse
import statistics
import time

import numpy as np
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.preprocessing import StandardScaler
from table import record

from pipeline.core.lockstep import Fold, train_folds
from pipeline.core.network import Network
from pipeline.core.training import TrainingConfig, train
from pipeline.estimators import NeuralNetClassifier

SIZES, EPOCHS, BATCH = (30, 64, 32, 1), 200, 32


def job_a_folds():
    X, y = load_breast_cancer(return_X_y=True)
    X, y = StandardScaler().fit_transform(X), 1 - y
    return X, y, list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))


def core_pair():
    """(sequential, lock-step) callables of the core: each returns the trained networks."""
    X, y, splits = job_a_folds()
    T = y[:, None].astype(float)
    folds = [Fold(X[rows], T[rows]) for rows, _ in splits]
    config = TrainingConfig(optimizer="adam", learning_rate=1e-3, batch_size=BATCH, max_epochs=EPOCHS)

    def networks():
        return [Network(SIZES, "relu", "sigmoid").initialize(np.random.default_rng(k))
                for k in range(len(folds))]

    def sequential():
        nets = networks()
        for k, (net, fold) in enumerate(zip(nets, folds)):
            train(net, fold.X, fold.T, config, np.random.default_rng(100 + k))
        return [net.params for net in nets]

    def lockstep():
        nets = networks()
        train_folds(nets, folds, config, [np.random.default_rng(100 + k) for k in range(len(folds))])
        return [net.params for net in nets]
    return sequential, lockstep


def estimator_pair():
    """(sequential, lock-step) callables of the estimators, inner validation monitored."""
    X, y, splits = job_a_folds()
    folds = []
    for k, (rows, _) in enumerate(splits):
        fit, val = train_test_split(rows, test_size=0.2, stratify=y[rows], random_state=k)
        folds.append((X[fit], y[fit], X[val], y[val], k))
    template = NeuralNetClassifier(SIZES[1:-1], optimizer="adam", learning_rate=1e-3,
                                   batch_size=BATCH, max_epochs=EPOCHS)

    def sequential():
        return [clone(template).set_params(random_state=seed).fit(
            X_fit, y_fit, validation_data=(X_val, y_val)).coefs_[0]
            for X_fit, y_fit, X_val, y_val, seed in folds]

    def lockstep():
        return [model.coefs_[0] for model in template.fit_folds(folds)]
    return sequential, lockstep


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def measure(pair, repeats):
    sequential, lockstep = pair
    rows = []
    for _ in range(repeats):
        a, seq_wall, seq_cpu = timed(sequential)
        b, lock_wall, lock_cpu = timed(lockstep)
        if not all(np.array_equal(u, v) for u, v in zip(a, b)):
            raise AssertionError("lock-step weights differ from the sequential fits")
        rows.append((seq_wall, lock_wall, seq_cpu, lock_cpu))
    med = [statistics.median(r[i] for r in rows) for i in range(4)]
    speedups = [r[0] / r[1] for r in rows]
    cpu_speedups = [r[2] / r[3] for r in rows]
    return med, statistics.median(speedups), statistics.median(cpu_speedups), speedups


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print("\n| 5-fold CV of job A, float64 | five sequential fits (s) | lock-step (s) "
          "| speed-up, wall (median of repeats) | speed-up, CPU time | each repeat (wall) "
          "| weights identical |")
    print("|---|---|---|---|---|---|---|")
    for label, pair in (("core: train vs train_folds", core_pair()),
                        ("estimators: fit vs fit_folds, inner validation each epoch",
                         estimator_pair())):
        med, speedup, cpu_speedup, each = measure(pair, args.repeats)
        print(f"| {label} | {med[0]:.3f} | {med[1]:.3f} | {speedup:.2f} | {cpu_speedup:.2f} "
              f"| {' '.join(f'{s:.2f}' for s in each)} | yes |", flush=True)
        record(f"5-fold CV job A lock-step ({label.split(':')[0]})", med[1], med[0],
               "five sequential fits", 1.0 / speedup, "<= 0.56",
               note=f"speed-up {speedup:.2f}x wall, {cpu_speedup:.2f}x CPU; identical weights")


if __name__ == "__main__":
    main()
