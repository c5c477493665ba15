"""Speed of the bootstrap evaluation (``metrics.evaluate``: every binary metric with a
1000-resample CI) against as many resamples scored one by one with scikit-learn, in one run.

    make bench            # or: python bench/bench_evaluation.py [--rows 569] [--resamples 1000]

The peer is what a script would do without a vectorised bootstrap: per resample,
``roc_auc_score``, ``average_precision_score``, ``brier_score_loss`` and one unpenalised
``LogisticRegression`` fit on logit(p) (scikit-learn has no intercept-only fit with the slope
held at 1 as an offset, so the peer fits intercept and slope together, once). Ours computes
more (calibration intercept and slope separately, log loss and the threshold metrics at two
thresholds). Ratios are ours / peer (below 1 = we are faster). Medians of 3.
"""

import argparse
import statistics
import time

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from table import record

from pipeline import metrics


def sample(n, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = 1 / (1 + np.exp(-(1.5 * (2 * y - 1) + rng.normal(size=n))))
    return y, p


def ours(y, p, n_boot):
    metrics.evaluate("binary", y, p, n_boot=n_boot, seed=0)


def peer(y, p, n_boot):
    logit = np.log(p / (1 - p))[:, None]
    rng = np.random.default_rng(0)
    for _ in range(n_boot):
        rows = rng.integers(0, y.size, y.size)
        yb, pb = y[rows], p[rows]
        if yb.min() == yb.max():
            continue
        roc_auc_score(yb, pb), average_precision_score(yb, pb), brier_score_loss(yb, pb)
        LogisticRegression(C=np.inf).fit(logit[rows], yb)  # unpenalised


def median_seconds(function, *args, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[569, 5000])
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    print("| rows | resamples | ours (s) | scikit-learn, one resample at a time (s) | ratio |")
    print("|---|---|---|---|---|")
    for n in args.rows:
        y, p = sample(n)
        mine = median_seconds(ours, y, p, args.resamples)
        theirs = median_seconds(peer, y, p, args.resamples)
        print(f"| {n} | {args.resamples} | {mine:.3f} | {theirs:.3f} | {mine / theirs:.3f} |", flush=True)
        record(f"bootstrap evaluation, {n} rows x {args.resamples} resamples", mine, theirs,
               f"scikit-learn {sklearn.__version__} metrics per resample", mine / theirs)


if __name__ == "__main__":
    main()
