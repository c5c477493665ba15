"""Config group files read as plain dicts: the one source of every default.

Hydra composes ``conf/`` for a run; code that is called without Hydra (the dataset and
preprocessing modules used from a script or a test, the dataset command line) reads the
same files here, so no default is written twice. A group's shared keys live in its
``_base.yaml`` (a table-reading dataset's in ``dataset/_table.yaml``), which the options
pull in through their defaults list; :func:`option` follows that list.
"""

from __future__ import annotations

import functools
from pathlib import Path

from . import PROJECT_ROOT

CONF_DIR = PROJECT_ROOT / "conf"


def option_names(group: str) -> list[str]:
    """The selectable options of ``conf/<group>/`` (base files, starting with ``_``, left out)."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml") if not p.stem.startswith("_"))


def option(group: str, name: str) -> dict:
    """``conf/<group>/<name>.yaml`` with the group files in its defaults list merged under it.

    Raises ``FileNotFoundError`` for a file that does not exist.
    """
    return _merged(CONF_DIR / group / f"{name}.yaml")


@functools.cache
def _read(path: Path) -> dict:
    import yaml  # PyYAML comes with Hydra's OmegaConf; imported here for a fast package import

    if not path.is_file():
        raise FileNotFoundError(path)
    return yaml.safe_load(path.read_text()) or {}


def _merged(path: Path) -> dict:
    content = dict(_read(path))
    merged: dict = {}
    for entry in content.pop("defaults", ["_self_"]):
        if entry == "_self_":
            merged.update(content)
        elif isinstance(entry, str):  # a file of the same group, e.g. "_base"
            merged.update(_merged(path.parent / f"{entry}.yaml"))
        # else: {"override /group@...": option}, a choice of another group (not merged here)
    if "_self_" not in _read(path).get("defaults", ["_self_"]):
        merged.update(content)
    return {key: _copy(value) for key, value in merged.items()}


def _copy(value):
    """Lists and dicts copied, so callers may change what they get."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
