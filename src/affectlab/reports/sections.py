"""Report building blocks shared by `evaluate` and `compare`: metric tables, figures, face grids, curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.evaluation.predictions import Predictions
from affectlab.reports import figures
from affectlab.reports.document import Figure, Note, Section, Table, fmt, fmt_ci

#: (metrics key suffix, label, shown as percent, higher is better) for the expression table.
EXPRESSION_ROWS: tuple[tuple[str, str, bool, bool], ...] = (
    ("accuracy", "Accuracy", True, True),
    ("balanced_accuracy", "Balanced accuracy", True, True),
    ("f1_macro", "F1 (macro)", False, True),
    ("f1_weighted", "F1 (weighted)", False, True),
    ("cohen_kappa", "Cohen's kappa", False, True),
    ("krippendorff_alpha", "Krippendorff's alpha (nominal)", False, True),
    ("auc_roc", "AUC-ROC (macro, one-vs-rest)", False, True),
    ("auc_pr", "AUC-PR (macro average precision)", False, True),
)
#: (metric, label, higher is better) for valence and arousal.
VA_ROWS: tuple[tuple[str, str, bool], ...] = (
    ("rmse", "RMSE", False),
    ("corr", "CORR (Pearson)", True),
    ("sagr", "SAGR", True),
    ("ccc", "CCC", True),
)
CI_NOTE = Note("Brackets: 95% percentile-bootstrap interval over the evaluated samples (where computed).")


def expression_table(metrics: dict[str, Any], ci: dict[str, Any]) -> Table:
    """Expression metrics with bootstrap intervals."""
    rows = [
        [label, fmt_ci(metrics.get(f"expression_{key}"), ci.get(f"expression_{key}"), 4 if pct else 3, pct)]
        for key, label, pct, _ in EXPRESSION_ROWS
    ]
    n = metrics.get("expression_n")
    return Table(["Expression metric", "Value [95% CI]"], rows, caption=f"Expression, n = {fmt(n)}")


def va_table(metrics: dict[str, Any], ci: dict[str, Any]) -> Table:
    """Valence and arousal metrics (RMSE, CORR, SAGR, CCC) with bootstrap intervals."""
    rows = [
        [label]
        + [fmt_ci(metrics.get(f"{task}_{key}"), ci.get(f"{task}_{key}")) for task in ("valence", "arousal")]
        for key, label, _ in VA_ROWS
    ]
    rows.append(["n"] + [fmt(metrics.get(f"{task}_n")) for task in ("valence", "arousal")])
    return Table(["Metric", "Valence", "Arousal"], rows, caption="Valence and arousal")


def undefined_note(metrics: dict[str, Any]) -> Note | None:
    """Return a note listing undefined headline metrics and why (per-class ones are only counted), or None."""
    undefined = metrics.get("undefined") or {}
    top = {k: v for k, v in undefined.items() if "per_class" not in k}
    per_class = len(undefined) - len(top)
    if not undefined:
        return None
    parts = [f"{k}: {v}" for k, v in sorted(top.items())]
    if per_class:
        parts.append(
            f"{per_class} per-class value(s) undefined, shown as — (e.g. a class never predicted has "
            "no precision)"
        )
    return Note("Undefined or partial values — " + "; ".join(parts) + ".")


def per_class_table(per_class: dict[str, dict[str, Any]]) -> Table:
    """The per-class classification report."""
    rows = [
        [
            name,
            fmt(r.get("precision")),
            fmt(r.get("recall")),
            fmt(r.get("f1")),
            fmt(r.get("auc_roc")),
            fmt(r.get("auc_pr")),
            fmt(r.get("support")),
        ]
        for name, r in per_class.items()
    ]
    return Table(
        ["Class", "Precision", "Recall", "F1", "AUC-ROC", "AUC-PR", "Support"],
        rows,
        caption="Per-class classification report",
    )


def _labelled(pred: Predictions) -> np.ndarray:
    return pred.expression >= 0


def confusion_figure(metrics: dict[str, Any], names: Sequence[str], prefix: str = "") -> Figure | None:
    """The confusion matrices (counts, row-normalised), or None without expression labels."""
    cm = metrics.get("expression_confusion_matrix")
    if cm is None:
        return None
    return Figure(
        f"{prefix}confusion_matrix.png",
        figures.confusion_matrices(cm, names),
        "Confusion matrix: counts (left) and row-normalised (right); rows are true classes.",
        wide=True,
    )


def classification_figures(pred: Predictions, metrics: dict[str, Any], prefix: str = "") -> list[Figure]:
    """Per-class bars and ROC/PR curves."""
    per_class = metrics.get("expression_per_class")
    if not per_class:
        return []
    keep = _labelled(pred)
    return [
        Figure(
            f"{prefix}per_class.png", figures.per_class_bars(per_class), "Precision, recall and F1 per class."
        ),
        Figure(
            f"{prefix}roc_pr.png",
            figures.roc_pr_curves(pred.expression[keep], pred.probs[keep], pred.class_names, per_class),
            "One-vs-rest ROC and precision-recall curves per class (legend: AUC-ROC and average precision).",
            wide=True,
        ),
    ]


def va_figures(pred: Predictions, prefix: str = "") -> list[Figure]:
    """Predicted-vs-true hexbins and the valence-arousal plane, when VA labels exist."""
    truth = {t: getattr(pred, t) for t in ("valence", "arousal") if np.isfinite(getattr(pred, t)).any()}
    if not truth:
        return []
    out = [
        Figure(
            f"{prefix}va_hexbin.png",
            figures.va_hexbin(truth, {"valence": pred.pred_valence, "arousal": pred.pred_arousal}),
            "Predicted vs true valence and arousal (hexbin density; dashed line = perfect prediction).",
            wide=True,
        )
    ]
    if len(truth) == 2:
        out.append(
            Figure(
                f"{prefix}va_plane.png",
                figures.va_plane(
                    pred.valence,
                    pred.arousal,
                    pred.pred_valence,
                    pred.pred_arousal,
                    pred.expression,
                    pred.class_names,
                ),
                "The valence-arousal plane: ground truth (left) and predictions (right), coloured by "
                "the true expression class.",
                wide=True,
            )
        )
    return out


def _caption(pred: Predictions, i: int) -> str:
    names, p = pred.class_names, pred.pred_expression[i]
    true = names[pred.expression[i]] if pred.expression[i] >= 0 else "?"
    line2 = []
    for short, task in (("V", "valence"), ("A", "arousal")):
        t, q = float(getattr(pred, task)[i]), float(getattr(pred, f"pred_{task}")[i])
        line2.append(f"{short} {q:+.2f}" if np.isnan(t) else f"{short} {t:+.2f}→{q:+.2f}")
    return f"T {true} · P {names[p]}\n{' '.join(line2)}"


def face_grid_figures(split: Any, pred: Predictions, per_grid: int = 16) -> list[Figure]:
    """Grids of correctly (random sample) and incorrectly (most confident first) classified faces."""
    keep = _labelled(pred)
    pred_cls = pred.pred_expression
    confidence = pred.probs.max(axis=1)
    correct = np.nonzero(keep & (pred_cls == pred.expression))[0]
    wrong = np.nonzero(keep & (pred_cls != pred.expression))[0]
    rng = np.random.default_rng(0)
    picks = [
        (
            "correct",
            np.sort(rng.choice(correct, min(per_grid, correct.size), replace=False)),
            True,
            "Correctly classified faces (random sample). T = true, P = predicted; V/A = true→predicted.",
        ),
        (
            "incorrect",
            wrong[np.argsort(-confidence[wrong], kind="stable")][:per_grid],
            False,
            "Misclassified faces, most confident mistakes first. "
            "T = true, P = predicted; V/A = true→predicted.",
        ),
    ]
    out = []
    for name, idx, ok, caption in picks:
        if idx.size == 0:
            continue
        images = split.get_batch(pred.index[idx])["image"]
        png = figures.face_grid(
            images,
            [_caption(pred, int(i)) for i in idx],
            f"{name.capitalize()} ({idx.size} shown)",
            [ok] * idx.size,
        )
        out.append(Figure(f"faces_{name}.png", png, caption, wide=True))
    return out


def curves_section(run_dir: Path | None, title: str = "Training curves") -> Section:
    """Training curves from the run's CSV logs, or a sentence saying why there are none."""
    from affectlab.reports.runlogs import read_curves

    section = Section(title)
    if run_dir is None:
        return section.add(
            "Not shown: the weights were given without their run folder, so there are no logs."
        )
    curves = read_curves(run_dir)
    if not curves:
        return section.add(
            f"Not shown: no Lightning CSV logs (logs/**/metrics.csv) with epoch-level values in {run_dir}."
        )
    files = ", ".join(str(p.relative_to(run_dir)) for p in curves.files)
    return section.add(
        Figure(
            "training_curves.png",
            figures.training_curves(curves.epochs, curves.series),
            f"Per-epoch losses and validation metrics from {files}.",
            wide=True,
        )
    )


