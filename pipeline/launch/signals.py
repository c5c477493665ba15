"""Signals that end a run: SIGTERM (a cluster's time limit, ``scancel``), SIGHUP (a closed
terminal) and SIGINT (Ctrl-C) raise :class:`pipeline.errors.Interrupted` in the main thread
(held while a run is being created or closed: :func:`pipeline.errors.uninterrupted`),
so every open fold, configuration and sweep run is closed as KILLED with the signal named,
and the process exits with 128 + the signal's number, as a shell reports a killed command."""

from __future__ import annotations

import signal
import threading

from ..errors import interrupt

HANDLED = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
received: list[int] = []  # the signals this process was sent, for the sweep's summary
_closing: list = []  # what must be closed before the interpreter shuts down


def on_exit(close) -> None:
    """Call ``close()`` when the entry point ends, however it ends (see :func:`close_all`)."""
    _closing.append(close)


def close_all() -> None:
    """Run the :func:`on_exit` callables (newest first). The entry point calls this in a
    ``finally``: at interpreter shutdown (``atexit``) a first ``import mlflow`` fails, and
    a sweep's launching process does not import it before."""
    while _closing:
        _closing.pop()()


def install() -> None:
    """Handle :data:`HANDLED` (in the main thread only, where Python delivers signals)."""
    if threading.current_thread() is threading.main_thread():
        for signum in HANDLED:
            signal.signal(signum, _raise)


def _raise(signum, frame):
    received.append(signum)
    interrupt(signum)  # at once, or at the end of a block that creates or ends a run


def exit_code(interrupt: KeyboardInterrupt) -> int:
    return 128 + getattr(interrupt, "signum", signal.SIGINT)
