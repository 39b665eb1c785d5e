"""Report figures drawn with matplotlib (Agg backend, imported lazily), each returned as PNG bytes."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

DPI = 110
_PALETTE = (
    "#4c72b0",
    "#dd8452",
    "#55a868",
    "#c44e52",
    "#8172b3",
    "#937860",
    "#da8bc3",
    "#8c8c8c",
    "#ccb974",
    "#64b5cd",
)


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 9,
            "axes.titlesize": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "figure.dpi": DPI,
        }
    )
    return plt


def _png(fig: Any) -> bytes:
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return buf.getvalue()


def color(k: int) -> str:
    """Return the k-th categorical colour."""
    return _PALETTE[k % len(_PALETTE)]


def confusion_matrices(cm: Sequence[Sequence[int]], names: Sequence[str]) -> bytes:
    """Counts and row-normalised confusion matrices side by side (rows = true class)."""
    plt = _plt()
    counts = np.asarray(cm, dtype=np.int64)
    rows = counts.sum(axis=1, keepdims=True)
    norm = np.divide(counts, rows, out=np.zeros(counts.shape, dtype=float), where=rows > 0)
    c = len(names)
    side = max(3.6, 0.5 * c + 1.6)
    fig, axes = plt.subplots(1, 2, figsize=(2 * side + 0.8, side))
    for ax, data, title, text in (
        (axes[0], counts, "Counts", lambda v: f"{int(v)}"),
        (axes[1], norm, "Row-normalised (recall on the diagonal)", lambda v: f"{v:.2f}"),
    ):
        scaled = data / data.max() if data.max() > 0 else data.astype(float)
        ax.imshow(scaled, cmap="Blues", vmin=0, vmax=1)
        ax.set_title(title)
        ax.set_xticks(range(c), names, rotation=45, ha="right")
        ax.set_yticks(range(c), names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        for i in range(c):
            for j in range(c):
                ax.text(
                    j,
                    i,
                    text(data[i, j]),
                    ha="center",
                    va="center",
                    fontsize=7.5,
                    color="white" if scaled[i, j] > 0.55 else "#1d2330",
                )
        ax.spines[:].set_visible(False)
    fig.tight_layout()
    return _png(fig)


def per_class_bars(per_class: dict[str, dict[str, Any]]) -> bytes:
    """Grouped bars of precision, recall and F1 per class."""
    plt = _plt()
    names = list(per_class)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.8 * len(names) + 2), 3.2))
    for k, key in enumerate(("precision", "recall", "f1")):
        vals = [per_class[n].get(key) for n in names]
        ax.bar(x + (k - 1) * 0.26, [0 if v is None else v for v in vals], 0.26, label=key, color=color(k))
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.legend(ncol=3, frameon=False, loc="upper right", bbox_to_anchor=(1, 1.15))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def roc_points(positive: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (false positive rate, true positive rate) at every distinct score threshold."""
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], positive[order].astype(np.float64)
    last = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]
    tp, fp = np.cumsum(y)[last], np.cumsum(1 - y)[last]
    return np.r_[0, fp / max(fp[-1], 1)], np.r_[0, tp / max(tp[-1], 1)]


