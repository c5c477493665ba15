"""Seeded, reproducible train/test splits built from the ``split`` config group.

Outer splits (``cfg["name"]``):

* ``holdout`` -- one stratified train/test split (``test_fraction``);
* ``kfold`` -- stratified k-fold (``n_splits``);
* ``repeated_kfold`` -- repeated stratified k-fold (``n_splits`` x ``n_repeats``);
* ``group_kfold`` -- stratified k-fold that keeps every subject in one fold.

When the dataset has a group column (several rows per patient), ``holdout``,
``kfold`` and ``repeated_kfold`` also keep each subject on one side unless
``respect_groups`` is false -- set that only to reproduce a leaky comparison.
:func:`validation_split` carves the inner validation part (early stopping,
threshold choice) from a training part. Regression targets (float ``y``) get
unstratified splits. Indices are sorted numpy int arrays.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    RepeatedStratifiedKFold,
    StratifiedGroupKFold,
    StratifiedKFold,
    train_test_split,
)

from .defaults import option, option_names
from .errors import DatasetError, did_you_mean

log = logging.getLogger(__name__)

#: Keys allowed for each split name, with defaults (the YAML files in conf/split/, their one source).
DEFAULTS: dict[str, dict] = {name: {k: v for k, v in option("split", name).items() if k != "name"}
                             for name in option_names("split")}

#: Every key any split reads (config schema checks); each split name checks its own.
KNOWN_KEYS = frozenset({"name"}).union(*DEFAULTS.values())

Folds = list[tuple[np.ndarray, np.ndarray]]


def _options(cfg: Mapping) -> dict:
    name = cfg.get("name")
    if name not in DEFAULTS:
        raise ValueError(f"split.name={name!r} is not one of {', '.join(DEFAULTS)}."
                         f"{did_you_mean(name, DEFAULTS)}")
    unknown = sorted(set(cfg) - set(DEFAULTS[name]) - {"name"})
    if unknown:
        hints = "".join(did_you_mean(k, DEFAULTS[name]) for k in unknown)
        raise ValueError(f"unknown key(s) {unknown} for split '{name}'.{hints} "
                         f"Valid: {sorted(DEFAULTS[name])}.")
    return {**DEFAULTS[name], **cfg}


def outer_splits(cfg: Mapping, y: np.ndarray, groups: np.ndarray | None, seed: int) -> Folds:
    """Outer (train, test) index pairs for the configured protocol.

    Parameters
    ----------
    cfg : Mapping
        The ``split`` config group as a plain dict; ``cfg["name"]`` is one of
        ``holdout``, ``kfold``, ``repeated_kfold``, ``group_kfold``.
    y : numpy.ndarray, shape (n_rows,)
        Encoded target; integer labels are stratified on, float (regression) not.
    groups : numpy.ndarray or None, shape (n_rows,)
        Subject id per row; rows of one subject never straddle train and test.
    seed : int
        Seed: same seed and data give the same folds.

    Returns
    -------
    list of (train_idx, test_idx)
        One pair per fold (a single pair for ``holdout``).

    Raises
    ------
    DatasetError
        When a class has fewer rows (or subjects) than folds.
    ValueError
        For an unknown split name or key.
    """
    opts = _options(cfg)
    y = np.asarray(y)
    name = opts["name"]
    if name == "group_kfold" and groups is None:
        raise DatasetError(
            "split=group_kfold needs a group column: set dataset.group_column (the patient or "
            "subject id), or use split=kfold."
        )
    use_groups = groups is not None and opts.get("respect_groups", True)
    if groups is not None and not use_groups:
        log.warning("split.respect_groups=false: rows of one subject may fall in train and test")
    if name == "holdout":
        return [_holdout(y, groups if use_groups else None, opts["test_fraction"], seed)]
    n_splits = int(opts["n_splits"])
    n_repeats = int(opts.get("n_repeats", 1))
    _check_fold_counts(y, groups if use_groups else None, n_splits)
    if use_groups:
        folds = _grouped_kfold(y, groups, n_splits, n_repeats, seed)
    else:
        folds = _kfold(y, n_splits, n_repeats, seed)
    return [(np.sort(train), np.sort(test)) for train, test in folds]


def validation_split(
    y: np.ndarray, groups: np.ndarray | None, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Carve a stratified validation part from a training part.

    Parameters
    ----------
    y : numpy.ndarray, shape (n_train,)
        Targets of the training part only.
    groups : numpy.ndarray or None, shape (n_train,)
        Subject ids of the training part; when given, no subject is in both parts.
    fraction : float in (0, 1)
        Share of rows (approximately, with groups) for validation.
    seed : int

    Returns
    -------
    fit_idx, val_idx : numpy.ndarray
        Sorted indices *relative to the given arrays*.
    """
    return _holdout(np.asarray(y), groups, fraction, seed, role="split.validation_fraction")


