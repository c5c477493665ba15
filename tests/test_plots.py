"""Evaluation figures: each returns a Chart whose SVG parses, and whose drawn numbers (read back
through the axis ticks) are the curves, counts and metrics the chart claims to show."""

import ast
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from sklearn import calibration as skcal
from sklearn import metrics as skm

from pipeline import PROJECT_ROOT, metrics, plots, svg

NS = "{http://www.w3.org/2000/svg}"
NASTY = "<b>&'\"x"  # markup characters in a user-supplied name


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    good = np.clip(0.3 * y + 0.7 * rng.random(200), 0, 1)
    weak = np.clip(0.1 * y + 0.9 * rng.random(200), 0, 1)
    return y, good, weak


# --- reading a chart back ------------------------------------------------------------------


def _svg(chart) -> ET.Element:
    """The parsed document, checked to be standalone SVG."""
    text = chart.to_svg()
    root = ET.fromstring(text)
    width, height = root.get("width"), root.get("height")
    assert root.tag == f"{NS}svg" and text.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert root.get("viewBox") == f"0 0 {width} {height}" and int(width) > 0 and int(height) > 0
    return root


class Panel:
    """One plot area of a chart: its curves and the pixel <-> data map given by its ticks."""

    def __init__(self, element: ET.Element):
        self.element = element
        area = element.find(f"{NS}svg[@class='plot-area']")
        self.area = area
        self.left, self.top = float(area.get("x")), float(area.get("y"))
        self.width, self.height = float(area.get("width")), float(area.get("height"))

    def ticks(self, axis: str) -> list[tuple[float, str]]:
        """(pixel position in the chart, text) of the tick labels of ``axis`` ("x" or "y")."""
        group = self.element.find(f"{NS}g[@class='{axis}-ticks']")
        return [(float(t.get(axis)), t.text) for t in group]

    def _map(self, axis: str, shared: "Panel | None" = None):
        """Pixel (inside the plot area) -> data, fitted through the tick labels' positions."""
        ticks = (shared or self).ticks(axis)
        offset = (shared or self).left if axis == "x" else (shared or self).top
        pixels = np.array([p for p, _ in ticks]) - offset
        if axis == "y":
            pixels -= 3.5  # labels sit on the baseline, a little below their tick
        slope, intercept = np.polyfit(pixels, [float(text) for _, text in ticks], 1)
        return lambda px: slope * np.asarray(px, dtype=float) + intercept

    def data(self, points, x_from: "Panel | None" = None, y_from: "Panel | None" = None) -> np.ndarray:
        """Pixel points (n, 2) of the plot area in data units; ``x_from``, ``y_from``: the panel
        whose tick labels give a shared axis its scale."""
        points = np.asarray(points, dtype=float).reshape(-1, 2)
        return np.c_[self._map("x", x_from)(points[:, 0]), self._map("y", y_from)(points[:, 1])]

    def paths(self, kind: str = "curve") -> list[ET.Element]:
        return self.area.findall(f"{NS}path[@class='{kind}']")

    def legend(self) -> list[str]:
        return [t.text for t in self.element.findall(f"{NS}g[@class='legend']/{NS}text")]


def _panels(root: ET.Element) -> list[Panel]:
    return [Panel(g) for g in root.findall(f"{NS}g[@class='panel']")]


def _subpaths(path: ET.Element) -> list[np.ndarray]:
    """The pixel points of each unbroken piece of a path ("M x,y x,y ... M ...")."""
    pieces = [piece for piece in path.get("d").split("M") if piece]
    return [np.array([[float(v) for v in pair.split(",")] for pair in piece.split()]) for piece in pieces]


def _points(path: ET.Element) -> np.ndarray:
    [points] = _subpaths(path)
    return points