def pr_points(positive: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (recall, precision) at every distinct score threshold."""
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], positive[order].astype(np.float64)
    last = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]
    tp = np.cumsum(y)[last]
    predicted = last + 1.0
    return np.r_[0, tp / max(y.sum(), 1)], np.r_[1, tp / predicted]


def roc_pr_curves(
    y: np.ndarray, probs: np.ndarray, names: Sequence[str], per_class: dict[str, dict[str, Any]]
) -> bytes:
    """One-vs-rest ROC and precision-recall curves, one line per class present in y."""
    plt = _plt()
    fig, (roc_ax, pr_ax) = plt.subplots(1, 2, figsize=(12.5, 4.4))
    for k, name in enumerate(names):
        positive = y == k
        if not positive.any() or positive.all():
            continue
        fpr, tpr = roc_points(positive, probs[:, k])
        auc = per_class.get(name, {}).get("auc_roc")
        roc_ax.plot(
            fpr, tpr, color=color(k), lw=1.4, label=f"{name} ({auc:.2f})" if auc is not None else name
        )
        rec, prec = pr_points(positive, probs[:, k])
        ap = per_class.get(name, {}).get("auc_pr")
        pr_ax.step(
            rec,
            prec,
            where="post",
            color=color(k),
            lw=1.4,
            label=f"{name} ({ap:.2f})" if ap is not None else name,
        )
    roc_ax.plot([0, 1], [0, 1], ls="--", color="#aaa", lw=1)
    roc_ax.set(
        xlabel="false positive rate",
        ylabel="true positive rate",
        title="ROC (one-vs-rest), AUC",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    pr_ax.set(
        xlabel="recall",
        ylabel="precision",
        title="Precision-recall (one-vs-rest), AP",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    for ax in (roc_ax, pr_ax):
        ax.legend(fontsize=7.5, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
        ax.grid(alpha=0.25)
    fig.tight_layout()
    return _png(fig)


def va_hexbin(truth: dict[str, np.ndarray], pred: dict[str, np.ndarray]) -> bytes:
    """Predicted vs true valence and arousal (hexbin density, identity line)."""
    plt = _plt()
    tasks = [t for t in ("valence", "arousal") if t in truth]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.6 * len(tasks), 4.2), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        keep = np.isfinite(truth[task])
        hb = ax.hexbin(
            truth[task][keep],
            pred[task][keep],
            gridsize=25,
            extent=(-1, 1, -1, 1),
            cmap="viridis",
            mincnt=1,
            bins="log",
        )
        ax.plot([-1, 1], [-1, 1], color="#c44e52", lw=1, ls="--")
        ax.set(
            xlim=(-1, 1),
            ylim=(-1, 1),
            xlabel=f"true {task}",
            ylabel=f"predicted {task}",
            title=f"{task.capitalize()} (n={int(keep.sum())})",
            aspect="equal",
        )
        fig.colorbar(hb, ax=ax, shrink=0.8, label="count (log)")
    fig.tight_layout()
    return _png(fig)


def va_plane(
    valence: np.ndarray,
    arousal: np.ndarray,
    pred_valence: np.ndarray,
    pred_arousal: np.ndarray,
    expression: np.ndarray,
    names: Sequence[str],
    max_points: int = 4000,
) -> bytes:
    """True and predicted points on the valence-arousal plane, coloured by the true class."""
    plt = _plt()
    rng = np.random.default_rng(0)
    keep = np.nonzero(np.isfinite(valence) & np.isfinite(arousal))[0]
    if keep.size > max_points:
        keep = np.sort(rng.choice(keep, max_points, replace=False))
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.8), sharey=True)
    for ax, (vx, ay, title) in zip(
        axes, ((valence, arousal, "Ground truth"), (pred_valence, pred_arousal, "Predictions")), strict=True
    ):
        for k, name in enumerate(names):
            sel = keep[expression[keep] == k]
            if sel.size:
                ax.scatter(vx[sel], ay[sel], s=7, alpha=0.6, color=color(k), label=name, linewidths=0)
        ax.axhline(0, color="#bbb", lw=0.8)
        ax.axvline(0, color="#bbb", lw=0.8)
        ax.add_patch(plt.Circle((0, 0), 1, fill=False, color="#ddd", lw=0.8))
        ax.set(xlim=(-1.05, 1.05), ylim=(-1.05, 1.05), xlabel="valence", title=title, aspect="equal")
    axes[0].set_ylabel("arousal")
    axes[1].legend(
        fontsize=7.5,
        frameon=False,
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        title="true class",
        markerscale=2,
    )
    fig.tight_layout()
    return _png(fig)


def face_grid(
    images: np.ndarray, labels: Sequence[str], title: str, ok: Sequence[bool], cols: int = 8
) -> bytes:
    """A grid of face crops, each with a short caption; a green or red frame says correct or not."""
    plt = _plt()
    n = len(images)
    cols = max(1, min(cols, n))
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.75 * cols, 2.15 * rows + 0.3), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i])
        ax.set_title(labels[i], fontsize=7, linespacing=1.15)
        frame = "#2e9d57" if ok[i] else "#d04545"
        ax.add_patch(plt.Rectangle((0, 0), 1, 1, transform=ax.transAxes, fill=False, lw=2.5, color=frame))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _png(fig)


def training_curves(epochs: Sequence[int], series: Mapping[str, Sequence[float]]) -> bytes:
    """Loss curves (left) and validation metrics (right) per epoch."""
    plt = _plt()
    losses = {k: v for k, v in series.items() if "loss" in k}
    metric_words = ("accuracy", "f1", "ccc", "score")
    metrics = {
        k: v
        for k, v in series.items()
        if k.startswith("val/") and "loss" not in k and any(w in k for w in metric_words)
    }
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.6))
    for ax, group, title in ((axes[0], losses, "Loss"), (axes[1], metrics, "Validation metrics")):
        for k, (name, values) in enumerate(sorted(group.items())):
            vals = np.asarray(values, dtype=float)
            ax.plot(list(epochs), vals, marker="o", ms=3, lw=1.4, color=color(k), label=name)
        ax.set(xlabel="epoch", title=title)
        ax.grid(alpha=0.25)
        if group:
            ax.legend(fontsize=7.5, frameon=False)
    fig.tight_layout()
    return _png(fig)


def metric_bars(
    models: Sequence[str],
    metrics: Mapping[str, Sequence[float | None]],
    errors: Mapping[str, Sequence[tuple[float, float] | None]] | None = None,
) -> bytes:
    """Grouped bars of headline metrics per model, with bootstrap intervals as error bars."""
    plt = _plt()
    keys = list(metrics)
    x = np.arange(len(keys))
    width = 0.8 / max(len(models), 1)
    fig, ax = plt.subplots(figsize=(max(6.5, 1.3 * len(keys) + 2), 3.4))
    for m, model in enumerate(models):
        vals = [metrics[k][m] for k in keys]
        heights = [0.0 if v is None else v for v in vals]
        err = None
        if errors:
            lows, highs = [], []
            for k, v in zip(keys, heights, strict=True):
                ci = errors.get(k, [None] * len(models))[m]
                lows.append(v - ci[0] if ci else 0.0)
                highs.append(ci[1] - v if ci else 0.0)
            err = np.clip(np.array([lows, highs]), 0, None)
        ax.bar(
            x + (m - (len(models) - 1) / 2) * width,
            heights,
            width,
            yerr=err,
            capsize=2.5,
            color=color(m),
            label=model,
        )
    ax.set_xticks(x, keys)
    ax.axhline(0, color="#888", lw=0.8)
    ax.set_ylabel("value")
    ax.legend(frameon=False, ncol=min(len(models), 4), loc="upper right", bbox_to_anchor=(1, 1.18))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _png(fig)
