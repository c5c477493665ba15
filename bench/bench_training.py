"""Training speed of the NumPy core against scikit-learn's MLPClassifier (and PyTorch on
CPU when installed), on the same architecture, optimizer, batch size and epochs, in one run.

    make bench            # or: python bench/bench_training.py [--repeats 3]

Job A: breast cancer 569x30, 30-64-32-1 relu, adam, batch 32, 200 epochs.
Job B: synthetic 200,000x64, 64-256-128-1 relu, adam, batch 256, 3 epochs.
Ratios are ours / peer (below 1 = we are faster). Job B's float32 time is also
compared with the machine's matrix-multiply floor (FLOPs of the epochs / GEMM rate).

Logistic regression: our optimizer="lbfgs" without hidden layer against scikit-learn's
LogisticRegression(solver="lbfgs") on breast cancer and Pima (../shared/datasets, zeros
as missing -> median), standardised, float64: the same objective (l2 = 1 / (C n), C = 1,
scikit-learn's default) and the same tolerance meaning (max |gradient of the mean
objective| <= tol: LBFGS(tol=...) and tol=...; both also stop on an objective change of
64 machine epsilons), at scikit-learn's default tol 1e-4 and at our default 1e-10. Whole
fits (input checks included), alternated, median of many.

    python bench/bench_training.py --only logistic   # these rows alone, ~10 s
"""

import argparse
import os
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from table import record

from pipeline import PROJECT_ROOT
from pipeline.core.optimizers import LBFGS
from pipeline.estimators import NeuralNetClassifier

JOBS = {
    "A": dict(hidden=(64, 32), batch=32, epochs=200),
    "B": dict(hidden=(256, 128), batch=256, epochs=3),
}
SHARED_ENV = "BIOTAB_SHARED_DATASETS"
PIMA_ZERO_AS_MISSING = ["PlGlcConc", "BloodP", "SkinThick", "TwoHourSerIns", "BMI"]
LOGISTIC_TOLS = (1e-4, 1e-10)  # scikit-learn's default, ours
PEER_VERSIONS = {"scikit-learn": lambda: sklearn.__version__,
                 "PyTorch": lambda: __import__("torch").__version__}


def job_data(name):
    if name == "A":
        X, y = load_breast_cancer(return_X_y=True)
        return StandardScaler().fit_transform(X), 1 - y
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200_000, 64))
    y = (X[:, :8].sum(axis=1) + np.sin(3 * X[:, 8]) > 0).astype(int)
    return X, y


def logistic_data():
    """{name: (X, y)}: breast cancer, and Pima when the shared copy is there."""
    X, y = load_breast_cancer(return_X_y=True)
    data = {"breast cancer": (StandardScaler().fit_transform(X), 1 - y)}
    path = Path(os.environ.get(SHARED_ENV) or PROJECT_ROOT.parent / "shared" / "datasets")
    path = path / "pima-indians-diabetes.csv"
    if not path.is_file():
        print(f"{path} not found (set {SHARED_ENV}): logistic regression on breast cancer only.")
        return data
    table = np.genfromtxt(path, delimiter=",", names=True)
    columns = [name for name in table.dtype.names if name != "target"]
    X = np.column_stack([table[name] for name in columns])
    for j, name in enumerate(columns):
        if name in PIMA_ZERO_AS_MISSING:
            missing = X[:, j] == 0
            X[missing, j] = np.median(X[~missing, j])
    data["Pima"] = (StandardScaler().fit_transform(X), table["target"].astype(int))
    return data


def logistic_pair(X, y, tol):
    """Our lbfgs logistic regression and scikit-learn's, on the same objective and tolerance."""
    C = 1.0
    ours = NeuralNetClassifier((), optimizer=LBFGS(tol=tol), l2=1.0 / (C * len(y)), max_epochs=10_000,
                               random_state=0)
    peer = LogisticRegression(C=C, solver="lbfgs", tol=tol, max_iter=10_000)
    return ours, peer


def alternated_medians(models, X, y, repeats):
    """Median seconds of each model's fit, timed in turns so that load on the machine hits
    all alike."""
    times = [[] for _ in models]
    for _ in range(repeats):
        for model, seconds in zip(models, times):
            start = time.perf_counter()
            model.fit(X, y)
            seconds.append(time.perf_counter() - start)
    return [statistics.median(seconds) for seconds in times]


