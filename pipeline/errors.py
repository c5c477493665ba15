"""Errors a user can act on, and the patient-value-free text of them that may be stored.

Every error biotab raises for a user to fix says what is wrong, where (file, column or
config key) and what to do. The terminal may show a few example cell values to help fix a
file; MLflow and log files never receive them: :func:`stored_reason` is the one text of an
error that is written there.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from .core.training import TrainingDivergedError

__all__ = [
    "ConfigError", "DatasetError", "DatasetFileNotFoundError", "DownloadError",
    "NetworkUnavailableError", "TrainingDivergedError", "did_you_mean", "stored_reason",
]


class ConfigError(ValueError):
    """A configuration key or value the user must fix (the message says which and how)."""


class DatasetError(ValueError):
    """A problem with the user's data or dataset config; the message says what, where and
    what to do.

    ``safe_message`` is the message without quoted cell values: what may be written to
    MLflow and log files, which never receive patient data.
    """

    def __init__(self, message: str, safe_message: str | None = None):
        super().__init__(message)
        self.safe_message = safe_message or message


class DatasetFileNotFoundError(DatasetError, FileNotFoundError):
    """The configured data file does not exist (also a ``FileNotFoundError``)."""


class DownloadError(RuntimeError):
    """A dataset could not be fetched or failed its checksum; the message says what to do."""


class NetworkUnavailableError(DownloadError):
    """The server could not be reached at all: no point trying the other files."""


def did_you_mean(word: object, choices: Iterable[object], prefix: str = "") -> str:
    """`` Did you mean 'x'?`` for a misspelt name (case-insensitive), or ``""`` when no
    choice is close. ``prefix`` is put before the suggestion, e.g. ``"dataset."``."""
    lowered = {str(c).lower(): str(c) for c in choices}
    close = difflib.get_close_matches(str(word).lower(), list(lowered), n=3, cutoff=0.6)
    if not close:
        return ""
    return " Did you mean " + " or ".join(f"'{prefix}{lowered[c]}'" for c in close) + "?"


def stored_reason(error: BaseException) -> str:
    """The text of ``error`` that may be stored in MLflow: its type and its message
    without quoted patient values."""
    return f"{type(error).__name__}: {getattr(error, 'safe_message', error)}"
