"""Worker processes: warmed up before a sweep's jobs (imports, tracking), and heavy imports
kept out of the garbage collector's way."""

from __future__ import annotations

import contextlib
import gc
import importlib
import sys

from omegaconf import DictConfig

from .plugins import is_joblib, joblib_parallel_arguments


def in_worker(launcher: DictConfig, tracking: dict, task=None, *args):
    """``task(*args)`` in a worker of the joblib launcher, every worker warming up for the
    jobs meanwhile (see :func:`warm_up`); in this process for other launchers."""
    results = in_workers(launcher, tracking, *([(task, *args)] if task else []))
    return results[0] if task else None


def in_workers(launcher: DictConfig, tracking: dict, *calls) -> list:
    """Each ``(task, *args)`` of ``calls`` at once, in workers of the joblib launcher (the
    others warming up for the jobs meanwhile); one after the other in this process for
    other launchers. Returns their results, in order.

    joblib keeps its loky worker pool alive between ``Parallel`` calls made with the same
    arguments, so the launcher's own call then reuses these warm workers.
    """
    if not is_joblib(launcher):
        return [task(*args) for task, *args in calls]
    from joblib import Parallel, delayed, effective_n_jobs

    arguments = joblib_parallel_arguments(launcher)
    n_workers = effective_n_jobs(arguments["n_jobs"])
    jobs = [delayed(warm_up)(tracking, task, *args) for task, *args in calls]
    jobs += [delayed(warm_up)(tracking) for _ in range(n_workers - len(calls))]
    return Parallel(**arguments)(jobs)[:len(calls)]


def warm_up(tracking: dict, task=None, *args):
    """Run ``task(*args)`` (if any), then do the once-per-process work of a job's first run
    (imports: ~3 s); return the task's result. ``tracking``: the config's tracking block."""
    with lasting_imports():
        result = task(*args) if task else None
        importlib.import_module("pipeline.experiment")
        if tracking["enabled"]:
            importlib.import_module("pipeline.tracking").warm_up(tracking["uri"])
    return result


@contextlib.contextmanager
def lasting_imports():
    """For heavy imports, whose ~340,000 objects (pandas, scikit-learn, mlflow) live as long
    as the process: no garbage collection while they run (~0.7 s of ~3.5 s, freeing
    nothing), and what they created frozen before collections resume, so that no later
    collection sweeps it again (a single run spent 0.8 s of its 4.8 s so; loky, without
    psutil, collects fully after every job: ~0.17 s each). A block that imported nothing
    freezes nothing: that would keep a job's own objects alive for good.
    """
    enabled, n_modules = gc.isenabled(), len(sys.modules)
    gc.disable()
    try:
        yield
        if len(sys.modules) > n_modules:
            gc.freeze()  # no gc.collect() first: it took 0.25 s to find about ten objects
    finally:
        if enabled:
            gc.enable()
