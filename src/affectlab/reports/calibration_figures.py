"""Calibration figures of the reports: reliability diagrams, risk-coverage curves, Grad-CAM grids.

Rendering only (matplotlib, imported on first use): the numbers come from the metrics record
(`expression_reliability`, `expression_risk_coverage`) and the maps from affectlab.inference.saliency.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from affectlab.reports.figures import _plt, _png, color


def _reliability_axes(ax: Any, count_ax: Any, bins: dict[str, Any], title: str) -> None:
    """One reliability diagram: accuracy bars per confidence bin, the gap to the diagonal, counts below."""
    edges = np.asarray(bins["edges"])
    width = np.diff(edges)
    left = edges[:-1]
    acc = np.array([np.nan if a is None else a for a in bins["accuracy"]])
    conf = np.array([np.nan if c is None else c for c in bins["confidence"]])
    counts = np.asarray(bins["count"])
    used = counts > 0
    ax.bar(
        left[used], acc[used], width[used], align="edge", color="#4c72b0", edgecolor="white", label="accuracy"
    )
    gap_low, gap_high = np.minimum(acc, conf), np.maximum(acc, conf)
    ax.bar(
        left[used],
        (gap_high - gap_low)[used],
        width[used],
        bottom=gap_low[used],
        align="edge",
        color="#c44e52",
        alpha=0.35,
        hatch="//",
        edgecolor="#c44e52",
        label="gap to mean confidence",
    )
    ax.plot([0, 1], [0, 1], ls="--", color="#555", lw=1, label="perfect calibration")
    ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy in bin", title=title)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    ax.grid(alpha=0.2)
    count_ax.bar(left, counts, width, align="edge", color="#8c8c8c", edgecolor="white")
    for x, w, c in zip(left, width, counts, strict=True):
        if c:
            count_ax.text(x + w / 2, c, str(int(c)), ha="center", va="bottom", fontsize=6)
    count_ax.set(xlim=(0, 1), xlabel="confidence (top probability)", ylabel="faces")
    count_ax.set_ylim(0, max(1, counts.max()) * 1.25)


def reliability_diagram(panels: Sequence[tuple[str, dict[str, Any]]]) -> bytes:
    """Reliability diagrams side by side (e.g. uncalibrated | calibrated), each with its bin counts."""
    plt = _plt()
    fig, axes = plt.subplots(
        2,
        len(panels),
        figsize=(4.3 * len(panels), 5.0),
        squeeze=False,
        gridspec_kw={"height_ratios": [3, 1.1]},
        sharex="col",
    )
    for k, (title, bins) in enumerate(panels):
        _reliability_axes(axes[0, k], axes[1, k], bins, title)
    fig.tight_layout()
    return _png(fig)


def risk_coverage_curves(
    curves: Sequence[tuple[str, dict[str, Any]]], marks: Sequence[tuple[str, float, float]] = ()
) -> bytes:
    """Accuracy of the answered faces vs the share answered, one line per model; marks = (label, cov, acc)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    for k, (name, curve) in enumerate(curves):
        ax.plot(
            curve["coverage"],
            curve["accuracy"],
            lw=1.8,
            color=color(k),
            label=f"{name} (AURC {curve['aurc']:.3f})",
        )
        for cov, acc, thr in zip(curve["coverage"], curve["accuracy"], curve["threshold"], strict=True):
            if any(math.isclose(cov, target, abs_tol=0.011) for target in (0.5, 0.8)):
                ax.annotate(
                    f"p≥{thr:.2f}", (cov, acc), fontsize=6.5, xytext=(3, 4), textcoords="offset points"
                )
    for label, cov, acc in marks:
        ax.plot([cov], [acc], "o", ms=7, mfc="none", mec="#c44e52", mew=1.8)
        ax.annotate(
            label, (cov, acc), fontsize=7, color="#c44e52", xytext=(5, -12), textcoords="offset points"
        )
    ax.set(xlim=(0, 1.02), xlabel="coverage (share of faces answered)", ylabel="accuracy of answered faces")
    ax.grid(alpha=0.25)
    ax.legend(fontsize=7.5, frameon=False, loc="lower left")
    fig.tight_layout()
    return _png(fig)


def saliency_grid(
    images: np.ndarray,
    maps: dict[str, np.ndarray],
    labels: Sequence[dict[str, str]],
    title: str,
    per_row: int = 4,
) -> bytes:
    """Each face's Grad-CAM overlays (expression, valence, arousal) side by side, `per_row` faces a row."""
    from affectlab.inference.saliency import TARGETS, overlay

    plt = _plt()
    n = len(images)
    targets = [t for t in TARGETS if t in maps]
    cols = per_row * len(targets)
    rows = max(1, math.ceil(n / per_row))
    fig, axes = plt.subplots(rows, cols, figsize=(1.2 * cols, 1.45 * rows + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i in range(n):
        r, c0 = divmod(i, per_row)
        for j, target in enumerate(targets):
            ax = axes[r, c0 * len(targets) + j]
            ax.imshow(overlay(images[i], maps[target][i]))
            ax.set_title(labels[i].get(target, target), fontsize=6, linespacing=1.1)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _png(fig)