def published_table(rows: list[dict[str, Any]], metrics: dict[str, Any], label: str) -> Table:
    """This run beside published reference figures (marked as such), one column per metric."""
    keys = (
        ("accuracy", "Accuracy", True),
        ("valence_ccc", "Valence CCC", False),
        ("arousal_ccc", "Arousal CCC", False),
        ("valence_rmse", "Valence RMSE", False),
        ("arousal_rmse", "Arousal RMSE", False),
    )
    ours = {"accuracy": metrics.get("expression_accuracy"), **{k: metrics.get(k) for k, _, _ in keys[1:]}}
    table_rows = [
        [f"{label} (this evaluation)", "this run"]
        + [fmt(ours[k], 4 if p else 3, p) for k, _, p in keys]
        + ["affectlab evaluate, this report's protocol", "—"]
    ]
    for row in rows:
        table_rows.append(
            [f"{row['method']} — {row['backbone']}", "published"]
            + [fmt(row.get(k), 4 if p else 3, p) for k, _, p in keys]
            + [row["protocol"], f"{row['source']} ({row['url']}); {row['checked']}"]
        )
    return Table(
        ["Model", "Kind"] + [h for _, h, _ in keys] + ["Protocol", "Source"],
        table_rows,
        caption="Published figures on AffectNet's validation set, under their own protocols",
        note="Published numbers are quoted from their sources under each paper's own protocol "
        "(pre-training, face alignment, input size, label set, test-time tricks); they are not "
        "re-measured here and differences of a point or two are not meaningful comparisons.",
    )
