"""Composing ``conf/`` outside a Hydra app (``python -m pipeline.validate``): the same files
and override syntax as ``python -m pipeline.train``, returned as a plain dict."""

from __future__ import annotations

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import OmegaConf

from ..defaults import CONF_DIR
from ..errors import ConfigError


def compose_config(overrides: list[str]) -> dict:
    """``conf/config.yaml`` with Hydra ``overrides`` (``dataset=pima``, ``dataset.path=...``),
    resolved; a bad override raises :class:`ConfigError` with Hydra's reason."""
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose("config", overrides=list(overrides))
    except HydraException as err:
        raise ConfigError(f"cannot compose the configuration with {' '.join(overrides)}: "
                          f"{str(err).splitlines()[0]}") from None
    return OmegaConf.to_container(cfg, resolve=True)