def _distance_to_polyline(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Distance of each point (n, 2) to the polyline through ``line`` (m, 2)."""
    a, b = line[:-1], line[1:]
    ab = b - a
    t = np.clip(((points[:, None] - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0, 1)
    nearest = a + t[..., None] * ab
    return np.linalg.norm(points[:, None] - nearest, axis=-1).min(axis=1)


def _level_at(steps: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The y of the horizontal segment of a step line above each x."""
    left, right = steps[:-1], steps[1:]
    flat = np.abs(left[:, 1] - right[:, 1]) < 1e-9
    levels = []
    for x in xs:
        [segment] = np.flatnonzero(flat & (np.minimum(left[:, 0], right[:, 0]) < x)
                                   & (x < np.maximum(left[:, 0], right[:, 0])))
        levels.append(left[segment, 1])
    return np.array(levels)


def _bar_counts(panel: Panel, group: int, edges: np.ndarray, y_from: Panel | None = None) -> np.ndarray:
    """Bar heights of a panel's ``group``-th histogram, per bin of ``edges`` (0 where no bar)."""
    bars = panel.area.findall(f"{NS}g[@class='bars']")[group]
    counts = np.zeros(edges.size - 1)
    for rect in bars:
        x, y, h = (float(rect.get(k)) for k in ("x", "y", "height"))
        (left, top), (_, bottom) = panel.data([[x, y], [x, y + h]], y_from=y_from)
        counts[np.argmin(np.abs(edges[:-1] - left))] = top - bottom
    return counts


# --- the run plots ---------------------------------------------------------------------------


def test_learning_curves_one_solid_and_one_dashed_line_per_fold():
    histories = [{"train_loss": [0.7, 0.5, 0.4], "val_loss": [0.72, 0.6, 0.55]},
                 {"train_loss": [0.7, 0.45, 0.35, 0.3], "val_loss": [0.7, 0.5, 0.5, 0.52]},
                 {"train_loss": [0.6, 0.5]}]  # no validation set in this fold
    [panel] = _panels(_svg(plots.learning_curves(histories)))
    curves = panel.paths()
    assert [c.get("stroke-dasharray") is None for c in curves] == [True, False, True, False, True]
    assert [c.get("stroke") for c in curves] == [plots.PALETTE[i] for i in (0, 0, 1, 1, 2)]
    np.testing.assert_allclose(panel.data(_points(curves[3])),
                               np.c_[[1, 2, 3, 4], [0.7, 0.5, 0.5, 0.52]], atol=0.005)
    assert panel.legend() == ["fold 0", "fold 1", "fold 2", "train", "validation"]


def test_learning_curves_of_more_folds_than_colours_show_each_thin_and_their_mean():
    rng = np.random.default_rng(0)
    histories = [{"train_loss": list(0.5 + 0.1 * rng.random(n)), "val_loss": list(0.6 + 0.1 * rng.random(n))}
                 for n in [6] * 8 + [4] * 7]  # 15 folds, 7 of them stopped after 4 epochs
    [panel] = _panels(_svg(plots.learning_curves(histories)))
    curves = panel.paths()
    assert [c.get("stroke") for c in curves] == [plots.GREY] * 30 + [plots.PALETTE[0]] * 2
    assert panel.legend() == ["each of 15 folds", "mean over folds", "train", "validation"]
    for curve, key in zip(curves[-2:], ("train_loss", "val_loss")):
        expected = [np.mean([h[key][e] for h in histories if e < len(h[key])]) for e in range(6)]
        np.testing.assert_allclose(panel.data(_points(curve)), np.c_[range(1, 7), expected], atol=0.002)


def test_learning_curves_break_at_nan_instead_of_writing_it():
    losses = [0.7, 0.6, float("nan"), 0.5, 0.45, float("inf"), 0.4]
    chart = plots.learning_curves([{"train_loss": losses}])
    assert "nan" not in chart.to_svg().lower() and "inf" not in chart.to_svg().lower()
    [panel] = _panels(_svg(chart))
    pieces = [panel.data(piece) for piece in _subpaths(panel.paths()[0])]
    assert [len(piece) for piece in pieces] == [2, 2, 1]
    np.testing.assert_allclose(pieces[1], [[4, 0.5], [5, 0.45]], atol=0.005)


def test_straight_runs_are_drawn_with_their_end_points_only():
    losses = [1.0] * 500 + [0.5] * 500  # two plateaus, however many epochs
    [panel] = _panels(_svg(plots.learning_curves([{"train_loss": losses}])))
    drawn = panel.data(_points(panel.paths()[0]))
    np.testing.assert_allclose(drawn[:, 0], [1, 500, 501, 1000], atol=0.5)  # 0.1 px ~ 0.25 epochs
    np.testing.assert_allclose(drawn[:, 1], [1.0, 1.0, 0.5, 0.5], atol=0.005)


@pytest.mark.parametrize("histories, match", [
    ([{"train_loss": [1.0]}, {"loss": [1.0]}], r"histories\[1\]"),
    ([], "histories is empty"),
])
def test_learning_curves_reject_bad_histories(histories, match):
    with pytest.raises(ValueError, match=match):
        plots.learning_curves(histories)


@pytest.mark.parametrize("function, references", [
    (plots.roc_curve, 1),  # chance diagonal
    (plots.precision_recall_curve, 1),  # prevalence baseline
    (plots.decision_curve, 2),  # treat all, treat none
])
def test_model_curves_single_array_or_several_named(binary, function, references):
    y, good, weak = binary
    [single] = _panels(_svg(function(y, good)))
    assert len(single.paths()) == 1 and len(single.paths("reference")) == references
    assert single.legend()[0].startswith("model")
    [overlay] = _panels(_svg(function(y, {"mlp": good, "logistic": weak})))
    assert len(overlay.paths()) == 2 and len(overlay.paths("reference")) == references
    legend = overlay.legend()
    assert legend[0].startswith("mlp") and legend[1].startswith("logistic")
    assert len(legend) == 2 + references


def test_roc_curve_draws_scikit_learns_points_and_reports_the_auroc(binary):
    y, good, weak = binary
    [panel] = _panels(_svg(plots.roc_curve(y, {"good": good, "weak": weak})))
    for path, p in zip(panel.paths(), (good, weak)):
        drawn = panel.data(_points(path))
        fpr, tpr, _ = skm.roc_curve(y, p)
        expected = np.c_[fpr, tpr]
        assert _distance_to_polyline(expected, drawn).max() < 0.01  # every point is on the line
        assert _distance_to_polyline(drawn, expected).max() < 0.01  # and nothing else is drawn
    assert panel.legend()[:2] == [f"good (AUROC {metrics.binary_metrics(y, good)['auroc']:.3f})",
                                  f"weak (AUROC {metrics.binary_metrics(y, weak)['auroc']:.3f})"]
    np.testing.assert_allclose(panel.data(_points(panel.paths("reference")[0])), [[0, 0], [1, 1]], atol=0.005)
    assert panel.width == panel.height  # equal aspect: the diagonal at 45 degrees


def test_precision_recall_steps_and_average_precision(binary):
    y, good, _ = binary
    [panel] = _panels(_svg(plots.precision_recall_curve(y, good)))
    drawn = panel.data(_points(panel.paths()[0]))
    precision, recall, _ = skm.precision_recall_curve(y, good)
    assert _distance_to_polyline(np.c_[recall, precision], drawn).max() < 0.01
    # a step line holds each precision until the next recall: no sloped segments
    steps = np.diff(drawn, axis=0)
    assert np.all((np.abs(steps[:, 0]) < 1e-3) | (np.abs(steps[:, 1]) < 1e-3))
    auprc = metrics.binary_metrics(y, good)["auprc"]
    assert panel.legend() == [f"model (AP {auprc:.3f})", f"prevalence {y.mean():.2f}"]
    baseline = panel.data(_points(panel.paths("reference")[0]))
    np.testing.assert_allclose(baseline[:, 1], y.mean(), atol=0.005)


def test_calibration_curve_points_legend_and_histogram(binary):
    y, good, weak = binary
    root = _svg(plots.calibration_curve(y, {"mlp": good, "logistic": weak}, n_bins=5))
    top, bottom = _panels(root)
    assert len(top.paths("reference")) == 1 and len(top.paths()) == 2 and len(bottom.paths()) == 2
    assert top.element.find(f"{NS}g[@class='x-ticks']") is None  # the histogram's x axis is shared
    for index, (name, p) in enumerate({"mlp": good, "logistic": weak}.items()):
        dots = top.area.findall(f"{NS}g[@class='markers']")[index]
        drawn = top.data([[float(c.get("cx")), float(c.get("cy"))] for c in dots], x_from=bottom)
        observed, predicted = skcal.calibration_curve(y, p, n_bins=5)
        np.testing.assert_allclose(drawn, np.c_[predicted, observed], atol=0.005)
        m = metrics.binary_metrics(y, p)
        assert top.legend()[index + 1] == (f"{name} (intercept {m['calibration_intercept']:.2f}, "
                                           f"slope {m['calibration_slope']:.2f})")
        outline = bottom.data(_points(bottom.paths()[index]))
        edges = np.linspace(0, 1, 6)
        np.testing.assert_allclose(_level_at(outline, (edges[:-1] + edges[1:]) / 2),
                                   np.histogram(p, bins=edges)[0], atol=0.5)
    assert top.legend()[0] == "ideal"


@pytest.mark.parametrize("n_bins", [1, 2.5, "10"])
def test_calibration_curve_rejects_bad_bins(binary, n_bins):
    y, good, _ = binary
    with pytest.raises(ValueError, match="n_bins"):
        plots.calibration_curve(y, good, n_bins=n_bins)


def test_decision_curve_spans_the_given_thresholds_with_the_net_benefit(binary):
    y, good, _ = binary
    thresholds = np.linspace(0.1, 0.5, 5)
    [panel] = _panels(_svg(plots.decision_curve(y, good, thresholds=thresholds)))
    drawn = panel.data(_points(panel.paths()[0]))
    assert drawn[0, 0] == pytest.approx(0.1, abs=0.005) and drawn[-1, 0] == pytest.approx(0.5, abs=0.005)
    expected = np.c_[thresholds, metrics.net_benefit(y, good, thresholds)]
    assert _distance_to_polyline(expected, drawn).max() < 0.005
    assert panel.legend() == ["model", "treat all", "treat none"]


def test_decision_curve_keeps_the_range_near_zero(binary):
    """Treat-all plunges towards -infinity as t -> 1: the y range stops just below 0."""
    y, good, _ = binary
    [panel] = _panels(_svg(plots.decision_curve(y, good)))
    bottom, top = panel.data([[0, panel.height], [0, 0]])[:, 1]
    prevalence = y.mean()
    best = metrics.net_benefit(y, good, metrics.DEFAULT_THRESHOLDS).max()
    assert bottom == pytest.approx(-0.05 * max(prevalence, 0.2), abs=0.005)
    assert top == pytest.approx(1.1 * max(best, prevalence) + 0.01, abs=0.005)
    treat_all = panel.data(_points(panel.paths("reference")[0]))
    assert treat_all[:, 1].min() < bottom  # drawn past the frame, clipped by the plot area


def test_confusion_matrix_cells_show_counts_and_row_percentages():
    y = np.array([0, 0, 1, 1, 1, 2])
    pred = np.array([0, 1, 1, 1, 2, 2])
    [panel] = _panels(_svg(plots.confusion_matrix(y, pred, ["healthy", "mild", "severe"])))
    cells = panel.area.findall(f"{NS}text[@class='cell']")
    texts = [[span.text for span in cell] for cell in cells]
    assert [int(count) for count, _ in texts] == [1, 1, 0, 0, 2, 1, 0, 0, 1]
    assert texts[4] == ["2", "67%"]  # true mild, predicted mild
    assert [cell.get("fill") for cell in cells].count("white") == 1  # the one dark cell
    assert [text for _, text in panel.ticks("x")] == ["healthy", "mild", "severe"]
    assert [text for _, text in panel.ticks("y")] == ["healthy", "mild", "severe"]
    shades = [rect.get("fill") for rect in panel.area.findall(f"{NS}rect")]
    assert len(set(shades)) == 3  # 0, 1 and 2 patients


def test_confusion_matrix_rejects_codes_outside_the_class_names():
    with pytest.raises(ValueError, match="pred_labels"):
        plots.confusion_matrix([0, 1], [0, 2], ["no", "yes"])


def test_probability_histogram_bar_heights_are_the_counts(binary):
    y, good, _ = binary
    edges = np.linspace(0, 1, 21)
    [panel] = _panels(_svg(plots.probability_histogram(y, good, ["benign", "malignant"])))
    for code in (0, 1):
        np.testing.assert_allclose(_bar_counts(panel, code, edges),
                                   np.histogram(good[y == code], bins=edges)[0], atol=0.05)
    assert panel.legend() == ["true benign", "true malignant"]


def test_probability_histogram_multiclass_has_a_panel_per_class():
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 3, 90)
    proba = rng.dirichlet(np.ones(3), 90)
    edges = np.linspace(0, 1, 11)
    root = _svg(plots.probability_histogram(codes, proba, ["a", "b", "c"], bins=10))
    panels = _panels(root)
    assert len(panels) == 3
    assert [p.element.find(f"{NS}g[@class='y-ticks']") is not None for p in panels] == [True, False, False]
    for code, panel in enumerate(panels):
        assert panel.legend() == [f"true {'abc'[code]}", "other classes"]
        for group, rows in enumerate((codes == code, codes != code)):
            np.testing.assert_allclose(_bar_counts(panel, group, edges, y_from=panels[0]),  # shared y
                                       np.histogram(proba[rows, code], bins=edges)[0], atol=0.05)


