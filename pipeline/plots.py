"""Evaluation figures: learning curves, ROC, precision-recall, calibration, decision curve,
confusion matrix and predicted-probability histograms.

Every function builds a :class:`matplotlib.figure.Figure` directly rather than through
``pyplot``: no global figure registry to leak memory across folds and sweeps, and no
display backend needed (PNG output goes through Agg). The caller saves or logs the
figure, e.g. with :func:`save_figures`.

Functions that compare models (ROC, PR, calibration, decision curve) take either one
probability array or a dict ``{name: prob}`` of several models scored on the same rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from sklearn import calibration as skcal
from sklearn import metrics as skm

from pipeline import metrics

FIGSIZE = (5.5, 4.5)
DPI = 100
# Fixed margins instead of matplotlib's constrained layout, which doubles the cost of a
# figure (it draws twice); figures are made for every run of a sweep.
MARGINS = dict(left=0.13, right=0.96, bottom=0.12, top=0.91)

Curves = np.ndarray | Mapping[str, np.ndarray]


def _curves(y, prob: Curves) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Validated labels and a name -> probabilities dict (one unnamed model is "model")."""
    named = dict(prob) if isinstance(prob, Mapping) else {"model": prob}
    if not named:
        raise ValueError("prob is an empty dict; pass probabilities or {name: probabilities}")
    checked = {}
    for name, p in named.items():
        y_checked, checked[name] = metrics.check_binary(y, p, f"prob[{name!r}]")
    return y_checked, checked


def _axes(title: str, xlabel: str, ylabel: str, figsize=FIGSIZE):
    fig = Figure(figsize=figsize)
    fig.subplots_adjust(**MARGINS)
    ax = fig.add_subplot()
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return fig, ax


def learning_curves(histories: Sequence[Mapping[str, Sequence[float]]]) -> Figure:
    """Training (solid) and validation (dashed) loss per epoch, one colour per fold.

    Parameters
    ----------
    histories : list of dict -- one per fold, e.g. an estimator's ``history_``: per-epoch
        lists ``train_loss`` and, when a validation set was used, ``val_loss``.
    """
    if not histories:
        raise ValueError("histories is empty: pass one history dict per fold")
    fig, ax = _axes("Learning curves", "epoch", "loss")
    for fold, history in enumerate(histories):
        if "train_loss" not in history:
            raise ValueError(f"histories[{fold}] has no 'train_loss' (keys: {sorted(history)})")
        color = f"C{fold % 10}"
        for key, style in (("train_loss", "-"), ("val_loss", "--")):
            if key in history:
                epochs = np.arange(1, len(history[key]) + 1)
                ax.plot(epochs, history[key], style, color=color,
                        label=f"fold {fold}" if key == "train_loss" else None)
    # Style legend entries drawn separately so that ten folds do not need twenty labels.
    handles, _ = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="grey", ls="-", label="train"),
                Line2D([], [], color="grey", ls="--", label="validation")]
    ax.legend(handles=handles, fontsize="small", ncols=2)
    return fig


def roc_curve(y, prob: Curves) -> Figure:
    """ROC curve of one or several models, with the chance diagonal.

    Parameters
    ----------
    y : array-like, shape (n,) -- 0/1 labels.
    prob : array-like, shape (n,), or dict name -> array of shape (n,) -- P(y = 1).
    """
    y, named = _curves(y, prob)
    fig, ax = _axes("ROC curve", "1 - specificity", "sensitivity")
    for name, p in named.items():
        fpr, tpr, _ = skm.roc_curve(y, p)
        auroc = metrics.binary_metrics(y, p)["auroc"]
        ax.plot(fpr, tpr, label=f"{name} (AUROC {auroc:.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey", label="chance")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), aspect="equal")
    ax.legend(loc="lower right", fontsize="small")
    return fig


