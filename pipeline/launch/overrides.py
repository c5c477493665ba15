"""Command-line overrides that Hydra refuses, explained in biotab's words: a misspelt key
gets the one "did you mean" of :mod:`pipeline.errors` instead of Hydra's advice to add ``+``."""

from __future__ import annotations

import re

from ..config import validate
from ..errors import ConfigError
from .compose import compose_config
from .context import split_override


def explain(err: Exception, argv: list[str]) -> str:
    """One message for an error Hydra raised while composing the command line ``argv``."""
    match = re.match(r"Could not override '([^']+)'", str(err))
    if match:
        found = _misspelt(match.group(1), [a for a in argv if "=" in a and not a.startswith("-")])
        if found:
            return found
    return str(err).split("\nConfig search path")[0].strip()  # the search path: noise here


def _misspelt(key: str, overrides: list[str]) -> str | None:
    """Validate the configuration with ``key`` added where it was asked for: the schema names
    the unknown key and its closest known ones."""
    others = [o for o in overrides if split_override(o)[0] != key and not o.startswith("hydra")]
    try:
        raw = compose_config(others)
    except ConfigError:
        return None
    *parents, leaf = key.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {}) if isinstance(node, dict) else {}
    if isinstance(node, dict):
        node[leaf] = None
    try:
        validate(raw)
    except ConfigError as refused:
        return f"{refused} (A key that conf/ does not have needs a leading +: +{key}=...)"
    return None