@pytest.mark.parametrize("prob, names, match", [
    (np.full(4, 0.5), ["a", "b", "c"], "two class_names"),
    (np.full((4, 3), 1 / 3), ["a", "b", "c", "d"], "3 columns but class_names has 4"),
])
def test_probability_histogram_rejects_mismatched_class_names(prob, names, match):
    with pytest.raises(ValueError, match=match):
        plots.probability_histogram([0, 1, 0, 1], prob, names)


def test_invalid_probabilities_name_the_model(binary):
    y, good, _ = binary
    with pytest.raises(ValueError, match="prob\\['bad'\\]"):
        plots.roc_curve(y, {"good": good, "bad": good * 3})
    with pytest.raises(ValueError, match="empty dict"):
        plots.precision_recall_curve(y, {})


# --- text from users, ticks, files -------------------------------------------------------------


def test_user_supplied_names_are_escaped(binary):
    y, good, _ = binary
    charts = [plots.roc_curve(y, {NASTY: good}), plots.calibration_curve(y, {NASTY: good}),
              plots.confusion_matrix(y, y, [NASTY, "b\x00ell"]),
              plots.probability_histogram(y, good, [NASTY, "b"]),
              plots.validation_curves({NASTY: {"mean_val_loss": [0.5, 0.4]}})]
    for chart in charts:
        root = _svg(chart)  # parses: nothing unescaped
        texts = " ".join("".join(t.itertext()) for t in root.iter(f"{NS}text"))
        assert NASTY in texts
    assert "bell" in charts[2].to_svg()  # a control character XML forbids is dropped


