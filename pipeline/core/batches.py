"""Each model's rows for lock-step training: stacked, and cut into mini-batches, reshuffled
every epoch by each model's own generator exactly as a lone model's would be.

Models with different numbers of rows share one (K, n_max, .) array; a model's rows past
its own count are never read. At each step the models whose batches have the same size
(and start) form a group, computed as one stack; unequal batches (the last of an epoch,
when row counts differ) go in separate groups rather than being padded (see stack.py).
Keeping the models sorted by row count, largest first, makes every group a run of
consecutive models, i.e. a slice: views, never copies.
"""

import numpy as np

# Up to this size one shuffled copy of all rows is made per epoch (one np.take per model:
# job B's 200,000 x 64 float32 rows in ~10 ms); beyond it each batch is gathered from the
# rows (the same batches, so the same numbers; ~4x slower in total, but no copy).
COPY_LIMIT_BYTES = 64 * 2**20


class StackedRows:
    """``parts[k] = (X, T, weights or None)`` of K models as (K, n_max, n_inputs) inputs,
    (K, n_max, n_outputs) targets and (K, n_max) weights. One model's arrays are used in
    place (no copy) when they already have the dtype and layout."""

    def __init__(self, parts, dtype):
        self.n = [len(X) for X, _, _ in parts]
        if parts and (any(w is None for _, _, w in parts) != all(w is None for _, _, w in parts)):
            raise ValueError("give sample weights for every fold or for none: a fold without "
                             "them is fitted by the unweighted mean, which has other rounding.")
        self.X, self.T, self.w = (_stack([part[i] for part in parts], dtype) for i in range(3))

    @classmethod
    def _empty(cls):
        return cls.__new__(cls)

    def take(self, index):
        """The models ``index`` (an integer array) only, rows copied."""
        rows = self._empty()
        rows.n = [self.n[i] for i in index]
        rows.X, rows.T = self.X[index], self.T[index]
        rows.w = None if self.w is None else self.w[index]
        return rows

    def group(self, lo, hi):
        """Inputs, targets and weights of models lo..hi-1 (views)."""
        return self.X[lo:hi], self.T[lo:hi], None if self.w is None else self.w[lo:hi]

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
        self._copy = any(self.shuffled) and rows.X.nbytes <= COPY_LIMIT_BYTES
        self._gathered = {}
        if self._copy:  # one shuffled copy per epoch: batches are slices of it
            self.X, self.T = np.empty_like(rows.X), np.empty_like(rows.T)
            self.w = None if rows.w is None else np.empty_like(rows.w)
            for j, shuffled in enumerate(self.shuffled):
                if not shuffled:  # one batch, in the given order: copied once
                    n = rows.n[j]
                    for source, target in self._arrays():
                        target[j, :n] = source[j, :n]
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
                for source, target in self._arrays():
                    # mode="clip" avoids the hidden full copy that mode="raise" makes with out=.
                    np.take(source[j, :n], order, axis=0, out=target[j, :n], mode="clip")

    def _arrays(self):
        """(source, shuffled copy) pairs: inputs, targets and weights when there are any."""
        pairs = [(self.rows.X, self.X), (self.rows.T, self.T)]
        return pairs if self.w is None else pairs + [(self.rows.w, self.w)]

    def batch(self, lo, hi, start, size):
        """Inputs, targets and weights (or None) of the batch of models lo..hi-1: fixed
        arrays (views of the shuffled copy, or gather buffers), filled by :meth:`fill`."""
        if self._copy:
            rows = slice(start, start + size)
            return self.X[lo:hi, rows], self.T[lo:hi, rows], \
                None if self.w is None else self.w[lo:hi, rows]
        if not any(self.shuffled[lo:hi]):
            return tuple(None if a is None else a[:, start:start + size]
                         for a in self.rows.group(lo, hi))
        key = (hi - lo, size)
        if key not in self._gathered:
            rows = self.rows
            self._gathered[key] = (np.empty((hi - lo, size, rows.X.shape[2]), rows.X.dtype),
                                   np.empty((hi - lo, size, rows.T.shape[2]), rows.T.dtype),
                                   None if rows.w is None else np.empty((hi - lo, size), rows.w.dtype))
        return self._gathered[key]

    def needs_fill(self, lo, hi):
        """Whether :meth:`fill` must gather the batch of models lo..hi-1 before each step."""
        return not self._copy and any(self.shuffled[lo:hi])

    def fill(self, lo, hi, start, size):
        """Gather the batch of models lo..hi-1 into the arrays :meth:`batch` returned."""
        out = self.batch(lo, hi, start, size)
        for j in range(lo, hi):
            for source, target in zip((self.rows.X, self.rows.T, self.rows.w), out):
                if source is None:
                    continue
                if self.shuffled[j]:
                    np.take(source[j], self.orders[j][start:start + size], axis=0,
                            out=target[j - lo], mode="clip")
                else:
                    np.copyto(target[j - lo], source[j, start:start + size])


def _stack(arrays, dtype):
    """(K, n_max, ...) array of K arrays (rows past each one's count are zeros; unused)."""
    if arrays[0] is None:
        return None
    if len(arrays) == 1:
        return np.ascontiguousarray(arrays[0], dtype)[None]
    n_max = max(len(a) for a in arrays)
    out = np.zeros((len(arrays), n_max, *np.shape(arrays[0])[1:]), dtype)
    for j, a in enumerate(arrays):
        out[j, :len(a)] = a
    return out
