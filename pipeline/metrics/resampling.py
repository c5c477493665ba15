"""Resamples as row weights: bootstrap draws as counts, jackknife leave-outs as 0/1 rows,
both in chunks of shape (b, n) so that a weighted metric scores a whole chunk at once."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

CHUNK_CELLS = 2_000_000  # caps a (b, n) weight matrix at ~16 MB
#: More leave-out units than this are pooled into as many random groups (delete-a-group
#: jackknife): the acceleration's estimate stays consistent, and its cost stays bounded.
JACKKNIFE_UNITS = 1000


def group_codes(groups, n: int) -> np.ndarray:
    """Cluster codes ``0..m-1`` of each row; ValueError if ``groups`` is not one per row."""
    groups = np.asarray(groups)
    if groups.shape != (n,):
        raise ValueError(f"groups must have one entry per row ({n}), got shape {groups.shape}")
    return np.unique(groups, return_inverse=True)[1]


def resample_counts(n: int, n_boot: int, seed, groups=None,
                    chunk_cells: int = CHUNK_CELLS) -> Iterator[np.ndarray]:
    """Bootstrap resamples as counts, in chunks of shape (b, n).

    Entry ``[j, i]`` is how many times row ``i`` is drawn in resample ``j`` (n draws
    with replacement). With ``groups`` (a cluster id per row, e.g. the patient of each
    recording) whole clusters are drawn instead: rows of one patient are not
    independent, and resampling them one by one gives intervals that are too narrow.
    Chunking bounds memory; the sequence depends only on ``(n, n_boot, seed, groups)``.
    """
    rng = np.random.default_rng(seed)
    units = n if groups is None else group_codes(groups, n)
    n_units = units if groups is None else int(units.max()) + 1
    chunk = max(1, chunk_cells // n)
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        flat = (rng.integers(0, n_units, size=(b, n_units)) + n_units * np.arange(b)[:, None]).ravel()
        counts = np.bincount(flat, minlength=b * n_units).reshape(b, n_units).astype(float)
        yield counts if groups is None else counts[:, units]


def jackknife_units(n: int, groups=None, seed=0, max_units: int = JACKKNIFE_UNITS) -> np.ndarray:
    """The leave-out unit of each row, codes ``0..m-1``: the row itself, or its cluster.

    With more than ``max_units`` units, units are dealt at random (seeded) into
    ``max_units`` groups of (nearly) equal size, and a group is left out at a time.
    """
    units = np.arange(n) if groups is None else group_codes(groups, n)
    m = int(units.max()) + 1
    if m <= max_units:
        return units
    pooled = np.random.default_rng(seed).permutation(m) % max_units
    return pooled[units]


def jackknife_weights(units: np.ndarray, chunk_cells: int = CHUNK_CELLS) -> Iterator[np.ndarray]:
    """Rows of ``w`` leaving out one unit each, in chunks: ``w[j, i] = (units[i] != j)``."""
    m, n = int(units.max()) + 1, units.size
    chunk = max(1, chunk_cells // n)
    for start in range(0, m, chunk):
        left_out = np.arange(start, min(m, start + chunk))
        yield (units[None, :] != left_out[:, None]).astype(float)


def apply_in_chunks(stat: Callable[[np.ndarray], dict[str, np.ndarray]],
                    chunks: Iterator[np.ndarray]) -> dict[str, np.ndarray]:
    """Apply ``stat(w) -> {name: (b,)}`` to every chunk of weights and concatenate."""
    parts = [stat(w) for w in chunks]
    if not parts:
        return {}
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
