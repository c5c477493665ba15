"""Comparison report: a mini sweep (logistic, MLP, MLP with L2, one FAILED configuration)
is logged once per module to a temporary SQLite store, then read back.

The report's numbers must equal what the runs logged, exactly.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from mlflow import MlflowClient
from omegaconf import OmegaConf

from pipeline import PROJECT_ROOT, report, tracking
from pipeline.config import validate
from pipeline.experiment import run_experiment
from pipeline.report.__main__ import main as report_main

MLFLOW_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID")
SWEEP = "test-sweep"
CONFIGURATIONS = (["model=logistic", "regularization=dropout"], ["model=mlp", "regularization=none"],
                  ["model=mlp", "regularization=l2"])
BINARY_MAIN = report.MAIN_METRICS["binary"]
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(autouse=True)
def clean_mlflow_env(monkeypatch):
    """A developer's MLFLOW_* variables must not redirect the runs under test."""
    for name in MLFLOW_ENV:
        monkeypatch.delenv(name, raising=False)


def _config(uri: str, overrides: list[str]):
    """A sweep's job; every one computes importance (no sweep end here adds it to the best)."""
    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[*overrides, "optimizer.max_epochs=5", "n_bootstrap=50",
                                           f"sweep_id={SWEEP}", f"tracking.uri={uri}",
                                           "tracking.log_model=false", "sweep_details=all"])
    return validate(OmegaConf.to_container(cfg, resolve=True))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Three configurations and a failed one under a sweep run; an older empty sweep; and a
    configuration of another sweep in the same experiment (which must stay out)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in MLFLOW_ENV:
            patch.delenv(name, raising=False)
        directory = tmp_path_factory.mktemp("report_store")
        uri = f"sqlite:///{directory / 'mlflow.db'}"
        empty_run = tracking.start_sweep(uri, "breast_cancer", "empty-sweep", "sweep (empty)", "")
        sweep_run = tracking.start_sweep(uri, "breast_cancer", SWEEP, "sweep model", "model=...")
        tracker = tracking.Tracker(uri, "breast_cancer", tags={})
        results = [run_experiment(_config(uri, overrides), tracker, parent_run_id=sweep_run)
                   for overrides in CONFIGURATIONS]
        with pytest.raises(RuntimeError), tracker.run(
                "broken | configuration", tags={"biotab.role": "configuration", "sweep_id": SWEEP},
                parent=sweep_run) as failed:
            raise RuntimeError("training diverged: loss is NaN")
        with tracker.run("elsewhere", tags={"biotab.role": "configuration", "sweep_id": "other"}) as other:
            other.log_metrics({"auroc": 0.5, "auroc_ci_low": 0.4, "auroc_ci_high": 0.6})
        yield SimpleNamespace(uri=uri, sweep_run=sweep_run, empty_run=empty_run, results=results,
                              failed=failed.run_id, other=other.run_id, dir=directory)


@pytest.fixture(scope="module")
def built(sweep):
    """The report of the sweep, built once."""
    return report.build_report(sweep.uri, sweep_id=SWEEP, out_dir=sweep.dir / "report")[0]


def _logged(uri: str, run_id: str) -> dict:
    return MlflowClient(uri).get_run(run_id).data.metrics


# --- leaderboard ------------------------------------------------------------------------


def test_leaderboard_lists_every_configuration_with_the_logged_numbers(sweep):
    board = report.leaderboard(sweep.uri, sweep_id=SWEEP)
    finished = {r.run_id for r in sweep.results}
    assert set(board["run_id"]) == finished | {sweep.failed}  # the other sweep's run stays out
    assert list(board["status"]) == ["FINISHED"] * 3 + ["FAILED"]
    assert list(board["rank"][:3]) == [1, 2, 3] and pd.isna(board["rank"][3])
    assert board["failure_reason"].iloc[3] == "RuntimeError: training diverged: loss is NaN"
    assert list(board["auroc"][:3]) == sorted(board["auroc"][:3], reverse=True)
    for row in board.iloc[:3].itertuples():
        logged = _logged(sweep.uri, row.run_id)
        for name in BINARY_MAIN:
            for column in (f"{name}_mean", f"{name}_sd", name, f"{name}_ci_low", f"{name}_ci_high"):
                assert getattr(row, column) == logged[column], column
    result = next(r for r in sweep.results if r.run_id == board["run_id"][0])
    assert board["auroc"][0] == result.pooled["auroc"]["value"]  # what the experiment computed
    assert set(report.varied_params([])) == set()
    assert {"model.name", "regularization.name"} <= set(board.columns)


