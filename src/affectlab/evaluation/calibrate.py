"""`calibrate`: fit temperature scaling on a held-out split and store it in the model's info.

The temperature is fitted by L-BFGS on the negative log-likelihood of the raw logits (Guo et al. 2017, "On
calibration of modern neural networks", ICML), written into model.safetensors (the original file is kept as
model.uncalibrated.safetensors), and from then on evaluate, predict, serve and export apply it. The guard: the
split it is fitted on must not be the split whose numbers are reported (``report_split``, "val"), unless
forced.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError
from affectlab.models.calibration import METHODS, Calibration, check_threshold

log = logging.getLogger(__name__)

#: Where the file as it was before the first calibration is kept, beside model.safetensors.
BACKUP_SUFFIX = ".uncalibrated.safetensors"
#: The record `calibrate` writes beside the weights.
RECORD_NAME = "calibration.json"


def fit_temperature(
    logits: np.ndarray, labels: np.ndarray, method: str = "temperature", max_iter: int = 200
) -> float | np.ndarray:
    """Return the temperature (one, or one per class for 'vector') minimising NLL of softmax(logits / T)."""
    import torch

    if method not in METHODS:
        raise AffectlabError(f"unknown calibration method {method!r}; choose {' or '.join(METHODS)}")
    y = np.asarray(labels)
    keep = y >= 0
    if keep.sum() < 2:
        raise AffectlabError("calibration needs labelled expression samples (at least 2) in the split")
    z = torch.as_tensor(np.asarray(logits, np.float64)[keep])
    target = torch.as_tensor(y[keep], dtype=torch.long)
    log_t = torch.zeros(z.shape[1] if method == "vector" else 1, dtype=torch.float64, requires_grad=True)
    # log T keeps T positive; NLL is convex in 1/T, so L-BFGS with a line search finds the optimum.
    optimiser = torch.optim.LBFGS([log_t], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), target)
        loss.backward()
        return loss

    optimiser.step(closure)
    t = log_t.detach().exp().numpy()
    if not np.all(np.isfinite(t)) or t.max() > 100.0:
        raise AffectlabError(
            f"the fitted temperature ran off to {t.max():.3g}: on this split the model's expression logits "
            "carry (almost) no information about the labels, so the best calibration is a uniform guess; "
            "check that the model is trained and the split is the right one"
        )
    return t if method == "vector" else float(t[0])


def _summary(y: np.ndarray, probs: np.ndarray, n_boot: int = 0) -> dict[str, Any]:
    """ECE, classwise ECE, NLL, Brier and accuracy of labelled probabilities (intervals with n_boot)."""
    from affectlab.metrics import affect_metrics_ci, calibration_metrics

    cal = calibration_metrics(y, probs)
    keep = y >= 0
    out: dict[str, Any] = {k: cal[k] for k in ("ece", "classwise_ece", "nll", "brier")}
    out["accuracy"] = float((probs[keep].argmax(axis=1) == y[keep]).mean())
    if n_boot:
        ci = affect_metrics_ci(y, probs, n_boot=n_boot)
        out["ci"] = {k: ci[f"expression_{k}"] for k in ("ece", "classwise_ece", "nll", "brier", "accuracy")}
    return out


def _threshold(y: np.ndarray, probs: np.ndarray, coverage: float | None, below: float | None) -> float | None:
    """The abstention threshold: given, or the top probability that answers `coverage` of the faces."""
    if coverage is None:
        return check_threshold(below)
    if below is not None:
        raise AffectlabError("give --uncertain-below or --coverage, not both")
    if not 0.0 < coverage <= 1.0:
        raise AffectlabError(f"--coverage must be in (0, 1], got {coverage}")
    conf = np.sort(probs[y >= 0].max(axis=1))[::-1]
    return float(conf[int(np.ceil(coverage * conf.size)) - 1])


def check_split_choice(
    split: str, report_split: str, force: bool, data: Any = None, report_data: Any = None
) -> list[str]:
    """Refuse to fit on the reported split (same data, same split) unless forced; return the warnings."""
    warnings = []
    same = report_data is None or report_data is data or same_data(data, report_data)
    if split == report_split and same:
        if not force:
            raise AffectlabError(
                f"refusing to calibrate on split {split!r}: it is the split you report (--report-split "
                f"{report_split}), so its ECE and NLL would come out optimistic. Fit on held-out data the "
                "model was not selected on (e.g. --split selection when the data has one, or another "
                "dataset's split with --report-data naming the reported one), or pass --force if you know "
                "what you are doing"
            )
        warnings.append(
            f"CALIBRATING ON THE REPORTED SPLIT {split!r} (--force): its calibration numbers are now "
            "optimistic; the evaluation report of this split will say so"
        )
    if split == "train":
        warnings.append(
            "calibrating on 'train', which the model was fitted on: its logits there are more confident "
            "than on new faces, so the temperature will come out too low"
        )
    return warnings


def _describe(data: Any) -> str:
    """A dataset argument as recorded: its resolved path, or that it was given in memory."""
    return str(Path(data).resolve()) if isinstance(data, str | Path) else "in-memory splits"


@dataclass
class CalibrationResult:
    """What `calibrate` did: the calibration stored, the numbers before/after and the files written."""

    calibration: Calibration
    record: dict[str, Any]
    weights: Path
    backup: Path | None
    record_path: Path | None


def _predict(loaded: Any, data: Any, split: str, device: str, batch_size: int) -> Any:
    """Uncalibrated predictions (raw logits kept) of a split, opened at the model's settings."""
    from affectlab.evaluation.evaluate import open_data
    from affectlab.evaluation.runner import predict_split

    if isinstance(data, dict):  # in memory: {split name: FaceSplit}
        if split not in data:
            raise AffectlabError(f"no split {split!r} in the data given (has {', '.join(data)})")
        data = data[split]
    face_split = open_data(data, split, loaded)
    return predict_split(
        loaded, face_split, batch_size=batch_size, device=device, progress=False, calibrated=False
    )


