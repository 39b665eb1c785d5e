"""Valence/arousal (regression) metrics: RMSE, Pearson correlation, SAGR and CCC."""

from __future__ import annotations

from typing import Any

import numpy as np

from affectlab.errors import AffectlabError
from affectlab.metrics.checks import as_number, check_values


def regression_core(y: np.ndarray, p: np.ndarray) -> dict[str, np.ndarray]:
    """Return rmse, Pearson corr, SAGR and CCC along the last axis (NaN where undefined)."""
    mx, my = y.mean(axis=-1), p.mean(axis=-1)
    # a constant array is centred exactly (its float mean can be off by an ulp and fake a variance)
    const_y = (y.max(axis=-1) == y.min(axis=-1))[..., None]
    const_p = (p.max(axis=-1) == p.min(axis=-1))[..., None]
    dx = np.where(const_y, 0.0, y - mx[..., None])
    dy = np.where(const_p, 0.0, p - my[..., None])
    vx, vy = (dx * dx).mean(axis=-1), (dy * dy).mean(axis=-1)  # population variances
    cov = (dx * dy).mean(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.where((vx > 0) & (vy > 0), cov / np.sqrt(vx * vy), np.nan)
        denom = vx + vy + (mx - my) ** 2
        ccc = np.where(denom > 0, 2 * cov / denom, np.nan)
    return {
        "rmse": np.sqrt(((y - p) ** 2).mean(axis=-1)),
        "corr": np.clip(corr, -1.0, 1.0),
        "sagr": (np.sign(y) == np.sign(p)).mean(axis=-1),
        "ccc": ccc,
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Return rmse, corr (Pearson), sagr and ccc for one continuous target; NaN labels are skipped."""
    y = check_values(y_true, "y_true")
    p = check_values(y_pred, "y_pred")
    if y.shape != p.shape:
        raise AffectlabError(f"y_true and y_pred differ in length: {y.shape[0]} vs {p.shape[0]}")
    if np.isinf(y).any():
        raise AffectlabError("y_true contains inf; use NaN for a missing label")
    if not np.all(np.isfinite(p)):
        raise AffectlabError("y_pred contains NaN or inf; check the model outputs")
    labelled = ~np.isnan(y)
    y, p = y[labelled], p[labelled]
    if y.size == 0:
        raise AffectlabError("no labelled samples to score (empty input or every label is NaN)")
    core = regression_core(y, p)
    out: dict[str, Any] = {"n": int(y.size), "n_missing": int((~labelled).sum())}
    out.update({key: as_number(value) for key, value in core.items()})
    undefined: dict[str, str] = {}
    if out["corr"] is None:
        which = [w for w, a in (("y_true", y), ("y_pred", p)) if np.ptp(a) == 0]
        undefined["corr"] = f"{' and '.join(which)} constant: Pearson correlation is 0/0"
    if out["ccc"] is None:
        undefined["ccc"] = "y_true and y_pred are the same constant: CCC is 0/0"
    out["undefined"] = undefined
    return out