@pytest.mark.parametrize("metric", ["brier", "log_loss"])
def test_sorting_by_a_loss_is_ascending(sweep, metric):
    board = report.leaderboard(sweep.uri, sweep_id=SWEEP, metric=metric)
    values = list(board.loc[board["status"] == "FINISHED", metric])
    assert values == sorted(values)
    assert list(board.columns[11:16]) == [f"{metric}_mean", f"{metric}_sd", metric,
                                         f"{metric}_ci_low", f"{metric}_ci_high"]


def test_calibration_slope_is_ranked_by_distance_from_one(sweep):
    board = report.leaderboard(sweep.uri, sweep_id=SWEEP, metric="calibration_slope")
    distance = list((board["calibration_slope"][:3] - 1).abs())
    assert distance == sorted(distance)


def test_unknown_metric_or_experiment_is_a_clear_error(sweep):
    with pytest.raises(ValueError, match="choose one of: .*auroc"):
        report.leaderboard(sweep.uri, sweep_id=SWEEP, metric="aurok")
    with pytest.raises(ValueError, match="no experiment named 'nope'.*breast_cancer"):
        report.leaderboard(sweep.uri, experiment="nope")
    with pytest.raises(ValueError, match="no sweep 'test-swep'.*Did you mean 'test-sweep'.*--list"):
        report.leaderboard(sweep.uri, sweep_id="test-swep")
    with pytest.raises(ValueError, match="top must be a positive integer"):
        report.build_report(sweep.uri, sweep_id=SWEEP, top=0, out_dir=sweep.dir / "unused")


def test_experiment_scope_and_empty_sweep(sweep):
    board = report.leaderboard(sweep.uri, experiment="breast_cancer")
    assert sweep.other in set(board["run_id"]) and len(board) == 5
    empty = report.leaderboard(sweep.uri, sweep_id="empty-sweep")
    assert empty.empty and report.format_leaderboard(empty) == "(no configuration runs)"
    with pytest.raises(ValueError, match="no configuration runs yet"):
        report.build_report(sweep.uri, sweep_id="empty-sweep", out_dir=sweep.dir / "unused")


def test_format_leaderboard(sweep):
    board = report.leaderboard(sweep.uri, sweep_id=SWEEP)
    text = report.format_leaderboard(board)
    best = board.iloc[0]
    assert f"{best['auroc_mean']:.3f} ± {best['auroc_sd']:.3f}" in text
    assert f"{best['auroc']:.3f} [{best['auroc_ci_low']:.3f}, {best['auroc_ci_high']:.3f}]" in text
    assert "FAILED: RuntimeError: training diverged" in text
    short = report.format_leaderboard(board, top=1)
    assert "and 2 more finished configurations" in short and "FAILED" in short
    with pytest.raises(ValueError, match="metric='mcc'"):
        report.format_leaderboard(board, metric="mcc")


def test_runs_sharing_a_name_get_distinct_labels():
    def run(run_id, lr, rule="adam"):
        return {"run_id": run_id, "run_name": "mlp adam", "status": "FINISHED", "experiment": "x",
                "tags": {"task": "binary"}, "metrics": {"auroc": 0.8, "auroc_ci_low": 0.7},
                "params": {"optimizer.name": rule, "optimizer.rule": rule, "optimizer.learning_rate": lr,
                           "tracking.uri": run_id}}

    runs = [run("a" * 32, "0.01"), run("b" * 32, "0.1"), run("c" * 32, "0.1", "sgd"), run("d" * 32, "0.1")]
    board = report.leaderboard_frame(runs, "auroc")
    # optimizer.rule follows optimizer.name; tracking settings never count as varied
    assert report.varied_params(runs) == ["optimizer.learning_rate", "optimizer.name"]
    labels = dict(zip(board["run_id"], board["label"]))
    assert labels["a" * 32] == "mlp adam (learning_rate=0.01, name=adam)"
    assert labels["b" * 32].endswith("[bbbbbbbb]") and labels["d" * 32].endswith("[dddddddd]")
    assert labels["c" * 32] == "mlp adam (learning_rate=0.1, name=sgd)"
    assert board["label"].is_unique


# --- the report ------------------------------------------------------------------------------