def test_long_names_are_shortened_in_the_middle_and_keep_their_numbers(binary):
    y, good, _ = binary
    name = "mlp[64,32] relu cross_entropy adam lr=0.001 l2=0.0001 early-stopping"
    [top, _] = _panels(_svg(plots.calibration_curve(y, {name: good})))
    m = metrics.binary_metrics(y, good)
    label = top.legend()[1]
    assert label.startswith("mlp[64,32] relu") and "stopping (intercept" in label and "…" in label
    assert label.endswith(f"slope {m['calibration_slope']:.2f})")


def test_ticks_are_nice_and_placed_linearly(binary):
    y, good, _ = binary
    histories = [{"train_loss": list(np.linspace(2.3, 0.31, 37)),
                  "val_loss": list(np.linspace(2.4, 0.5, 37))}]
    charts = [plots.learning_curves(histories), plots.roc_curve(y, good), plots.decision_curve(y, good),
              plots.calibration_curve(y, good), plots.probability_histogram(y, good, ["a", "b"])]
    for panel in (p for chart in charts for p in _panels(_svg(chart))):
        for axis in ("x", "y"):
            if panel.element.find(f"{NS}g[@class='{axis}-ticks']") is None:
                continue
            positions, texts = zip(*panel.ticks(axis))
            values = np.array([float(t) for t in texts])
            assert len(values) >= 2
            step = np.diff(values)
            np.testing.assert_allclose(step, step[0])
            mantissa = step[0] / 10 ** math.floor(math.log10(step[0]))
            assert round(mantissa, 6) in (1, 2, 5)
            np.testing.assert_allclose(np.diff(positions), np.diff(positions)[0], atol=0.15)