def precision_recall_curve(y, prob: Curves) -> Figure:
    """Precision-recall curve(s) with the prevalence as the no-skill baseline.

    Parameters as in :func:`roc_curve`.
    """
    y, named = _curves(y, prob)
    fig, ax = _axes("Precision-recall curve", "recall (sensitivity)", "precision (PPV)")
    for name, p in named.items():
        precision, recall, _ = skm.precision_recall_curve(y, p)
        auprc = metrics.binary_metrics(y, p)["auprc"]
        ax.step(recall, precision, where="post", label=f"{name} (AP {auprc:.3f})")
    ax.axhline(y.mean(), ls=":", color="grey", label=f"prevalence {y.mean():.2f}")
    ax.set(xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower left", fontsize="small")
    return fig


def calibration_curve(y, prob: Curves, n_bins: int = 10) -> Figure:
    """Reliability diagram: observed event rate against mean predicted risk per bin.

    The upper panel shows one line per model, the ideal diagonal, and each model's
    calibration intercept and slope in the legend; the lower panel the histogram of
    predictions, which shows where the bins rest on few patients.

    Parameters
    ----------
    y : array-like, shape (n,) -- 0/1 labels.
    prob : array-like, shape (n,), or dict name -> array of shape (n,).
    n_bins : int -- equal-width bins on [0, 1].
    """
    if not (isinstance(n_bins, int) and n_bins >= 2):
        raise ValueError(f"n_bins must be an integer >= 2, got {n_bins!r}")
    y, named = _curves(y, prob)
    fig = Figure(figsize=(FIGSIZE[0], FIGSIZE[1] * 1.3))
    fig.subplots_adjust(**{**MARGINS, "bottom": 0.09, "top": 0.93, "hspace": 0.08})
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    top.plot([0, 1], [0, 1], ":", color="grey", label="ideal")
    edges = np.linspace(0, 1, n_bins + 1)
    for name, p in named.items():
        observed, predicted = skcal.calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
        m = metrics.binary_metrics(y, p)
        label = (f"{name} (intercept {m['calibration_intercept']:.2f}, "
                 f"slope {m['calibration_slope']:.2f})")
        top.plot(predicted, observed, "o-", label=label)
        bottom.hist(p, bins=edges, histtype="step", label=name)
    top.set(title="Calibration", ylabel="observed event rate", xlim=(0, 1), ylim=(0, 1))
    top.legend(loc="upper left", fontsize="small")
    bottom.set(xlabel="predicted probability", ylabel="patients")
    return fig


def decision_curve(y, prob: Curves, thresholds=metrics.DEFAULT_THRESHOLDS) -> Figure:
    """Net benefit of the model(s) against treating everyone and treating no one.

    Parameters
    ----------
    y : array-like, shape (n,) -- 0/1 labels.
    prob : array-like, shape (n,), or dict name -> array of shape (n,).
    thresholds : array-like, shape (m,) -- threshold probabilities in (0, 1).
    """
    y, named = _curves(y, prob)
    fig, ax = _axes("Decision curve", "threshold probability", "net benefit")
    top = 0.0
    for name, p in named.items():
        curve = metrics.decision_curve(y, p, thresholds)
        ax.plot(curve["thresholds"], curve["model"], label=name)
        top = max(top, curve["model"].max())
    ax.plot(curve["thresholds"], curve["treat_all"], "--", color="grey", label="treat all")
    ax.plot(curve["thresholds"], curve["treat_none"], ":", color="black", label="treat none")
    # Treat-all plunges towards -infinity as t -> 1; the interesting range is near zero.
    prevalence = y.mean()
    ax.set_ylim(-0.05 * max(prevalence, 0.2), 1.1 * max(top, prevalence) + 0.01)
    ax.legend(loc="upper right", fontsize="small")
    return fig


def confusion_matrix(y, pred_labels, class_names: Sequence[str]) -> Figure:
    """Confusion matrix of counts (rows: true class, columns: predicted), with row percentages.

    Parameters
    ----------
    y, pred_labels : array-like, shape (n,) -- class codes ``0..K-1``.
    class_names : sequence of K str -- names of the codes, in order.
    """
    k = len(class_names)
    truth = _class_codes(y, "y", k)
    predicted = _class_codes(pred_labels, "pred_labels", k)
    if truth.size != predicted.size:
        raise ValueError(f"pred_labels has {predicted.size} rows but y has {truth.size}")
    counts = np.bincount(truth * k + predicted, minlength=k * k).reshape(k, k)
    fig, ax = _axes("Confusion matrix", "predicted", "true")
    ax.imshow(counts, cmap="Blues")
    row_share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    for i in range(k):
        for j in range(k):
            dark = counts[i, j] > counts.max() / 2  # white text on dark cells
            ax.text(j, i, f"{counts[i, j]}\n{row_share[i, j]:.0%}", ha="center", va="center",
                    color="white" if dark else "black")
    ax.set(xticks=range(k), yticks=range(k), xticklabels=class_names, yticklabels=class_names)
    return fig


def _class_codes(labels, name: str, k: int) -> np.ndarray:
    codes = np.asarray(labels)
    if codes.ndim != 1 or not np.issubdtype(codes.dtype, np.number):
        raise ValueError(f"{name} must be a 1-D array of class codes, got {codes.dtype} "
                         f"with shape {codes.shape}")
    if not np.all((codes == np.round(codes)) & (codes >= 0) & (codes < k)):
        raise ValueError(f"{name} must hold integer codes 0..{k - 1} matching class_names")
    return codes.astype(int)


def probability_histogram(y, prob, class_names: Sequence[str], bins: int = 20) -> Figure:
    """Histogram of predicted probabilities, split by true class.

    Binary (``prob`` of shape (n,)): P(y = 1) for each true class on one axis.
    Multiclass (``prob`` of shape (n, K)): one panel per class k, showing P(class k)
    for rows of class k against all other rows.

    Parameters
    ----------
    y : array-like, shape (n,) -- class codes ``0..K-1``.
    prob : array-like, shape (n,) or (n, K).
    class_names : sequence of K str.
    """
    prob = np.asarray(prob, dtype=float)
    truth = _class_codes(y, "y", len(class_names))
    edges = np.linspace(0, 1, bins + 1)
    if prob.ndim == 1:
        if len(class_names) != 2:
            raise ValueError("1-D prob means a binary outcome: pass two class_names")
        truth, prob = metrics.check_binary(truth, prob)
        fig, ax = _axes("Predicted probabilities", f"P({class_names[1]})", "patients")
        for code, name in enumerate(class_names):
            ax.hist(prob[truth == code], bins=edges, alpha=0.6, label=f"true {name}")
        ax.legend(fontsize="small")
        return fig
    truth, prob = metrics.check_multiclass(truth, prob, "prob")
    k = prob.shape[1]
    fig = Figure(figsize=(4 * k, 3.5))
    fig.subplots_adjust(**{**MARGINS, "left": 0.08, "bottom": 0.14, "wspace": 0.08})
    for code, ax in enumerate(fig.subplots(1, k, sharey=True)):
        ax.hist(prob[truth == code, code], bins=edges, alpha=0.6,
                label=f"true {class_names[code]}")
        ax.hist(prob[truth != code, code], bins=edges, alpha=0.6, label="other classes")
        ax.set(title=class_names[code], xlabel=f"P({class_names[code]})")
        ax.legend(fontsize="small")
    fig.axes[0].set_ylabel("patients")
    return fig


def save_figures(figs: Mapping[str, Figure], directory) -> list[Path]:
    """Write each figure as ``<directory>/<name>.png`` (directory created if needed).

    Returns
    -------
    list of Path -- the files written, in the order of ``figs``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figs.items():
        if not name or Path(name).name != name:
            raise ValueError(f"figure name {name!r} must be a plain file name without '/'")
        path = directory / f"{name}.png"
        fig.savefig(path, dpi=DPI)
        paths.append(path)
    return paths