def test_build_report_writes_the_three_files_with_inline_figures(sweep, built):
    assert built == sweep.dir / "report"
    assert {p.name for p in built.iterdir()} == set(report.FILES)
    page = (built / "report.html").read_text()
    charts = [ET.fromstring(svg) for svg in re.findall(r"<figure>(.*?)</figure>", page, flags=re.S)]
    assert [chart.findtext(f"{SVG}title") for chart in charts] == [
        "Validation learning curves", "ROC curve", "Calibration",
        "Permutation importance (auroc)"]
    assert "<img" not in page and "src=" not in page and "href=" not in page  # self-contained
    board = report.leaderboard(sweep.uri, sweep_id=SWEEP)
    legends = [[t.text for t in chart.findall(f".//{SVG}g[@class='legend']/{SVG}text")] for chart in charts]
    assert legends[0] == list(board["label"][:3])  # every finished configuration
    best = legends[1][0]  # names are shortened in the middle to leave room for the number
    assert best.startswith(board["label"][0][:15]) and best.endswith(f"(AUROC {board['auroc'][0]:.3f})")
    for result in sweep.results:
        assert html.escape(result.run_name) in page and result.run_id in page
    assert html.escape("broken | configuration") in page and "training diverged" in page
    for heading in ("Data and outcome", "Missing data", "Model and tuning", "Internal validation",
                    "Performance"):
        assert f"<h3>{heading}</h3>" in page
    assert "internal validation only" in page and "569 rows" in page
    assert "model.name ∈ {logistic, mlp}" in page and "median imputation" in page
    # Predictors are named by the importance figure and the TRIPOD paragraph on it, never elsewhere.
    before_importance = page.split("<h2>Permutation importance")[0]
    assert "mean radius" not in before_importance and "Feature importance" in page


def test_paired_comparison_of_the_best_two_is_reported(sweep, built):
    page = (built / "report.html").read_text()
    board = report.leaderboard(sweep.uri, sweep_id=SWEEP)
    first, second = (html.escape(label) for label in board["label"][:2])
    assert f"auroc of {first} minus {second}:" in page
    assert "paired bootstrap with 50 resamples of the same 569 out-of-fold predictions" in page


def test_csv_and_markdown_numbers_equal_the_logged_metrics(sweep, built):
    csv = pd.read_csv(built / "leaderboard.csv")
    assert len(csv) == 4
    markdown = (built / "leaderboard.md").read_text()
    for result in sweep.results:
        logged = _logged(sweep.uri, result.run_id)
        row = csv[csv["run_id"] == result.run_id].iloc[0]
        line = next(line for line in markdown.splitlines() if result.run_id in line)
        for name in BINARY_MAIN:
            assert row[name] == logged[name] and row[f"{name}_sd"] == logged[f"{name}_sd"]
            assert (f"{logged[name]:.3f} [{logged[name + '_ci_low']:.3f}, "
                    f"{logged[name + '_ci_high']:.3f}]") in line
            assert f"{logged[name + '_mean']:.3f} ± {logged[name + '_sd']:.3f}" in line
    assert "- **broken | configuration** (FAILED, run" in markdown and "training diverged" in markdown


def test_a_setting_without_effect_is_noted_beside_its_configuration(sweep, built):
    """logistic x dropout (a crossed grid) equals logistic alone: every leaderboard says why."""
    logistic = next(r.run_id for r in sweep.results if r.run_name.startswith("logistic"))
    note = "regularization.dropout=0.2 has no effect: dropout acts on hidden units"
    csv = pd.read_csv(built / "leaderboard.csv", keep_default_na=False)
    assert [n.startswith(note) for n in csv["note"]] == list(csv["run_id"] == logistic)
    line = next(line for line in (built / "leaderboard.md").read_text().splitlines() if logistic in line)
    assert f"({note}" in line
    assert f"<br><small>{html.escape(note)}" in (built / "report.html").read_text()


def test_report_is_logged_on_the_sweep_run(sweep, built):
    logged = MlflowClient(sweep.uri).list_artifacts(sweep.sweep_run, "report")
    assert sorted(Path(a.path).name for a in logged) == sorted(report.FILES)
    assert MlflowClient(sweep.uri).list_artifacts(sweep.empty_run) == []


# --- out-of-fold predictions and the paired comparison --------------------------------------------