def _is_regression(y: np.ndarray) -> bool:
    return np.issubdtype(y.dtype, np.floating)


def _kfold(y: np.ndarray, n_splits: int, n_repeats: int, seed: int):
    rows = np.zeros(len(y))
    if _is_regression(y):
        return [
            fold for r in range(n_repeats)
            for fold in KFold(n_splits, shuffle=True, random_state=seed + r).split(rows)
        ]
    if n_repeats == 1:
        return list(StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(rows, y))
    # The same splitter as the reference protocol in ../shared/datasets/README.md.
    splitter = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
    return list(splitter.split(rows, y))


def _grouped_kfold(y: np.ndarray, groups: np.ndarray, n_splits: int, n_repeats: int, seed: int):
    rows = np.zeros(len(y))
    folds = []
    for r in range(n_repeats):
        if _is_regression(y):
            # GroupKFold shuffles only from scikit-learn 1.6 on; a permutation of the
            # group labels gives seeded variety on every version.
            splitter = GroupKFold(n_splits)
            labels = _shuffled_group_labels(groups, seed + r)
            folds += list(splitter.split(rows, y, labels))
        else:
            splitter = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed + r)
            folds += list(splitter.split(rows, y, groups))
    return folds


def _shuffled_group_labels(groups: np.ndarray, seed: int) -> np.ndarray:
    unique, inverse = np.unique(groups, return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(unique))
    return order[inverse]


def _holdout(y, groups, fraction, seed, role="split.test_fraction"):
    """One (keep, held-out) split, stratified when possible, grouped when groups are given."""
    fraction = float(fraction)
    if not 0 < fraction < 1:
        raise ValueError(f"{role}={fraction} must be between 0 and 1.")
    rows = np.arange(len(y))
    stratify = None if _is_regression(y) else y
    if groups is not None:
        # Approximate the fraction with one fold of a grouped k-fold.
        n_splits = max(2, round(1 / fraction))
        _check_fold_counts(y, groups, n_splits, role=role)
        if stratify is None:
            labels = _shuffled_group_labels(groups, seed)
            keep, held = next(GroupKFold(n_splits).split(rows, y, labels))
        else:
            splitter = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
            keep, held = next(splitter.split(rows, y, groups))
        return np.sort(keep), np.sort(held)
    if stratify is not None:
        _check_class_counts(y, 2, f"{role}={fraction} (a stratified split needs 2 rows per class)")
    keep, held = train_test_split(rows, test_size=fraction, random_state=seed, stratify=stratify)
    return np.sort(keep), np.sort(held)


def _check_fold_counts(y, groups, n_splits, role="split.n_splits"):
    """Every fold needs every class: refuse when a class has fewer rows/subjects than folds."""
    if n_splits < 2:
        raise ValueError(f"{role}: need at least 2 folds, got {n_splits}.")
    if groups is not None:
        n_groups = len(np.unique(groups))
        if n_groups < n_splits:
            raise DatasetError(
                f"only {n_groups} subjects (dataset.group_column) for {n_splits} folds: lower "
                f"split.n_splits to at most {n_groups}."
            )
    if not _is_regression(y):
        _check_class_counts(y, n_splits, f"split.n_splits={n_splits}")
        if groups is not None:
            _warn_few_groups_per_class(y, groups, n_splits)
    elif len(y) < n_splits:
        raise DatasetError(f"only {len(y)} rows for split.n_splits={n_splits}: lower n_splits.")


def _check_class_counts(y, needed: int, what: str) -> None:
    classes, counts = np.unique(y, return_counts=True)
    small = counts < needed
    if small.any():
        pairs = zip(classes[small], counts[small], strict=True)
        listed = ", ".join(f"class {c} has {n} row(s)" for c, n in pairs)
        raise DatasetError(
            f"too few rows per class for {what}: {listed}, fewer than {needed}. Lower "
            f"split.n_splits, use split=holdout, or merge rare classes with dataset.label_map."
        )


def _warn_few_groups_per_class(y, groups, n_splits) -> None:
    for label in np.unique(y):
        n = len(np.unique(groups[y == label]))
        if n < n_splits:
            log.warning(
                "class %s occurs in only %d subjects for %d folds: some test folds will lack it "
                "(its AUROC is undefined there)", label, n, n_splits,
            )
