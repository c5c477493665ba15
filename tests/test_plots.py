"""Evaluation figures: each returns a Figure with the expected artists and saves a PNG."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from pipeline import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    good = np.clip(0.3 * y + 0.7 * rng.random(200), 0, 1)
    weak = np.clip(0.1 * y + 0.9 * rng.random(200), 0, 1)
    return y, good, weak


def _assert_saves_png(fig, tmp_path, name="figure"):
    [path] = plots.save_figures({name: fig}, tmp_path)
    data = path.read_bytes()
    assert path.name == f"{name}.png" and data.startswith(PNG_MAGIC) and len(data) > 1000


def test_learning_curves_one_solid_and_one_dashed_line_per_fold(tmp_path):
    histories = [{"train_loss": [0.7, 0.5, 0.4], "val_loss": [0.72, 0.6, 0.55]},
                 {"train_loss": [0.7, 0.45, 0.35, 0.3], "val_loss": [0.7, 0.5, 0.5, 0.52]},
                 {"train_loss": [0.6, 0.5]}]  # no validation set in this fold
    fig = plots.learning_curves(histories)
    [ax] = fig.axes
    assert isinstance(fig, Figure)
    assert [line.get_linestyle() for line in ax.lines] == ["-", "--", "-", "--", "-"]
    assert len(ax.lines[3].get_xdata()) == 4
    _assert_saves_png(fig, tmp_path)


def test_learning_curves_reject_a_history_without_train_loss():
    with pytest.raises(ValueError, match=r"histories\[1\]"):
        plots.learning_curves([{"train_loss": [1.0]}, {"loss": [1.0]}])


@pytest.mark.parametrize("function, extra_lines", [
    (plots.roc_curve, 1),  # chance diagonal
    (plots.precision_recall_curve, 1),  # prevalence baseline
    (plots.decision_curve, 2),  # treat all, treat none
])
def test_model_curves_single_array_or_several_named(binary, tmp_path, function, extra_lines):
    y, good, weak = binary
    single = function(y, good)
    assert len(single.axes[0].lines) == 1 + extra_lines
    overlay = function(y, {"mlp": good, "logistic": weak})
    [ax] = overlay.axes
    assert len(ax.lines) == 2 + extra_lines
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend[0].startswith("mlp") and legend[1].startswith("logistic")
    _assert_saves_png(overlay, tmp_path)


def test_roc_legend_reports_the_auroc(binary):
    y, good, _ = binary
    from pipeline.metrics import binary_metrics
    label = plots.roc_curve(y, good).axes[0].get_legend().get_texts()[0].get_text()
    assert f"{binary_metrics(y, good)['auroc']:.3f}" in label


def test_calibration_curve_has_diagonal_lines_and_histogram(binary, tmp_path):
    y, good, weak = binary
    fig = plots.calibration_curve(y, {"mlp": good, "logistic": weak}, n_bins=5)
    top, bottom = fig.axes
    assert len(top.lines) == 3  # ideal diagonal + one per model
    assert len(top.lines[1].get_xdata()) <= 5
    assert len(bottom.patches) == 2  # one step histogram per model
    assert "slope" in top.get_legend().get_texts()[1].get_text()
    _assert_saves_png(fig, tmp_path)


def test_decision_curve_uses_the_given_thresholds(binary):
    y, good, _ = binary
    fig = plots.decision_curve(y, good, thresholds=np.linspace(0.1, 0.5, 5))
    assert all(len(line.get_xdata()) == 5 for line in fig.axes[0].lines)


def test_confusion_matrix_counts(tmp_path):
    y = np.array([0, 0, 1, 1, 1, 2])
    pred = np.array([0, 1, 1, 1, 2, 2])
    fig = plots.confusion_matrix(y, pred, ["healthy", "mild", "severe"])
    [ax] = fig.axes
    np.testing.assert_array_equal(ax.images[0].get_array(), [[1, 1, 0], [0, 2, 1], [0, 0, 1]])
    assert len(ax.texts) == 9
    assert ax.texts[4].get_text() == "2\n67%"  # true mild, predicted mild
    _assert_saves_png(fig, tmp_path)


def test_confusion_matrix_rejects_codes_outside_the_class_names():
    with pytest.raises(ValueError, match="pred_labels"):
        plots.confusion_matrix([0, 1], [0, 2], ["no", "yes"])


def test_probability_histogram_binary_and_multiclass(binary, tmp_path):
    y, good, _ = binary
    fig = plots.probability_histogram(y, good, ["benign", "malignant"])
    assert len(fig.axes[0].containers) == 2  # one histogram per true class
    _assert_saves_png(fig, tmp_path, "binary")
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 3, 90)
    proba = rng.dirichlet(np.ones(3), 90)
    fig = plots.probability_histogram(codes, proba, ["a", "b", "c"])
    assert len(fig.axes) == 3 and all(len(ax.containers) == 2 for ax in fig.axes)
    _assert_saves_png(fig, tmp_path, "multiclass")


def test_invalid_probabilities_name_the_model(binary):
    y, good, _ = binary
    with pytest.raises(ValueError, match="prob\\['bad'\\]"):
        plots.roc_curve(y, {"good": good, "bad": good * 3})


def test_save_figures_writes_every_figure_and_rejects_paths(binary, tmp_path):
    y, good, _ = binary
    figs = {"roc": plots.roc_curve(y, good), "pr": plots.precision_recall_curve(y, good)}
    paths = plots.save_figures(figs, tmp_path / "nested" / "plots")
    assert [p.name for p in paths] == ["roc.png", "pr.png"]
    assert all(p.stat().st_size > 0 for p in paths)
    with pytest.raises(ValueError, match="file name"):
        plots.save_figures({"../escape": figs["roc"]}, tmp_path)