def _report_part(
    loaded: Any, data: Any, report_split: str, cal: Calibration, device: str, batch_size: int, n_boot: int
) -> dict[str, Any]:
    """Before/after numbers (with intervals) on the reported split, or why there are none."""
    from affectlab.inference.backends import probabilities
    from affectlab.metrics import abstention_at

    try:
        pred = _predict(loaded, data, report_split, device, batch_size)
    except AffectlabError as exc:
        return {"split": report_split, "skipped": str(exc)}
    y = pred.expression
    if not (y >= 0).any():
        return {"split": report_split, "skipped": "no expression labels in this split"}
    after = probabilities(pred.logits, cal)
    part = {
        "split": report_split,
        "n": int((y >= 0).sum()),
        "before": _summary(y, pred.probs, n_boot),
        "after": _summary(y, after, n_boot),
    }
    if cal.uncertain_below is not None:
        part["abstention"] = abstention_at(y, after, cal.uncertain_below)
    return part


def calibrate(
    model: str | Path,
    data: Any,
    split: str,
    *,
    method: str = "temperature",
    report_split: str = "val",
    report_data: Any = None,
    force: bool = False,
    uncertain_below: float | None = None,
    coverage: float | None = None,
    device: str = "auto",
    batch_size: int = 128,
    n_boot: int = 1000,
) -> CalibrationResult:
    """Fit temperature scaling on `split`, store it in the model file, report before/after on the other.

    ``report_data`` (default: ``data``) holds ``report_split``, the split whose numbers are reported.
    """
    from affectlab.evaluation.evaluate import write_json
    from affectlab.evaluation.runner import load_for_eval
    from affectlab.inference.backends import probabilities
    from affectlab.models.weights import replace_info

    report_data = data if report_data is None else report_data
    warnings = check_split_choice(split, report_split, force, data, report_data)
    forced = bool(warnings) and split == report_split
    loaded = load_for_eval(model)
    artifact = loaded.artifact
    if artifact.format != "safetensors":
        raise AffectlabError(
            f"{artifact.path} is an ONNX export; calibrate its model.safetensors (or run folder), then "
            "export again"
        )
    for line in warnings:
        log.warning(line)
    pred = _predict(loaded, data, split, device, batch_size)
    y = pred.expression
    temperature = fit_temperature(pred.logits, y, method)
    t_value = temperature.tolist() if isinstance(temperature, np.ndarray) else temperature
    trial = Calibration(method, t_value)
    fitted_probs = probabilities(pred.logits, trial)
    before, after = _summary(y, pred.probs), _summary(y, fitted_probs)
    fitted_on = {
        "data": _describe(data),
        "split": split,
        "n": int((y >= 0).sum()),
        "nll_before": before["nll"],
        "nll_after": after["nll"],
        "ece_before": before["ece"],
        "ece_after": after["ece"],
        "report_data": _describe(report_data),
        "report_split": report_split,
        "forced": forced,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    threshold = _threshold(y, fitted_probs, coverage, uncertain_below)
    cal = Calibration(method, t_value, threshold, fitted_on)
    report = (
        {"split": report_split, "skipped": "the calibration split itself (forced)"}
        if forced
        else _report_part(loaded, report_data, report_split, cal, device, batch_size, n_boot)
    )
    weights = artifact.path
    backup = weights.with_name(weights.name.removesuffix(".safetensors") + BACKUP_SUFFIX)
    replace_info(weights, replace(artifact.info, calibration=cal), backup)
    record = {
        "format": "affectlab-calibration",
        "format_version": 1,
        "model": {"arch": loaded.arch, "weights": str(weights), "uncalibrated_copy": str(backup)},
        "calibration": cal.to_dict(),
        "coverage_asked": coverage,
        "fit": {"split": split, "n": fitted_on["n"], "before": before, "after": after},
        "report": report,
        "warnings": warnings,
    }
    record_path = weights.with_name(RECORD_NAME)
    write_json(record_path, record)
    log.info("calibration written to %s (%s)", weights, cal.describe())
    return CalibrationResult(cal, record, weights, backup, record_path)


def uncalibrate(model: str | Path) -> Path:
    """Undo `calibrate`: restore the uncalibrated copy (or drop the calibration from the info); return it."""
    import os

    from affectlab.models.artifacts import open_model
    from affectlab.models.weights import replace_info

    artifact = open_model(model)
    if artifact.format != "safetensors":
        raise AffectlabError(f"{artifact.path}: only a model.safetensors carries a calibration to undo")
    weights = artifact.path
    backup = weights.with_name(weights.name.removesuffix(".safetensors") + BACKUP_SUFFIX)
    if backup.is_file():
        os.replace(backup, weights)
    elif artifact.info.calibration is not None:
        replace_info(weights, replace(artifact.info, calibration=None))
    else:
        raise AffectlabError(f"{weights} is not calibrated; nothing to undo")
    return weights


def same_data(a: Any, b: Any) -> bool:
    """True when two dataset arguments name the same folder (resolved paths)."""
    if not isinstance(a, str | Path) or not isinstance(b, str | Path):
        return False
    return Path(a).resolve() == Path(b).resolve()


def calibration_facts(
    loaded: Any, pred: Any, data: Any, split: str, calibrated: bool = True
) -> dict[str, Any]:
    """The ``calibration`` part of a metrics.json: what was applied, the uncalibrated numbers, abstention."""
    from affectlab.metrics import abstention_at, calibration_metrics

    cal = loaded.calibration if calibrated else None
    facts: dict[str, Any] = {
        "applied": cal.to_dict() if cal is not None else None,
        "available": loaded.calibration is not None,
        "fitted_on_this_split": False,
        "uncalibrated": None,
        "abstention": None,
    }
    labelled = pred.expression >= 0
    if not labelled.any():
        return facts
    if cal is not None:
        fit = cal.fitted_on
        facts["fitted_on_this_split"] = fit.get("split") == split and same_data(fit.get("data"), data)
        if pred.raw_probs is not None:
            raw = calibration_metrics(pred.expression, pred.raw_probs)
            facts["uncalibrated"] = {k: raw[k] for k in ("ece", "classwise_ece", "nll", "brier", "aurc")}
            facts["uncalibrated"]["reliability"] = raw["reliability"]
        if cal.uncertain_below is not None:
            facts["abstention"] = abstention_at(pred.expression, pred.probs, cal.uncertain_below)
    if facts["fitted_on_this_split"]:
        log.warning(
            "the model's temperature was fitted on this very split (%s of %s): its calibration numbers here "
            "are optimistic",
            split,
            data,
        )
    return facts
