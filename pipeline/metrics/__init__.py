"""Clinical evaluation metrics with bootstrap confidence intervals.

Every metric is written once, as a *weighted* function ``f(y, pred, w) -> (b,)``
where ``w`` has shape ``(b, n)``: row ``j`` says how many times each of the ``n``
rows appears in bootstrap resample ``j``. Drawing rows with replacement is the
same as drawing such counts, so one vectorized pass evaluates all resamples at
once, and the point estimate is the same function with ``w = ones((1, n))``: the
number tested against scikit-learn comes from the very code that makes the
confidence interval.

Where to look: names, tasks and directions (``registry``), AUROC and AUPRC
(``ranking``), calibration intercept and slope (``calibration``), threshold metrics,
threshold choice and decision curves (``thresholds``), the per-task tables and point
values (``scores``), smoothed calibration ICI/E50/E90 and curve (``smoothed``), resamples as
weights (``resampling``), interval methods (``intervals``), bootstrapping every metric at
once (``bootstrap``), input checks (``checks``).

Conventions
-----------
* Binary labels are 0/1 and ``prob`` is P(y = 1). A row is predicted positive
  when ``prob >= threshold`` (scikit-learn's ``roc_curve`` convention).
* Multiclass labels are integer codes ``0..K-1`` indexing the columns of ``proba``.
* Log loss clips probabilities to ``[eps, 1 - eps]`` (float64 machine epsilon), as
  scikit-learn does; the calibration fits clip to ``[1e-15, 1 - 1e-15]``.

Undefined metrics are ``nan``, never an exception
-------------------------------------------------
* AUROC, balanced accuracy, calibration intercept/slope, MCC: ``nan`` when
  ``y_true`` holds one class only. AUPRC and sensitivity: ``nan`` without
  positives; specificity: ``nan`` without negatives.
* PPV: ``nan`` when nothing is predicted positive; NPV: ``nan`` when nothing is
  predicted negative. F1 = 2TP / (2TP + FP + FN): ``nan`` only when there are
  neither positives nor positive predictions.
* MCC: ``nan`` whenever a margin of the confusion matrix is empty
  (scikit-learn returns 0 there).
* Calibration intercept/slope: ``nan`` when the logistic fit has no finite
  maximum (perfect separation by ``logit(p)``, or constant predictions for the slope).
* Macro AUROC: ``nan`` when any class is absent from ``y_true``. Macro F1 leaves
  out classes that are neither present nor predicted, as scikit-learn does.
* R²: ``nan`` when ``y_true`` is constant (scikit-learn returns 0 or 1 there).

Bootstrap resamples on which a metric is undefined are skipped, counted
(``n_degenerate``) and reported in a logged warning; the interval (BCa by default,
see ``intervals``) uses the remaining ones.
"""

from .bootstrap import bootstrap_ci, evaluate, evaluate_repeats, paired_bootstrap_difference
from .checks import check_binary, check_multiclass
from .intervals import DEFAULT_INTERVAL, INTERVALS
from .registry import (
    BINARY_METRICS,
    METRICS,
    MULTICLASS_METRICS,
    OBJECTIVES,
    REGRESSION_METRICS,
    TASKS,
    direction,
    lower_is_better,
    task_metrics,
)
from .scores import auprc, auroc, binary_metrics, multiclass_metrics, regression_metrics
from .smoothed import smoothed_curve
from .thresholds import DEFAULT_THRESHOLDS, THRESHOLD_METHODS, choose_threshold, decision_curve, net_benefit

__all__ = [
    "BINARY_METRICS", "DEFAULT_INTERVAL", "DEFAULT_THRESHOLDS", "INTERVALS", "METRICS",
    "MULTICLASS_METRICS", "OBJECTIVES", "REGRESSION_METRICS", "TASKS", "THRESHOLD_METHODS",
    "auprc", "auroc", "binary_metrics", "bootstrap_ci", "check_binary", "check_multiclass",
    "choose_threshold", "decision_curve", "direction", "evaluate", "evaluate_repeats",
    "lower_is_better", "multiclass_metrics", "net_benefit", "paired_bootstrap_difference",
    "regression_metrics", "smoothed_curve", "task_metrics",
]
