"""Job B against the matrix-multiply floor: how close a large fit gets to its GEMMs alone,
where the rest of the time goes, and how much memory training adds beyond the data.

    make bench        # or: python bench/bench_floor.py [--repeats 3] [--threads 2]

Job B: 200,000 x 64 float32 (synthetic, as in bench_training.py), 64-256-128-1 relu, adam,
lr 1e-3, batch 256, 3 epochs: ``NeuralNetClassifier.fit``, which also computes the
convergence diagnostic ``final_grad_norm_`` (one forward and backward pass over all rows
at the returned weights: a fourth epoch's worth of products).

Floors, measured in the same run:
  GEMM replay   the very matrix products of the fit (same shapes, same layouts, same BLAS
                threads), without anything else: the "GEMM-only time"
  FLOP floor    the fit's training FLOPs at the rate of one 1024^3 product
Where the time goes: the fit instrumented by phase (thread CPU time, so one BLAS thread).
Memory: peak resident set size during the fit minus before it (data already loaded),
measured in a fresh process, against the data's size.
"""

import argparse
import collections
import json
import resource
import statistics
import subprocess
import sys
import threading
import time

import numpy as np
from table import record
from threadpoolctl import threadpool_limits

from pipeline.core import batches, lockstep, optimizers, passes
from pipeline.estimators import NeuralNetClassifier

N, P, HIDDEN, BATCH, EPOCHS, CHUNK = 200_000, 64, (256, 128), 256, 3, 2048
_SHUFFLE = "shuffling (one copy per epoch)"


def job_b(chunk=20_000):
    """bench_training.py's job B data, made in chunks (the same numbers) so that making them
    never needs more memory than the float32 table itself."""
    rng = np.random.default_rng(0)
    X, y = np.empty((N, P), np.float32), np.empty(N, np.int64)
    for start in range(0, N, chunk):
        part = rng.normal(size=(chunk, P))
        X[start:start + chunk] = part
        y[start:start + chunk] = part[:, :8].sum(axis=1) + np.sin(3 * part[:, 8]) > 0
    return X, y


def model():
    return NeuralNetClassifier(HIDDEN, optimizer="adam", learning_rate=1e-3, batch_size=BATCH,
                               max_epochs=EPOCHS, random_state=0)


