"""Errors a user can act on, and the one sanitiser of every text that is stored.

Every error biotab raises for a user to fix says what is wrong, where (file, column or
config key) and what to do. The terminal may show a few example cell values to help fix a
file; MLflow and log files never receive them. :func:`stored_text` is the one gate for
anything written there (failure reasons, warnings, tags): biotab's own errors carry a
``safe_message`` built from counts and column names, and any other text (an error raised
inside scikit-learn, pandas or numpy, which may quote a cell) has its quoted literals,
listed values and long numbers replaced by placeholders.
"""

from __future__ import annotations

import contextlib
import difflib
import re
import signal
from collections.abc import Iterable

from .core.training import TrainingDivergedError

__all__ = [
    "ConfigError", "DatasetError", "DatasetFileNotFoundError", "DownloadError",
    "NetworkUnavailableError", "TrainingDivergedError", "did_you_mean", "examples", "redact",
    "stored_reason", "stored_text",
]

MAX_EXAMPLES = 3  # cell values quoted in an error message (shown on the terminal only)


class Interrupted(KeyboardInterrupt):
    """A signal that ends the process: SIGTERM (a cluster's time limit, ``scancel``), SIGHUP
    (a closed terminal) or SIGINT (Ctrl-C). Raised by :mod:`pipeline.launch.signals` so open
    runs close as KILLED naming it; the process exits with 128 + the signal's number."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Held:
    """Signals that arrived inside :func:`uninterrupted` blocks (their nesting depth)."""

    depth = 0
    pending: int | None = None


def interrupt(signum: int) -> None:
    """Raise :class:`Interrupted` now, or when the enclosing :func:`uninterrupted` block ends."""
    if _Held.depth:
        _Held.pending = _Held.pending or signum
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def uninterrupted():
    """A block a signal must not cut in half, such as creating a run and keeping its id, or
    marking it ended: a run cut there would stay RUNNING. The signal is raised at its end."""
    _Held.depth += 1
    try:
        yield
    finally:  # also after an error: the signal wins, and is not left for a later block
        _Held.depth -= 1
        if not _Held.depth and _Held.pending:
            signum, _Held.pending = _Held.pending, None
            raise Interrupted(signum)


def killed_reason(err: KeyboardInterrupt) -> str:
    """``killed by SIGTERM``: a KILLED run's reason (a bare KeyboardInterrupt is Ctrl-C)."""
    return f"killed by {signal.Signals(getattr(err, 'signum', signal.SIGINT)).name}"


class ConfigError(ValueError):
    """A configuration key or value the user must fix (the message says which and how)."""


class DatasetError(ValueError):
    """A problem with the user's data or dataset config; the message says what, where and
    what to do.

    ``safe_message`` is the message without cell values, labels or ids: what may be written
    to MLflow and log files, which never receive patient data. Give it whenever the message
    quotes anything read from the table.
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


#: Errors whose text biotab writes itself from config keys, column names, paths and counts.
OWN_ERRORS = (ConfigError, DatasetError, DownloadError, TrainingDivergedError)


def did_you_mean(word: object, choices: Iterable[object], prefix: str = "") -> str:
    """`` Did you mean 'x'?`` for a misspelt name (case-insensitive), or ``""`` when no
    choice is close. ``prefix`` is put before the suggestion, e.g. ``"dataset."``."""
    lowered = {str(c).lower(): str(c) for c in choices}
    close = difflib.get_close_matches(str(word).lower(), list(lowered), n=3, cutoff=0.6)
    if not close:
        return ""
    return " Did you mean " + " or ".join(f"'{prefix}{lowered[c]}'" for c in close) + "?"


def examples(values: Iterable[object], limit: int = MAX_EXAMPLES) -> str:
    """``, e.g. ['a', 'b']``: a few distinct values for the terminal's copy of a message
    (never the ``safe_message``)."""
    shown = list(dict.fromkeys(str(v) for v in values))[:limit]
    return f", e.g. {shown}" if shown else ""


# A quoted literal, a bracketed or braced list, or a number with 5+ digits (an id, a
# measurement with decimals): what a foreign error message may copy from a cell.
_QUOTED = re.compile(r"""'[^'\n]*'|"[^"\n]*"|`[^`\n]*`""")
_LISTED = re.compile(r"[\[{(][^\[\]{}()\n]*[,\s][^\[\]{}()\n]*[\]})]")
_NUMBER = re.compile(r"(?<![\w.])[+-]?(?:\d[\d_]{4,}(?:\.\d+)?|\d+\.\d+(?:[eE][+-]?\d+)?)(?![\w.])")


_NAMED = re.compile(r"(?:column|feature|key|variable|parameter)\s*$", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with quoted literals -> ``'…'``, lists -> ``[…]`` and numbers with decimals or
    5+ digits -> ``#``: a message of unknown origin made safe to store. Counts, names of
    things (a quoted name right after "column" or "key") and short integers (line numbers,
    sizes) stay readable."""
    text = str(text)
    text = _QUOTED.sub(lambda m: m.group(0) if _NAMED.search(text[:m.start()]) else "'…'", text)
    previous = None
    while previous != text:  # nested lists, innermost first
        previous, text = text, _LISTED.sub("[…]", text)
    return _NUMBER.sub("#", text)


def stored_text(text: str, own: bool = False) -> str:
    """The one sanitiser of text written to MLflow or a log file. ``own=True`` for text
    biotab composed from config keys, column names and counts (kept as is); anything else
    is :func:`redact`-ed."""
    return str(text) if own else redact(text)


def stored_reason(error: BaseException) -> str:
    """The text of ``error`` that may be stored in MLflow: its type and its safe message
    (biotab's errors) or its redacted message (any other error)."""
    own = isinstance(error, OWN_ERRORS)
    message = getattr(error, "safe_message", None) if own else None
    return f"{type(error).__name__}: {stored_text(message or str(error), own=own)}"
