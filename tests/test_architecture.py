"""The layout's rules, checked over the whole package: who may import what, how long a module
may grow, and that the registries, the config schema and conf/ name the same things."""

import ast
import sys
import typing
from pathlib import Path

import pytest
import yaml

from pipeline import PROJECT_ROOT, config
from pipeline.core.activations import TRAINABLE_ACTIVATIONS
from pipeline.core.losses import LOSS_NAMES
from pipeline.core.optimizers import OPTIMIZERS
from pipeline.core.schedules import SCHEDULES
from pipeline.defaults import option, option_names
from pipeline.metrics import registry
from pipeline.metrics.scores import metric_table

PACKAGE = PROJECT_ROOT / "pipeline"
MAX_LINES = 450

# (who, what it may not import): the import rules of DESIGN.md.
FORBIDDEN = [
    ("pipeline.core", "anything but numpy and the standard library"),
    ("everything but pipeline.tracking", "mlflow"),
    ("everything but pipeline.train and pipeline.launch", "hydra, omegaconf"),
    ("pipeline.experiment", "pipeline.tracking, pipeline.report, pipeline.launch, pipeline.train"),
    ("pipeline.tracking", "pipeline.report, pipeline.launch, pipeline.experiment, pipeline.train"),
    ("pipeline.report", "pipeline.launch, pipeline.experiment, pipeline.train"),
    ("data, preprocessing, splits, metrics, plots, svg, estimators, config, errors, defaults",
     "pipeline.tracking, pipeline.report, pipeline.launch, pipeline.experiment, pipeline.train"),
]
LOWER_LAYERS = ("pipeline.data", "pipeline.preprocessing", "pipeline.splits", "pipeline.metrics",
                "pipeline.plots", "pipeline.svg", "pipeline.estimators", "pipeline.config",
                "pipeline.errors", "pipeline.defaults")
UPPER_LAYERS = ("pipeline.tracking", "pipeline.report", "pipeline.launch", "pipeline.experiment",
                "pipeline.train")


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def _imports(module: str, path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}
    return names


def _within(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _violations() -> list[str]:
    found = []
    for module, path in _modules():
        for name in _imports(module, path):
            top = name.split(".")[0]
            if _within(module, ["pipeline.core"]) and not (
                    top in ("numpy", "__future__") or top in sys.stdlib_module_names
                    or _within(name, ["pipeline.core"])):
                found.append(f"{module} imports {name}")
            if top == "mlflow" and not _within(module, ["pipeline.tracking"]):
                found.append(f"{module} imports {name}")
            if top in ("hydra", "omegaconf", "hydra_plugins") and not _within(
                    module, ["pipeline.train", "pipeline.launch"]):
                found.append(f"{module} imports {name}")
            rules = {"pipeline.experiment": UPPER_LAYERS[:4] + ("pipeline.train",),
                     "pipeline.tracking": UPPER_LAYERS[1:],
                     "pipeline.report": ("pipeline.launch", "pipeline.experiment", "pipeline.train")}
            for owner, banned in rules.items():
                if _within(module, [owner]) and _within(name, [b for b in banned if b != owner]):
                    found.append(f"{module} imports {name}")
            if _within(module, LOWER_LAYERS) and _within(name, UPPER_LAYERS):
                found.append(f"{module} imports {name}")
    return sorted(set(found))


def test_import_rules_hold_over_the_whole_package():
    assert _violations() == [], "\n".join(f"{who}: no {what}" for who, what in FORBIDDEN)


def test_the_rule_checker_sees_a_violation(tmp_path, monkeypatch):
    """A module that breaks a rule is reported: the test above has teeth."""
    (tmp_path / "pipeline" / "experiment").mkdir(parents=True)
    (tmp_path / "pipeline" / "experiment" / "bad.py").write_text(
        "import mlflow\nfrom ..tracking import Tracker\nfrom hydra import compose\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "pipeline")
    monkeypatch.setattr(sys.modules[__name__], "PROJECT_ROOT", tmp_path)
    found = _violations()
    assert "pipeline.experiment.bad imports mlflow" in found
    assert "pipeline.experiment.bad imports hydra" in found
    assert "pipeline.experiment.bad imports pipeline.tracking" in found


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_above_the_size_limit(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


# --- one source for every name --------------------------------------------------------------


def _literal(hint) -> set:
    return set(typing.get_args(hint))


def test_schema_names_come_from_the_registries():
    classes = (config.ModelConfig, config.LossConfig, config.OptimizerConfig, config.ScheduleConfig,
               config.ExperimentConfig)
    hints = {cls: typing.get_type_hints(cls) for cls in classes}
    assert _literal(hints[config.ModelConfig]["activation"]) == set(TRAINABLE_ACTIVATIONS)
    assert _literal(hints[config.LossConfig]["name"]) == {n for names in LOSS_NAMES.values() for n in names}
    assert _literal(hints[config.OptimizerConfig]["rule"]) == set(OPTIMIZERS)
    assert _literal(hints[config.ScheduleConfig]["name"]) == set(SCHEDULES)
    assert _literal(hints[config.ExperimentConfig]["objective"]) == set(registry.OBJECTIVES)


def test_conf_options_cover_the_registries():
    rules = {option("optimizer", name)["rule"] for name in option_names("optimizer")}
    assert rules == set(OPTIMIZERS), "every update rule has a conf/optimizer option, and only those"
    losses = {option("loss", name)["name"] for name in option_names("loss")}
    assert losses == {n for names in LOSS_NAMES.values() for n in names}
    sweep = yaml.safe_load((PROJECT_ROOT / "conf" / "experiment" / "activation.yaml").read_text())
    swept = sweep["hydra"]["sweeper"]["params"]["model.activation"].split(",")
    assert set(swept) == set(TRAINABLE_ACTIVATIONS)


@pytest.mark.parametrize("task", registry.TASKS)
def test_the_metrics_table_names_every_computed_metric(task):
    assert list(metric_table(task)) == list(registry.task_metrics(task))


def test_every_objective_has_a_direction_and_calibration_has_none():
    assert registry.direction("auroc") == "maximize" and registry.direction("brier") == "minimize"
    assert registry.direction("log_loss") == "minimize" and registry.direction("r2") == "maximize"
    with pytest.raises(ValueError, match="cannot be an objective"):
        registry.direction("calibration_slope")


@pytest.mark.parametrize("group", ["dataset", "preprocess", "split", "model", "optimizer",
                                   "regularization", "tracking", "calibration", "evaluation"])
def test_options_repeat_no_default_of_their_base_file(group):
    for name in option_names(group):
        own = yaml.safe_load((PROJECT_ROOT / "conf" / group / f"{name}.yaml").read_text())
        bases = [b for b in own.get("defaults", []) if isinstance(b, str) and b != "_self_"]
        shared = {}
        for base in bases:
            shared.update(yaml.safe_load((PROJECT_ROOT / "conf" / group / f"{base}.yaml").read_text()))
        repeated = {k for k, v in own.items()
                    if k not in ("name", "defaults") and k in shared and shared[k] == v}
        assert not repeated, f"conf/{group}/{name}.yaml repeats {sorted(repeated)} of its base file"
