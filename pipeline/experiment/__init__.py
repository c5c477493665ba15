"""Running one resolved configuration end to end (no Hydra, no MLflow imports here).

Where to look: the whole run (``run``), one outer fold (``folds``), the estimator a
configuration describes (``estimator``), pooling folds into metrics (``pooling``), tables
and figures kept as artifacts (``artifacts``), run names and tags (``naming``), what is
recorded into (``recorder``: the tracker protocol and the tracking-off stand-in), what a
sweep adds to its best configuration's run at its end (``details``).
``train.py`` composes the config; a tracker (``tracking.Tracker`` or :class:`NoTracking`)
receives what should be recorded.
"""

from .details import DETAILS_TAG, complete_run, mark_completed
from .estimator import build_estimator
from .folds import FoldResult, fit_final_model
from .naming import ineffective_settings, run_name
from .recorder import NoTracking
from .run import ExperimentResult, check_task_settings, run_experiment

__all__ = [
    "DETAILS_TAG", "ExperimentResult", "FoldResult", "NoTracking", "build_estimator",
    "check_task_settings", "complete_run",
    "fit_final_model", "ineffective_settings", "mark_completed", "run_experiment", "run_name",
]
