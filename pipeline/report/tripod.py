"""A TRIPOD+AI-style summary (data, missing data, model and tuning, internal validation,
performance), written from the best configuration's typed settings and the runs' tags."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import ExperimentConfig
from .clinical import tripod_sections
from .comparison import OutOfFold
from .leaderboard import board_metrics, mean_sd, num, varied_params

NOT_RECORDED = "not recorded"


def tripod_summary(c) -> list[tuple[str, list[str]]]:
    """Headed paragraphs describing the best configuration of report context ``c`` and what
    varied across the others."""
    if not c.ranked:
        return [("Summary", ["No configuration finished, so there is nothing to summarise."])]
    best, config = c.ranked[0], c.best_config
    varied = varied_params(c.runs)
    if config is None:
        return [("Summary", [f"The best run ({best['run_id']}) has no readable config.yaml "
                             "artifact, so its settings cannot be summarised."]),
                ("Performance", _performance_text(c, best)), *tripod_sections(c)]
    return [
        ("Data and outcome", _data_text(c, best, config)),
        ("Missing data", _missing_text(config, varied)),
        ("Model and tuning", _model_text(c, best, config, varied)),
        ("Internal validation", _validation_text(config, c.task)),
        ("Performance", _performance_text(c, best)),
        *tripod_sections(c),  # recalibration, importance, subgroups, external validation
    ]


def _data_text(c, best: dict, config: ExperimentConfig) -> list[str]:
    dataset = config.dataset
    datasets = {r["tags"].get("dataset", "?"): r["tags"].get("n_rows", "?") for r in c.ranked}
    if len(datasets) > 1:
        listed = ", ".join(f"{name} ({rows} rows)" for name, rows in datasets.items())
        text = [f"Datasets: {listed}. Rankings across different datasets do not compare like with like."]
    else:
        fp = best["tags"].get("dataset_fingerprint", "")
        source = f" (file {Path(str(dataset['path'])).name})" if dataset.get("path") else ""
        text = [f"Dataset: {best['tags'].get('dataset', '?')}{source}, {best['tags'].get('n_rows', '?')} "
                "rows" + (f"; content fingerprint {fp[:12]}." if fp else ".")]
    if dataset.get("target"):
        positive = dataset.get("positive_label")
        text.append(f"Outcome column: {dataset['target']}"
                    + (f", positive label {positive}." if positive is not None else "."))
    text.append(f"Task: {best['tags'].get('task', '?')}." + _balance(c.task, c.oof.get(best["run_id"])))
    if dataset.get("group_column"):
        text.append(f"Rows are grouped by {dataset['group_column']} (patient/subject).")
    if dataset.get("missing_target"):
        text.append(f"Rows with a missing outcome: {dataset['missing_target']}.")
    return text


def _balance(task: str, oof: OutOfFold | None) -> str:
    if oof is None or task not in ("binary", "multiclass"):
        return ""
    codes, counts = np.unique(oof.y, return_counts=True)
    if task == "binary":
        positive = int(counts[codes == 1].sum())
        return (f" Class balance: {positive} of {oof.y.size} patients positive "
                f"({positive / oof.y.size:.1%}).")
    return " Class counts: " + ", ".join(f"class {k}: {n}" for k, n in zip(codes, counts)) + "."


def _missing_text(config: ExperimentConfig, varied: list[str]) -> list[str]:
    pre = config.preprocess
    imputer = pre["numeric_imputer"]
    detail = {"constant": f" (fill value {pre['fill_value']})",
              "knn": f" ({pre['knn_neighbors']} neighbours)",
              "iterative": f" ({pre['iterative_max_iter']} rounds)"}.get(imputer, "")
    text = [f"Numeric predictors: {imputer} imputation{detail}; categorical predictors: "
            f"{pre['categorical_imputer']} imputation; "
            + ("a missing-value indicator is added for each predictor with gaps in training."
               if pre["add_indicator"] else "no missing-value indicators."),
            "Imputation is fitted on the training part of each fold only."]
    zeros = config.dataset.get("zero_as_missing")
    if zeros:
        text.append(f"Zeros are treated as missing in {', '.join(map(str, zeros))}.")
    swept = [k for k in varied if k.startswith("preprocess.")]
    if swept:
        text.append(f"Preprocessing settings that varied across configurations: {', '.join(swept)}.")
    return text


def _model_text(c, best: dict, config: ExperimentConfig, varied: list[str]) -> list[str]:
    model, opt, reg, pre = config.model, config.optimizer, config.regularization, config.preprocess
    label = c.board.loc[c.board["run_id"] == best["run_id"], "label"].iloc[0]
    if not model.hidden_layer_sizes:
        family = "logistic regression (a network with no hidden layer)"
    else:
        family = (f"multilayer perceptron, hidden layers {list(model.hidden_layer_sizes)}, "
                  f"{model.activation} activation")
    batch = "full batch" if opt.batch_size is None else f"batch size {opt.batch_size}"
    stopping = (f"on the inner validation loss (patience {reg.patience})." if reg.early_stopping
                else "off.")
    text = [f"Best configuration: {label} — {family}.",
            f"Loss {config.loss.name}; optimizer {opt.name} (update rule {opt.rule}, learning rate "
            f"{opt.learning_rate:g}, {batch}, up to {opt.max_epochs} epochs, {opt.schedule.name} "
            "schedule).",
            f"Regularization: L1 {reg.l1:g}, L2 {reg.l2:g}, dropout {reg.dropout:g}, early stopping "
            + stopping,
            f"Preprocessing: {pre['scaler']} scaling, {pre['encoder']} encoding, polynomial degree "
            f"{pre['polynomial_degree']}, class imbalance handling {pre['imbalance']}."]
    return text + [_tuning_text(c, varied)]


def _tuning_text(c, varied: list[str]) -> str:
    failed = len(c.runs) - len(c.ranked)
    tuning = f"{len(c.runs)} configurations were compared ({len(c.ranked)} finished, {failed} did not)."
    if varied:
        values = {k: list(dict.fromkeys(r["params"].get(k, "") for r in c.runs if r["params"]))
                  for k in varied}
        tuning += " What varied: " + "; ".join(f"{k} ∈ {{{', '.join(v)}}}" for k, v in values.items()) + "."
    if len(c.ranked) > 1:
        tuning += (f" The best was chosen by pooled out-of-fold {c.metric} on the same folds that "
                   "estimate its performance (no nested cross-validation), so its estimate is "
                   "optimistic.")
    return tuning


def _validation_text(config: ExperimentConfig, task: str) -> list[str]:
    split = config.split
    name, k = split["name"], split.get("n_splits")
    stratified = "stratified " if task in ("binary", "multiclass") else ""
    protocol = {
        "kfold": f"{stratified}{k}-fold cross-validation",
        "repeated_kfold": f"{stratified}{k}-fold cross-validation repeated {split.get('n_repeats')} "
                          "times (out-of-fold predictions averaged over repeats per patient)",
        "group_kfold": f"{stratified}grouped {k}-fold cross-validation (no subject in two folds)",
        "holdout": f"one {stratified}hold-out test set ({split.get('test_fraction')} of the rows)",
    }.get(name, f"split protocol {name}")
    uses = "early stopping, learning curves" + (", threshold choice" if task == "binary" else "")
    return [f"Outer validation: {protocol}, seed {config.seed}.",
            f"A share of {split['validation_fraction']} of each training part is held out as "
            f"an inner validation set ({uses}); preprocessing is fitted on the training part only.",
            f"95% confidence intervals: percentile bootstrap ({config.n_bootstrap} resamples) of "
            "the pooled out-of-fold predictions; mean ± sd across folds is also reported."]


def _performance_text(c, best: dict) -> list[str]:
    row = c.board[c.board["run_id"] == best["run_id"]].iloc[0]
    text = [f"{m}: {num(row[m])} (95% CI {num(row[f'{m}_ci_low'])} to {num(row[f'{m}_ci_high'])}); "
            f"fold mean {mean_sd(row, m)}" for m in board_metrics(c.board)]
    tuned = [m for m in ("sensitivity_tuned", "specificity_tuned") if m in best["metrics"]]
    if tuned:
        text.append("At the threshold chosen on the inner validation parts: " + ", ".join(
            f"{m.removesuffix('_tuned')} {num(best['metrics'][m])} (95% CI "
            f"{num(best['metrics'].get(m + '_ci_low'))} to {num(best['metrics'].get(m + '_ci_high'))})"
            for m in tuned) + ".")
    if c.clinical is not None and c.clinical.validations:
        text.append("These figures are internal validation (development and evaluation on the same "
                    "data source); external validation on other tables follows below. Clinical "
                    "usefulness is not established by this report.")
        return text
    text.append("This is internal validation only: development and evaluation used the same data "
                "source. Performance in other hospitals, populations or periods (external "
                "validation), and clinical usefulness, are not established by this report.")
    return text
