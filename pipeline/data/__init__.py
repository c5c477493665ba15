"""Datasets: load a table from its config, validate it, and say clearly what is wrong.

Every loader takes the ``dataset`` config group as a plain dict and returns a
:class:`Dataset`; ``cfg["name"]`` selects the loader:

* ``breast_cancer`` -- scikit-learn's bundled Wisconsin diagnostic set (offline);
* ``csv`` -- any CSV/TSV/Parquet file described by a schema in the config;
* ``pima``, ``heart_cleveland``, ``ckd``, ``ilpd``, ``hepatitis``, ``parkinsons``,
  ``cervical``, ``wdbc`` -- public UCI tables read through the ``csv`` loader from the
  data directory (``conf/dataset/<name>.yaml`` holds each schema);
* ``synthetic`` and ``xor`` -- seeded generated cohorts.

Where to look: reading a file and its columns (``reading``), the target (``target``),
feature typing (``features``), generated tables (``generated``), config keys and
defaults (``options``), ``make data`` (``downloads``). Problems with the user's data or
config raise :class:`pipeline.errors.DatasetError`, whose message names the file, column
or config key and says what to do.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import DatasetError, DatasetFileNotFoundError, did_you_mean
from .dataset import Dataset, fingerprint
from .downloads import SOURCES
from .generated import load_breast_cancer, load_synthetic, load_xor, make_synthetic, make_xor
from .options import (
    BREAST_CANCER_DEFAULTS,
    KNOWN_KEYS,
    SYNTHETIC_DEFAULTS,
    XOR_DEFAULTS,
    data_dir,
    dataset_config,
    with_defaults,
)
from .table import load_table, table_options

__all__ = [
    "Dataset", "DatasetError", "DatasetFileNotFoundError", "KNOWN_KEYS", "LOADERS",
    "check_config", "data_dir", "dataset_config", "fingerprint", "load_dataset", "load_table",
    "make_synthetic", "make_xor",
]

LOADERS = {
    "breast_cancer": load_breast_cancer,
    "csv": load_table,
    "synthetic": load_synthetic,
    "xor": load_xor,
    **{name: load_table for name in SOURCES},
}


def check_config(cfg: Mapping) -> None:
    """Check the ``dataset`` config's keys and values without reading any data (the
    config schema calls this before a run starts); raise :class:`DatasetError`."""
    name = _loader_name(cfg)
    if LOADERS[name] is load_table:
        table_options(cfg)
    else:
        defaults = {"synthetic": SYNTHETIC_DEFAULTS, "xor": XOR_DEFAULTS}
        with_defaults(cfg, defaults.get(name, BREAST_CANCER_DEFAULTS))


def _loader_name(cfg: Mapping) -> str:
    name = cfg.get("name") if isinstance(cfg, Mapping) else None
    if name not in LOADERS:
        raise DatasetError(
            f"dataset.name={name!r} is not a known dataset.{did_you_mean(name, LOADERS)} "
            f"Choose one of: {', '.join(sorted(LOADERS))}."
        )
    return name


def load_dataset(cfg: Mapping) -> Dataset:
    """Load and validate the dataset described by the ``dataset`` config group.

    Parameters
    ----------
    cfg : Mapping
        The ``dataset`` config group as a plain dict; ``cfg["name"]`` selects the loader.

    Returns
    -------
    Dataset

    Raises
    ------
    DatasetError
        When the file, the config or the data are unusable; the message says what is
        wrong, where, and what to do.
    """
    return LOADERS[_loader_name(cfg)](cfg)
