"""Each model's rows for lock-step training: stacked, with the ones column of the folded
bias (``stack.py``), and cut into mini-batches, reshuffled every epoch by each model's own
generator exactly as a lone model's would be.

Models with different numbers of rows share one (K, n_max, .) array; a model's rows past
its own count are never read. At each step the models whose batches have the same size
(and start) form a group, computed as one stack; unequal batches (the last of an epoch,
when row counts differ) go in separate groups rather than being padded (see stack.py).
Keeping the models sorted by row count, largest first, makes every group a run of
consecutive models, i.e. a slice: views, never copies.
"""

import numpy as np

# A shuffled copy of all rows larger than this is not made: each batch is gathered from
# the rows instead (the same batches, so the same numbers), and training needs no more
# memory than one copy of the data (job B: 200,000 x 65 float32 = 52 MB).
COPY_LIMIT_BYTES = 32 * 2**20


class StackedRows:
    """``parts[k] = (X, T, weights or None)`` of K models as (K, n_max, n_inputs + 1) inputs
    with a trailing column of ones, (K, n_max, n_outputs) targets, (K, n_max) weights."""

    def __init__(self, parts, dtype):
        self.n = [len(X) for X, _, _ in parts]
        if parts and (any(w is None for _, _, w in parts) != all(w is None for _, _, w in parts)):
            raise ValueError("give sample weights for every fold or for none: a fold without "
                             "them is fitted by the unweighted mean, which has other rounding.")
        k, n_max = len(parts), max(self.n, default=0)
        n_inputs, n_outputs = parts[0][0].shape[1], parts[0][1].shape[1]
        self.X1 = np.zeros((k, n_max, n_inputs + 1), dtype)
        self.X1[..., -1] = 1.0
        self.T = np.zeros((k, n_max, n_outputs), dtype)
        self.w = None if parts[0][2] is None else np.zeros((k, n_max), dtype)
        for j, (X, T, w) in enumerate(parts):
            self.X1[j, :len(X), :-1] = X
            self.T[j, :len(X)] = T
            if w is not None:
                self.w[j, :len(X)] = w

    @classmethod
    def _empty(cls):
        return cls.__new__(cls)

    def take(self, index):
        """The models ``index`` (an integer array) only, rows copied."""
        rows = self._empty()
        rows.n = [self.n[i] for i in index]
        rows.X1, rows.T = self.X1[index], self.T[index]
        rows.w = None if self.w is None else self.w[index]
        return rows

    def group(self, lo, hi):
        """Inputs, targets and weights of models lo..hi-1 (views)."""
        return self.X1[lo:hi], self.T[lo:hi], None if self.w is None else self.w[lo:hi]

    def groups(self, models):
        """Runs ``(lo, hi, n)`` of consecutive models among ``models`` (sorted) with equal,
        non-zero row counts: what can be evaluated as one stack."""
        runs = []
        for j in models:
            if self.n[j] == 0:
                continue
            if runs and runs[-1][1] == j and runs[-1][2] == self.n[j]:
                runs[-1] = (runs[-1][0], j + 1, self.n[j])
            else:
                runs.append((j, j + 1, self.n[j]))
        return runs


class Batches:
    """Mini-batches of ``batch_size`` rows (None: all rows) of every model, reshuffled per
    epoch; a model with no more rows than ``batch_size`` keeps its order (one batch)."""

    def __init__(self, rows, batch_size):
        self.rows = rows
        self.sizes = [n if batch_size is None else min(int(batch_size), n) for n in rows.n]
        self.shuffled = [size < n for size, n in zip(self.sizes, rows.n)]
        self.steps = self._schedule()
        self.orders = [None] * len(rows.n)
        self._copy = any(self.shuffled) and rows.X1.nbytes <= COPY_LIMIT_BYTES
        self._gathered = {}
        if self._copy:  # one shuffled copy per epoch: batches are slices of it
            self.X1, self.T = rows.X1.copy(), rows.T.copy()
            self.w = None if rows.w is None else rows.w.copy()
        self.total_weight = [float(n) for n in rows.n] if rows.w is None else \
            [float(rows.w[j, :n].sum()) for j, n in enumerate(rows.n)]

    def _schedule(self):
        """Per step, the groups ``(lo, hi, start, size)`` of consecutive models whose batch
        at that step starts at the same row and has the same size."""
        steps, t = [], 0
        while True:
            spans = [(t * size, min(size, n - t * size)) if t * size < n else None
                     for size, n in zip(self.sizes, self.rows.n)]
            groups = []
            for j, span in enumerate(spans):
                if span is None:
                    continue
                if groups and groups[-1][1] == j and groups[-1][2:] == span:
                    groups[-1] = (groups[-1][0], j + 1, *span)
                else:
                    groups.append((j, j + 1, *span))
            if not groups:
                return steps
            steps.append(groups)
            t += 1

    def shuffle(self, rngs):
        """Draw each shuffled model's permutation of its rows for the next epoch (as a lone
        model's training does, from its own generator)."""
        rows = self.rows
        for j, rng in enumerate(rngs):
            if not self.shuffled[j]:
                continue
            n = rows.n[j]
            order = self.orders[j] = rng.permutation(n)
            if self._copy:
                # mode="clip" avoids the hidden full copy that mode="raise" makes with out=.
                np.take(rows.X1[j, :n], order, axis=0, out=self.X1[j, :n], mode="clip")
                np.take(rows.T[j, :n], order, axis=0, out=self.T[j, :n], mode="clip")
                if rows.w is not None:
                    np.take(rows.w[j, :n], order, out=self.w[j, :n], mode="clip")

    def batch(self, lo, hi, start, size):
        """Inputs, targets and weights (or None) of the batch of models lo..hi-1."""
        if self._copy:
            rows = slice(start, start + size)
            return self.X1[lo:hi, rows], self.T[lo:hi, rows], \
                None if self.w is None else self.w[lo:hi, rows]
        if not any(self.shuffled[lo:hi]):
            return tuple(None if a is None else a[:, start:start + size]
                         for a in self.rows.group(lo, hi))
        return self._gather(lo, hi, start, size)

    def _gather(self, lo, hi, start, size):
        key = (hi - lo, size)
        if key not in self._gathered:
            rows = self.rows
            self._gathered[key] = (np.empty((hi - lo, size, rows.X1.shape[2]), rows.X1.dtype),
                                   np.empty((hi - lo, size, rows.T.shape[2]), rows.T.dtype),
                                   None if rows.w is None else np.empty((hi - lo, size), rows.w.dtype))
        out = self._gathered[key]
        for j in range(lo, hi):
            for source, target in zip((self.rows.X1, self.rows.T, self.rows.w), out):
                if source is None:
                    continue
                if self.shuffled[j]:
                    np.take(source[j], self.orders[j][start:start + size], axis=0,
                            out=target[j - lo], mode="clip")
                else:
                    np.copyto(target[j - lo], source[j, start:start + size])
        return out