def logistic_rows(repeats):
    print("\n| logistic regression | tol | ours (ms) | iterations | scikit-learn lbfgs (ms) "
          "| iterations | coef. rel. difference | ratio ours/peer |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (X, y) in logistic_data().items():
        for tol in LOGISTIC_TOLS:
            ours, peer = logistic_pair(X, y, tol)
            ours_s, peer_s = alternated_medians([ours, peer], X, y, repeats)
            a = np.r_[ours.coefs_[0][:, 0], ours.intercepts_[0]]
            b = np.r_[peer.coef_[0], peer.intercept_]
            print(f"| {name} | {tol:g} | {ours_s * 1e3:.2f} | {ours.n_iter_} | {peer_s * 1e3:.2f} "
                  f"| {peer.n_iter_[0]} | {np.linalg.norm(a - b) / np.linalg.norm(b):.1e} "
                  f"| {ours_s / peer_s:.2f} |", flush=True)
            record(f"lbfgs logistic regression, {name}, tol {tol:g}", ours_s, peer_s,
                   f"LogisticRegression(lbfgs), scikit-learn {sklearn.__version__}",
                   ours_s / peer_s, "<= 1")


def median_seconds(fit, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fit()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ours(X, y, job, dtype):
    X = X.astype(dtype)
    model = NeuralNetClassifier(job["hidden"], optimizer="adam", learning_rate=1e-3,
                                batch_size=job["batch"], max_epochs=job["epochs"], random_state=0)
    return lambda: model.fit(X, y)


def sklearn_mlp(X, y, job, dtype):
    X = X.astype(dtype)
    model = MLPClassifier(job["hidden"], solver="adam", alpha=0.0, batch_size=job["batch"],
                          learning_rate_init=1e-3, max_iter=job["epochs"], tol=0.0,
                          n_iter_no_change=10**9, random_state=0)

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
    return fit


def torch_mlp(X, y, job, dtype):
    import torch

    sizes = (X.shape[1], *job["hidden"], 1)
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(n_in, n_out), torch.nn.ReLU()]
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    Xt = torch.tensor(X, dtype=tdtype)
    yt = torch.tensor(y[:, None], dtype=tdtype)

    def fit():
        torch.manual_seed(0)
        net = torch.nn.Sequential(*layers[:-1]).to(tdtype)
        optim = torch.optim.Adam(net.parameters(), lr=1e-3, foreach=True)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        for _ in range(job["epochs"]):
            order = torch.randperm(len(Xt))
            for start in range(0, len(Xt), job["batch"]):
                idx = order[start:start + job["batch"]]
                optim.zero_grad()
                loss_fn(net(Xt[idx]), yt[idx]).backward()
                optim.step()
    return fit


def gemm_gflops(dtype, n=1024):
    a = np.random.default_rng(0).normal(size=(n, n)).astype(dtype)
    a @ a
    seconds = median_seconds(lambda: a @ a, 5)
    return 2 * n**3 / seconds / 1e9


def training_flops(n_rows, sizes, epochs):
    """Forward 2 n in out per layer; backward the same for dW plus dX for all but the first layer."""
    products = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 2 * n_rows * epochs * (2 * sum(products) + sum(products[1:]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=["logistic"], help="run only the logistic regression rows")
    args = parser.parse_args()
    try:
        import threadpoolctl
        blas = threadpoolctl.threadpool_info()[0]
        print(f"BLAS: {blas['internal_api']} {blas['version']}, kernel {blas['architecture']}, "
              f"{blas['num_threads']} threads")
    except Exception:  # threadpoolctl is optional here
        pass
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            print(f"warning: {var}={os.environ[var]} is set; it can slow OpenBLAS by 30-70%.")
    logistic_rows(max(31, 20 * args.repeats))  # milliseconds each: many repeats are cheap
    if args.only == "logistic":
        return
    peers = {"scikit-learn": sklearn_mlp}
    try:
        import torch  # noqa: F401
        peers["PyTorch"] = torch_mlp
    except ImportError:
        print("PyTorch not installed: skipping that peer (pip install torch==2.13.0).")

    print("\n| job | dtype | ours (s) | peer | peer (s) | ratio ours/peer |")
    print("|---|---|---|---|---|---|")
    for name, job in JOBS.items():
        X, y = job_data(name)
        for dtype in (np.float64, np.float32):
            ours_s = median_seconds(ours(X, y, job, dtype), args.repeats)
            for peer, make in peers.items():
                peer_s = median_seconds(make(X, y, job, dtype), args.repeats)
                print(f"| {name} | {np.dtype(dtype).name} | {ours_s:.3f} | {peer} | {peer_s:.3f} "
                      f"| {ours_s / peer_s:.2f} |", flush=True)
                record(f"job {name} {np.dtype(dtype).name} fit", ours_s, peer_s,
                       f"{peer} {PEER_VERSIONS[peer]()}", ours_s / peer_s)
            if name == "B" and dtype == np.float32:
                sizes = (X.shape[1], *job["hidden"], 1)
                flops = training_flops(len(X), sizes, job["epochs"])
                rate = gemm_gflops(np.float32)
                floor = flops / rate / 1e9
                print(f"\nJob B float32: {flops / 1e9:.1f} GFLOP; GEMM {rate:.0f} GFLOP/s -> "
                      f"matmul floor {floor:.2f} s; ours {ours_s:.2f} s = {floor / ours_s:.0%} "
                      f"of the floor's speed.")


if __name__ == "__main__":
    main()
