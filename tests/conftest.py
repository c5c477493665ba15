"""Shared fixtures for the data-layer tests (datasets, preprocessing, splits)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_ENV = "BIOTAB_SHARED_DATASETS"


@pytest.fixture(scope="session")
def shared_datasets_dir() -> Path:
    """The reference UCI copies: ``$BIOTAB_SHARED_DATASETS`` or ``../shared/datasets``.

    Tests using it skip cleanly when the directory is absent (e.g. a fresh clone).
    """
    path = Path(os.environ.get(SHARED_ENV) or PROJECT_ROOT.parent / "shared" / "datasets")
    if not path.is_dir():
        pytest.skip(f"reference datasets not found at {path} (set {SHARED_ENV})")
    return path


@pytest.fixture
def clean_data_env(monkeypatch):
    """Keep a developer's ``$BIOTAB_DATA_DIR`` from redirecting the loaders under test."""
    monkeypatch.delenv("BIOTAB_DATA_DIR", raising=False)


@pytest.fixture
def write_table(tmp_path):
    """Write ``text`` to ``tmp_path/name`` and return the path."""

    def write(text: str, name: str = "table.csv") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
