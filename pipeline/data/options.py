"""Dataset config: each loader's keys and defaults (read from ``conf/dataset/``, their one
source), merging a config over them, and where data files live."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import PROJECT_ROOT
from ..defaults import CONF_DIR, option, option_names
from ..errors import DatasetError, did_you_mean

DATA_DIR_ENV = "BIOTAB_DATA_DIR"
REQUIRED = "???"  # Hydra's marker for a value the user must set

#: Keys of the ``csv`` loader and of every named UCI table, with their defaults.
TABLE_DEFAULTS: dict[str, Any] = option("dataset", "_table")
SYNTHETIC_DEFAULTS: dict[str, Any] = option("dataset", "synthetic")
# Generated and bundled tables read no file, but accept ``data_dir`` so that
# ``dataset.data_dir=...`` is a valid override whatever the dataset (as sweeps need).
BREAST_CANCER_DEFAULTS: dict[str, Any] = option("dataset", "breast_cancer")
XOR_DEFAULTS: dict[str, Any] = option("dataset", "xor")

#: Every key any dataset loader reads (config schema checks); each loader checks its own.
KNOWN_KEYS = frozenset(TABLE_DEFAULTS) | frozenset(SYNTHETIC_DEFAULTS) | frozenset(XOR_DEFAULTS)


def plain(value: Any) -> Any:
    """Turn config containers (e.g. OmegaConf's) into plain dicts and lists."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [plain(v) for v in value]
    return value


def with_defaults(cfg: Mapping, defaults: Mapping, required: Sequence[str] = ()) -> dict:
    """Merge ``cfg`` over ``defaults``; unknown keys and unset required keys are errors.

    Unknown keys are refused so that a typo (``postive_label``) is not silently
    ignored in favour of the default.
    """
    cfg = plain(cfg)
    unknown = sorted(set(cfg) - set(defaults))
    if unknown:
        hints = "".join(did_you_mean(k, defaults) for k in unknown)
        raise DatasetError(
            f"unknown key(s) {', '.join(f'dataset.{k}' for k in unknown)} for dataset "
            f"'{cfg.get('name')}'.{hints} Valid keys: {', '.join(sorted(defaults))}."
        )
    opts = {**plain(defaults), **cfg}
    for key in required:
        if opts[key] is None or opts[key] == REQUIRED:
            raise DatasetError(
                f"dataset.{key} is required for dataset '{opts['name']}': "
                f"set it in the config or on the command line (dataset.{key}=...)."
            )
    return opts


def as_list(value: Any, key: str) -> list[str]:
    """A config value that should be a list of column names (a single name is accepted)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    raise DatasetError(f"dataset.{key} must be a list of column names, got {type(value).__name__}.")


def dataset_config(name: str, **overrides: Any) -> dict[str, Any]:
    """``conf/dataset/<name>.yaml`` as a plain dict, with ``overrides`` applied.

    A convenience for scripts, tests and the command line; the experiment runner
    composes the same files through Hydra instead.

    Parameters
    ----------
    name : str
        File stem in ``conf/dataset/`` (e.g. ``"pima"``).
    **overrides
        Keys to replace, e.g. ``data_dir="../shared/datasets"``.
    """
    try:
        cfg = option("dataset", name)
    except FileNotFoundError:
        known = option_names("dataset")
        raise DatasetError(
            f"no dataset config {CONF_DIR / 'dataset' / f'{name}.yaml'}.{did_you_mean(name, known)} "
            f"Known: {', '.join(known)}."
        ) from None
    cfg.update(overrides)
    return cfg


def data_dir(cfg_value: str | os.PathLike | None = "data/raw") -> Path:
    """The data directory: ``$BIOTAB_DATA_DIR`` if set, else ``cfg_value``.

    Relative paths are resolved against the project root (the parent of the
    ``pipeline`` package), never the working directory, because Hydra may run
    each job in its own directory.
    """
    chosen = os.environ.get(DATA_DIR_ENV) or cfg_value or "data/raw"
    path = Path(chosen).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path
