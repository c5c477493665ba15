"""Adapters around private APIs of Hydra's launcher plugins, each commented with why.

Checked against hydra-joblib-launcher 1.2 (pinned in pyproject.toml).
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf


def is_joblib(launcher: DictConfig) -> bool:
    return str(launcher.get("_target_", "")).endswith("JoblibLauncher")


def joblib_parallel_arguments(launcher: DictConfig) -> dict:
    """The arguments the joblib launcher gives ``joblib.Parallel``, built by its own private
    ``process_joblib_cfg``: a ``Parallel`` made with exactly these reuses the same loky worker
    pool, so workers warmed up before the sweep are the ones that run its jobs."""
    from hydra_plugins.hydra_joblib_launcher._core import process_joblib_cfg

    arguments = {k: v for k, v in OmegaConf.to_container(launcher, resolve=True).items()
                 if k != "_target_"}
    arguments["backend"] = "loky"  # exactly as the launcher builds its Parallel
    process_joblib_cfg(arguments)
    return arguments