def test_save_figures_writes_svg_files_and_rejects_paths(binary, tmp_path):
    y, good, _ = binary
    charts = {"roc": plots.roc_curve(y, good), "pr": plots.precision_recall_curve(y, good)}
    paths = plots.save_figures(charts, tmp_path / "nested" / "plots")
    assert [p.name for p in paths] == ["roc.svg", "pr.svg"]
    for path, chart in zip(paths, charts.values()):
        assert path.read_text(encoding="utf-8") == chart.to_svg()
        ET.parse(path)
    with pytest.raises(ValueError, match="file name"):
        plots.save_figures({"../escape": charts["roc"]}, tmp_path)


# --- the report's validation curves --------------------------------------------------------------


def _validation(n: int, auroc: bool = True) -> dict:
    return {f"config {i}": {"mean_val_loss": [0.7 - 0.01 * i, 0.5, 0.45 + 0.01 * i],
                            **({"mean_val_auroc": [0.8, 0.85 + 0.01 * i]} if auroc else {})}
            for i in range(n)}


def test_validation_curves_label_every_configuration_when_few():
    [loss, auroc] = _panels(_svg(plots.validation_curves(_validation(3))))
    assert len(loss.paths()) == len(auroc.paths()) == 3
    assert {p.get("stroke") for p in loss.paths()} == set(plots.PALETTE[:3])
    legend = [t.text for t in _svg(plots.validation_curves(_validation(3))).findall(
        f"{NS}g[@class='legend']/{NS}text")]
    assert legend == ["config 0", "config 1", "config 2"]
    np.testing.assert_allclose(auroc.data(_points(auroc.paths()[2])), [[1, 0.8], [2, 0.87]], atol=0.005)


