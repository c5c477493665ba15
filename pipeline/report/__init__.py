"""Compare the configuration runs of a sweep (or of a whole experiment) from MLflow.

:func:`leaderboard` gives one row per configuration: per-fold mean and sd, pooled
out-of-fold value and bootstrap 95% CI of the main metrics, ranked by one of them.
:func:`build_report` writes ``report.html`` (self-contained: figures inlined as SVG),
``leaderboard.md`` and ``leaderboard.csv``, and attaches them to the sweep run. The
HTML adds the validation learning curves of every configuration, ROC and calibration
curves of the best ones, a paired bootstrap comparison of the best two on the same
out-of-fold predictions, and a TRIPOD+AI-style summary of the best configuration.

Where to look: which runs (``selection``), the leaderboard (``leaderboard``), paired
comparisons (``comparison``), the TRIPOD summary (``tripod``), the page (``html`` and
``templates/``), writing the files (``build``), the command line (``__main__``)::

    python -m pipeline.report                      # the newest sweep in the store
    python -m pipeline.report --sweep 20260101-120000-ab12cd --metric brier
    python -m pipeline.report --experiment breast_cancer --out reports/bc
    python -m pipeline.report --list               # the sweeps in the store

Only what the runs logged is read: parameters, tags, metrics, per-epoch curves, the
resolved configuration and the out-of-fold predictions (row index, fold, prediction,
label: no feature values). MLflow is reached through :mod:`pipeline.tracking` alone.
"""

from .build import FILES, REPORTS_DIR, build_report, read_config
from .comparison import OutOfFold, incomparable, paired_comparison, read_oof
from .leaderboard import (
    MAIN_METRICS,
    format_leaderboard,
    leaderboard,
    leaderboard_frame,
    linked_summary,
    lower_is_better,
    markdown_leaderboard,
    varied_params,
)
from .selection import latest_sweep_id, list_sweeps

__all__ = [
    "FILES", "MAIN_METRICS", "REPORTS_DIR", "OutOfFold", "build_report", "format_leaderboard",
    "incomparable", "latest_sweep_id", "leaderboard", "leaderboard_frame", "linked_summary", "list_sweeps",
    "lower_is_better", "markdown_leaderboard", "paired_comparison", "read_config", "read_oof",
    "varied_params",
]