def test_read_oof_keeps_each_repeat_aligned_by_row(tmp_path):
    path = tmp_path / "oof.csv"
    pd.DataFrame({"row": [2, 0, 1, 1, 2, 0], "repeat": [0, 0, 0, 1, 1, 1],
                  "fold": [0, 0, 1, 1, 0, 0], "probability": [0.2, 0.9, 0.5, 0.6, 0.4, 0.7],
                  "label": [0, 1, 1, 1, 0, 1]}).to_csv(path)
    oof = report.read_oof(path)
    assert oof.rows.tolist() == [0, 1, 2] and oof.y.tolist() == [1, 1, 0]
    np.testing.assert_allclose(oof.predictions[0], [0.9, 0.5, 0.2])
    np.testing.assert_allclose(oof.predictions[1], [0.7, 0.6, 0.4])
    assert [f.tolist() for f in oof.folds] == [[0, 1, 0], [0, 1, 0]] and oof.clusters is None
    pd.DataFrame({"row": [0, 1, 1], "repeat": [0, 0, 1], "probability": [0.1, 0.2, 0.3],
                  "label": [0, 1, 1]}).to_csv(path)
    with pytest.raises(ValueError, match="repeats do not predict the same rows"):
        report.read_oof(path)


def test_paired_comparison_is_skipped_with_a_reason():
    def run(name, fingerprint="f" * 64):
        return {"run_name": name, "tags": {"dataset_fingerprint": fingerprint},
                "params": {"n_bootstrap": "20", "seed": "0"}}

    y = np.array([0, 1, 0, 1, 1, 0])
    folds = [np.zeros(6, int)]
    oof = report.OutOfFold(np.arange(6), y, [np.linspace(0.1, 0.9, 6)], folds, None)
    other_rows = report.OutOfFold(np.arange(1, 7), y, [np.linspace(0.1, 0.9, 6)], folds, None)
    assert "not evaluated on the same data" in report.paired_comparison(
        run("a"), run("b", "e" * 64), oof, oof, "binary")["skipped"]
    assert "rows differ (6 and 6 rows, 5 in common)" in report.paired_comparison(
        run("a"), run("b"), oof, other_rows, "binary")["skipped"]
    assert "b has no oof_predictions.csv" in report.paired_comparison(
        run("a"), run("b"), oof, None, "binary")["skipped"]
    assert "classification" in report.paired_comparison(run("a"), run("b"), oof, oof, "regression")["skipped"]
    same = report.paired_comparison(run("a"), run("b"), oof, oof, "binary")
    assert same["difference"] == 0 and same["n_boot"] == 20 and same["n"] == 6


# --- command line ---------------------------------------------------------------------------


def test_main_unknown_sweep_exits_nonzero_with_a_hint(sweep, capsys):
    assert report_main(["--uri", sweep.uri, "--sweep", "no-such-sweep"]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no sweep 'no-such-sweep'" in err and "--list" in err


def test_main_defaults_to_the_newest_sweep(sweep, tmp_path, capsys):
    assert report_main(["--uri", sweep.uri, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"report: {tmp_path / 'report.html'}" in out and "FAILED" in out
    assert SWEEP in (tmp_path / "leaderboard.md").read_text()
    assert report_main(["--uri", sweep.uri, "--list"]) == 0
    listing = capsys.readouterr().out
    assert listing.index(SWEEP) < listing.index("empty-sweep")  # newest first


def test_main_refuses_a_missing_store_without_creating_it(tmp_path, capsys):
    store = tmp_path / "missing.db"
    assert report_main(["--uri", f"sqlite:///{store}"]) == 1
    assert "no MLflow store" in capsys.readouterr().err and not store.exists()


def test_runs_of_another_table_are_never_ranked_with_the_others():
    def run(i, fingerprint, auroc):
        return {"run_name": f"c{i}", "run_id": f"r{i}", "status": "FINISHED", "experiment": "bc",
                "tags": {"dataset_fingerprint": fingerprint, "task": "binary"}, "params": {"seed": str(i)},
                "metrics": {"auroc": auroc, "auroc_ci_low": auroc - 0.05, "auroc_ci_high": auroc + 0.02}}

    board = report.leaderboard_frame([run(0, "a" * 64, 0.80), run(1, "b" * 64, 0.99),
                                      run(2, "a" * 64, 0.85)], "auroc")
    ranked = board[board["status"] == "FINISHED"]
    assert ranked["run_id"].tolist() == ["r2", "r0"] and ranked["rank"].tolist() == [1, 2]
    (apart,) = board[board["status"] != "FINISHED"].itertuples()
    assert apart.run_id == "r1" and apart.status == "FINISHED, other data" and pd.isna(apart.rank)
    assert ("another table (dataset fingerprint bbbbbbbbbbbb, the ranked runs' is aaaaaaaaaaaa)"
            in apart.failure_reason)
    assert "FINISHED, other data" in report.format_leaderboard(board)