def test_models_past_the_palette_get_dashed_then_dotted_lines(binary):
    y, good, _ = binary
    root = _svg(plots.validation_curves(_validation(10)))
    [loss, _] = _panels(root)
    styles = [(p.get("stroke"), p.get("stroke-dasharray")) for p in loss.paths()]
    assert len(set(styles)) == 10
    assert styles[7:] == [(plots.PALETTE[i], svg.DASHED) for i in range(3)]
    legend_lines = root.findall(f"{NS}g[@class='legend']/{NS}path")
    assert [(p.get("stroke"), p.get("stroke-dasharray")) for p in legend_lines] == styles
    many = {f"model {i}": good for i in range(15)}
    [roc] = _panels(_svg(plots.roc_curve(y, many)))
    assert [p.get("stroke-dasharray") for p in roc.paths()][-1] == svg.DOTTED  # the 15th model


def test_validation_curves_highlight_the_best_among_many():
    root = _svg(plots.validation_curves(_validation(12, auroc=False), highlight=["config 7", "config 2"]))
    [panel] = _panels(root)  # no AUROC logged: the loss panel alone
    strokes = [p.get("stroke") for p in panel.paths()]
    assert strokes.count(plots.GREY) == 10 and strokes[-2:] == list(plots.PALETTE[:2])  # colours on top
    legend = [t.text for t in root.findall(f"{NS}g[@class='legend']/{NS}text")]
    assert legend == ["config 2", "config 7", "other configurations"]


def test_validation_curves_need_a_logged_curve():
    with pytest.raises(ValueError, match="mean_val_loss or mean_val_auroc"):
        plots.validation_curves({"a": {"mean_val_loss": []}, "b": {}})


def test_no_module_of_the_pipeline_imports_matplotlib():
    for path in (PROJECT_ROOT / "pipeline").rglob("*.py"):
        tree = ast.parse(path.read_text())
        nodes = list(ast.walk(tree))
        names = [alias.name for node in nodes if isinstance(node, ast.Import) for alias in node.names]
        names += [node.module or "" for node in nodes if isinstance(node, ast.ImportFrom)]
        assert not any(name.split(".")[0] == "matplotlib" for name in names), path
