"""``python -m pipeline.train``: the Hydra entry point (the only module importing Hydra).

Composes ``conf/``, validates it, runs the experiment with MLflow tracking and
returns the objective metric (for sweepers such as Optuna). Examples::

    python -m pipeline.train                                  # defaults: MLP on breast cancer
    python -m pipeline.train model=logistic split=repeated_kfold
    python -m pipeline.train -m regularization=none,l2,dropout   # a sweep
"""

import logging
import math
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from .config import validate
from .experiment import run_experiment

log = logging.getLogger("biotab")
HEADLINE = ("auroc", "auprc", "brier", "calibration_slope", "sensitivity", "specificity",
            "macro_auroc", "accuracy", "rmse", "r2")


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float:
    """Run one configuration; return its objective (NaN when a sweep's job failed)."""
    debug = bool(cfg.get("debug", False))
    try:
        return _run(OmegaConf.to_container(cfg, resolve=True))
    except Exception as err:  # one readable line; the traceback only with debug=true
        if debug:
            raise
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        if _is_multirun():
            log.error("job failed (the sweep goes on): %s", err)
            return math.nan
        sys.exit(1)


def _run(raw):
    config = validate(raw)
    tracker, where = _tracker(config)
    result = run_experiment(config, tracker)
    _print_summary(result, where)
    return result.objective


def _tracker(config):
    if not config.tracking.enabled:
        return None, None
    from . import tracking  # imports mlflow (~1 s): only when tracking is on

    uri = tracking.resolve_tracking_uri(config.tracking.uri)
    experiment = config.tracking.experiment or config.dataset["name"]
    tracking.ensure_experiment(experiment, uri)
    return tracking.Tracker(uri, experiment, tags=tracking.runtime_tags()), (uri, experiment)


def _print_summary(result, where):
    print(f"\n{result.run_name}  ({result.task}, {len(result.folds)} folds)")
    for name in HEADLINE:
        if name in result.pooled:
            stats = result.pooled[name]
            print(f"  {name:<18} {stats['value']:.3f}  (95% CI {stats['ci_low']:.3f}-{stats['ci_high']:.3f})")
    if where:
        uri, experiment = where
        print(f"\nlogged to {uri}, experiment '{experiment}', run {result.run_id}")
        print("open it with: make ui   (then http://127.0.0.1:5000)")


def _is_multirun():
    try:
        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:  # not running under Hydra (e.g. called from a test)
        return False


if __name__ == "__main__":
    main()
