"""``python -m pipeline.train``: the Hydra entry point.

Composes ``conf/``, validates it, runs one configuration and returns its objective (for
sweepers such as Optuna). The sweep machinery lives in :mod:`pipeline.launch`. Examples::

    python -m pipeline.train                                     # defaults: MLP on breast cancer
    python -m pipeline.train model=logistic split=repeated_kfold
    python -m pipeline.train experiment=lr_vs_mlp hydra/launcher=joblib   # a sweep file
    python -m pipeline.train -m regularization=none,l2,dropout           # an ad-hoc sweep
"""

import logging
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from . import PROJECT_ROOT
from .config import ConfigError, validate
from .errors import stored_reason
from .launch import signals
from .launch.context import SweepNotOpened, is_multirun, sweep_run_id, swept_values
from .launch.job import experiment_name, finished_before, open_tracker, print_summary, record_invalid_config
from .launch.workers import lasting_imports
from .metrics.registry import direction

log = logging.getLogger("biotab")

# The Optuna sweeper's direction follows the objective (conf/hparams_search/optuna.yaml).
OmegaConf.register_new_resolver("direction_of", direction, replace=True)


@hydra.main(version_base="1.3", config_path=str(PROJECT_ROOT / "conf"), config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Run one configuration and return its objective.

    A failed job of a sweep returns None instead of raising, so the other jobs go on
    (Hydra's basic sweeper stops at a raising job); Optuna records it as a failed trial.
    """
    signals.install()  # in this job's process (a launcher's worker, or this one)
    debug = bool(cfg.get("debug", False))
    raw = OmegaConf.to_container(cfg, resolve=True)
    try:
        return run(raw)
    except Exception as err:  # one readable line; the traceback only with debug=true
        if debug:
            raise
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        if is_multirun():
            if isinstance(err, SweepNotOpened):
                log.error("job not started: %s", stored_reason(err))
            else:
                log.error("job failed (the sweep goes on): %s", stored_reason(err))
            return None
        sys.exit(1)


def run(raw: dict) -> float:
    """Validate the composed configuration ``raw``, run it, print its summary and return
    its objective."""
    with lasting_imports():  # pandas and scikit-learn: for the jobs, not a sweep's launcher
        from .experiment import run_experiment

    try:
        config = validate(raw)
    except ConfigError as err:
        record_invalid_config(raw, err)
        raise
    parent = sweep_run_id()  # in a sweep: its run, which a worker may still be opening
    tracker, where = open_tracker(config.tracking.enabled, config.tracking.uri,
                                  experiment_name(config.tracking.experiment, config.dataset))
    done = finished_before(config, where)  # resume=...: what the sweep finished is kept
    if done is not None:
        return done
    result = run_experiment(config, tracker, parent_run_id=parent, swept=swept_values())
    print_summary(result, where)
    return result.objective


if __name__ == "__main__":
    # The imported module's main, not this __main__ copy's: the joblib launcher sends the
    # task function to a worker with every job, and functions of __main__ travel by value
    # (their code and globals pickled and rebuilt each time) instead of by name.
    import os

    from hydra.errors import HydraException

    from pipeline.errors import killed_reason
    from pipeline.launch import overrides as imported_overrides
    from pipeline.launch import signals as imported_signals
    from pipeline.train import main as imported_main

    os.environ.setdefault("HYDRA_FULL_ERROR", "1")  # Hydra's own errors reach the handler below
    imported_signals.install()
    try:
        imported_main()
    except KeyboardInterrupt as interrupt:  # the open runs were closed KILLED on the way out
        imported_signals.close_all()
        print(f"\n{killed_reason(interrupt)}: the open runs were closed as KILLED", file=sys.stderr)
        sys.exit(imported_signals.exit_code(interrupt))
    except HydraException as err:  # the command line or conf/ could not be composed
        print(f"error: {imported_overrides.explain(err, sys.argv[1:])}", file=sys.stderr)
        sys.exit(1)
    finally:
        imported_signals.close_all()