def gemm_replay(dtype=np.float32):
    """(seconds of the training products, seconds of the diagnostic pass's products): every
    np.matmul the fit makes, on arrays of its shapes and layouts (passes.Pass)."""
    def products(n):
        a = [np.ones((1, n, P), dtype)] + [np.ones((1, n, u + 1), dtype) for u in HIDDEN]
        w = [np.ones((1, P, HIDDEN[0]), dtype), np.ones((1, HIDDEN[0] + 1, HIDDEN[1]), dtype),
             np.ones((1, HIDDEN[1] + 1, 1), dtype)]
        wt = np.ones((1, HIDDEN[1], HIDDEN[0] + 1), dtype)
        d = [np.ones((1, n, u), dtype) for u in HIDDEN] + [np.ones((1, n, 1), dtype)]
        g = [np.empty_like(x) for x in w]
        ones, gb = np.ones((1, 1, n), dtype), np.empty((1, 1, HIDDEN[0]), dtype)
        z = [x[..., :-1] for x in a[1:]] + [np.empty((1, n, 1), dtype)]

        def once():
            for i in range(3):
                np.matmul(a[i], w[i], out=z[i])
            np.matmul(a[2].transpose(0, 2, 1), d[2], out=g[2])
            np.matmul(a[1].transpose(0, 2, 1), d[1], out=g[1])
            np.matmul(d[1], wt, out=a[1])
            np.matmul(a[0].transpose(0, 2, 1), d[0], out=g[0])
            np.matmul(ones, d[0], out=gb)
        return once
    step, chunk = products(BATCH), products(CHUNK)
    start = time.perf_counter()
    for _ in range(EPOCHS * (-(-N // BATCH))):
        step()
    training = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(-(-N // CHUNK)):
        chunk()
    return training, time.perf_counter() - start


def flop_floor():
    """(GFLOP of the training epochs, GEMM GFLOP/s of one 1024^3 float32 product)."""
    sizes = (P, *HIDDEN, 1)
    products = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    flops = 2 * N * EPOCHS * (2 * sum(products) + sum(products[1:]))
    a = np.random.default_rng(0).normal(size=(1024, 1024)).astype(np.float32)
    a @ a
    times = []
    for _ in range(5):
        start = time.perf_counter()
        a @ a
        times.append(time.perf_counter() - start)
    return flops / 1e9, 2 * 1024**3 / statistics.median(times) / 1e9


class _TimedNumpy:
    """numpy, with the time of every np.matmul counted (installed as ``passes.np``)."""

    def __init__(self, spent):
        self._spent, self.phase = spent, "training"

    def __getattr__(self, name):
        return getattr(np, name)

    def matmul(self, *args, **kwargs):
        start = time.thread_time()
        try:
            return np.matmul(*args, **kwargs)
        finally:
            self._spent[f"products ({self.phase})"] += time.thread_time() - start


def phases(X, y):
    """Thread CPU seconds of each phase of one fit, one BLAS thread (all work in this
    thread): the products counted where they are made."""
    spent = collections.Counter()
    timed_numpy = _TimedNumpy(spent)
    patched = [(passes.Pass, "forward", "forward"), (passes.Pass, "backward", "backward"),
               (passes.Pass, "gradient", "batch gradients"), (optimizers.Adam, "step", "Adam"),
               (batches.Batches, "shuffle", _SHUFFLE),
               (lockstep._Trainer, "final_gradient_norms", "diagnostic pass")]
    saved = [(cls, name, getattr(cls, name)) for cls, name, _ in patched]

    def timed(function, label):
        def wrapper(*args, **kwargs):
            key = label if timed_numpy.phase == "training" else f"{label} (diagnostic pass)"
            if label == "diagnostic pass":
                timed_numpy.phase = "diagnostic pass"
            start = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                spent[key] += time.thread_time() - start
        return wrapper
    for (cls, name, label), (_, _, function) in zip(patched, saved):
        setattr(cls, name, timed(function, label))
    passes.np = timed_numpy
    try:
        with threadpool_limits(1):
            start = time.thread_time()
            model().fit(X, y)
            total = time.thread_time() - start
    finally:
        passes.np = np
        for cls, name, function in saved:
            setattr(cls, name, function)
    return total, spent


def timed_fit(X, y):
    """(wall seconds of one fit, of which the diagnostic pass)."""
    spent, original = [0.0], lockstep._Trainer.final_gradient_norms

    def diagnostic(self, slots):
        start = time.perf_counter()
        try:
            return original(self, slots)
        finally:
            spent[0] += time.perf_counter() - start
    lockstep._Trainer.final_gradient_norms = diagnostic
    try:
        start = time.perf_counter()
        model().fit(X, y)
        return time.perf_counter() - start, spent[0]
    finally:
        lockstep._Trainer.final_gradient_norms = original


def memory():
    """Run in a fresh process: data size, and the fit's peak RSS growth beyond the data (MB):
    the larger of the peak RSS (getrusage) and of RSS sampled every 2 ms, each minus before."""
    X, y = job_b()
    model().set_params(max_epochs=1).fit(X[:2000], y[:2000])  # imports done, not counted
    peak, done = [0.0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.002)
    before, before_max = _rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    model().fit(X, y)
    done.set()
    sampler.join()
    after_max = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    growth = max(after_max - before_max, peak[0] - before)
    print(json.dumps({"data_mb": (X.nbytes + y.nbytes) / 2**20, "growth_mb": growth}))


def _rss_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: all)")
    parser.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory:
        return memory()
    X, y = job_b()
    with threadpool_limits(args.threads):
        fits, diags, replays = [], [], []
        for _ in range(args.repeats):  # alternated: load on the machine hits both alike
            seconds, diag = timed_fit(X, y)
            fits.append(seconds)
            diags.append(diag)
            replays.append(gemm_replay())
        gflop, rate = flop_floor()
    fit, diag = statistics.median(fits), statistics.median(diags)
    training = statistics.median(f - d for f, d in zip(fits, diags))
    train_gemm = statistics.median(r[0] for r in replays)
    all_gemm = statistics.median(r[0] + r[1] for r in replays)
    floor = gflop / rate
    print(f"\n| job B float32, {args.threads or 'all'} BLAS threads, wall clock | seconds "
          f"| GEMM replay: the same products alone (s) | ratio | FLOP floor (s) | ratio |")
    print("|---|---|---|---|---|---|")
    print(f"| fit (NeuralNetClassifier.fit) | {fit:.2f} | {all_gemm:.2f} | {fit / all_gemm:.2f} "
          f"| | |")
    print(f"| its training epochs | {training:.2f} | {train_gemm:.2f} | {training / train_gemm:.2f} "
          f"| {floor:.2f} | {training / floor:.2f} |")
    print(f"| its diagnostic pass (final_grad_norm_) | {diag:.2f} | {all_gemm - train_gemm:.2f} "
          f"| {diag / (all_gemm - train_gemm):.2f} | | |")
    print(f"\nFLOP floor: {gflop:.1f} GFLOP of training at {rate:.0f} GFLOP/s (one 1024^3 product); "
          f"the fit's own products run at {gflop / train_gemm:.0f} GFLOP/s.", flush=True)
    record("job B float32 fit / the same products alone", fit, all_gemm, "GEMM replay",
           fit / all_gemm, "<= 1.6", note=f"training epochs / their products "
           f"{training / train_gemm:.2f}; training / FLOP floor {training / floor:.2f}")

    total, spent = phases(X, y)
    gemm, gemm_diag = spent["products (training)"], spent["products (diagnostic pass)"]
    diag = spent["diagnostic pass"]
    elementwise = spent["forward"] + spent["backward"] - gemm
    loss = spent["batch gradients"] - spent["forward"] - spent["backward"]
    rest = total - diag - spent["batch gradients"] - spent["Adam"] - spent[_SHUFFLE]
    print(f"\nWhere the time of one fit goes (thread CPU time, 1 BLAS thread): total {total:.2f} s")
    print("| phase | s | share |\n|---|---|---|")
    for label, seconds in [("training: matrix products", gemm),
                           ("training: activations, ReLU masks, bias adds, transposed copies",
                            elementwise),
                           ("training: loss and its delta", loss), ("training: Adam", spent["Adam"]),
                           ("training: " + _SHUFFLE, spent[_SHUFFLE]),
                           ("training: rest (gradient norms, bookkeeping, checks)", rest),
                           ("diagnostic pass (final_grad_norm_ over all rows)", diag),
                           ("  of which matrix products", gemm_diag)]:
        print(f"| {label} | {seconds:.2f} | {seconds / total:.0%} |")
    record("job B float32 training epochs / their products (1 thread, CPU)",
           total - diag, gemm, "products in the fit", (total - diag) / gemm, "<= 1.6",
           note=f"whole fit / all its products {total / (gemm + gemm_diag):.2f}")

    out = subprocess.run([sys.executable, __file__, "--memory"], capture_output=True, text=True,
                         check=True).stdout
    mem = json.loads(out.splitlines()[-1])
    ratio = mem["growth_mb"] / mem["data_mb"]
    print(f"\nMemory: peak RSS during the fit {mem['growth_mb']:.0f} MB beyond the data "
          f"({mem['data_mb']:.0f} MB): {ratio:.2f}x the data (target < 2x)")
    record("job B float32 memory growth / data size", mem["growth_mb"], mem["data_mb"], "data",
           ratio, "<= 2", unit="MB", note="peak RSS during fit beyond the loaded data")


if __name__ == "__main__":
    main()
