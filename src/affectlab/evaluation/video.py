"""Video evaluation in Aff-Wild2's protocol: per-frame CCC over all frames and per video, raw and smoothed.

The ABAW valence-arousal challenge scores the CCC of every annotated frame of the validation videos pooled
together (``valence_ccc``, ``arousal_ccc`` and their mean ``va_ccc``); per-video CCCs (and their mean over
videos) show how evenly a model does across people. Smoothing is the same causal per-track filter as
``predict --smooth`` (:mod:`affectlab.inference.smoothing`), run along each video's frame numbers, so a
missing frame is a gap and never joins two distant frames. The CCC itself is :mod:`affectlab.metrics`'s.

Samples are grouped by their source id ``<video>/<frame>`` (what the Aff-Wild2 reader writes, and what a
store keeps in ``ids.txt``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError
from affectlab.inference.smoothing import Ema, check_tau, ramp_lag_frames, step_half_frames

log = logging.getLogger(__name__)

#: Default smoothing time constant (frames) for the smoothed scores.
DEFAULT_TAU = 5.0


def split_ids(ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(video, frame number) arrays from ``<video>/<frame>`` source ids."""
    videos, frames = [], []
    for sid in ids:
        video, sep, frame = str(sid).rpartition("/")
        if not sep or not frame.isdigit():
            raise AffectlabError(
                f"source id {sid!r} is not '<video>/<frame number>': per-video evaluation needs video frames "
                "(the Aff-Wild2 layout, or a store prepared from it)"
            )
        videos.append(video)
        frames.append(int(frame))
    return np.asarray(videos, dtype=object), np.asarray(frames, dtype=np.int64)


def smooth_by_video(videos: np.ndarray, frames: np.ndarray, values: np.ndarray, tau: float) -> np.ndarray:
    """Causally smooth per-sample values (N,) or (N, K) along each video's frame numbers."""
    values = np.asarray(values, dtype=np.float64)
    flat = values.reshape(len(values), -1)
    out = np.empty_like(flat)
    for video in dict.fromkeys(videos.tolist()):
        rows = np.flatnonzero(videos == video)
        rows = rows[np.argsort(frames[rows], kind="stable")]
        if len(np.unique(frames[rows])) != len(rows):
            raise AffectlabError(f"video {video!r} has the same frame number twice")
        ema = Ema(tau)
        for r in rows:
            out[r] = ema.update(int(frames[r]), flat[r])
    return out.reshape(values.shape)


def ccc(truth: np.ndarray, pred: np.ndarray) -> float | None:
    """CCC of the labelled samples (NaN labels skipped) by affectlab.metrics; None when undefined or empty."""
    from affectlab.metrics import regression_metrics

    if np.isnan(truth).all():
        return None
    return regression_metrics(truth, pred)["ccc"]


def per_video_ccc(videos: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> dict[str, float | None]:
    """CCC of each video's labelled frames (None where the video has none, or CCC is 0/0)."""
    return {str(v): ccc(truth[videos == v], pred[videos == v]) for v in dict.fromkeys(videos.tolist())}


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def _scores(videos: np.ndarray, truth: dict[str, np.ndarray], pred: dict[str, np.ndarray]) -> dict[str, Any]:
    """All-frames and per-video CCC, and expression macro-F1, for one set of outputs."""
    from affectlab.metrics import classification_metrics

    out: dict[str, Any] = {}
    for what in ("valence", "arousal"):
        out[f"{what}_ccc"] = ccc(truth[what], pred[what])
        out[f"{what}_ccc_per_video"] = per_video_ccc(videos, truth[what], pred[what])
        out[f"{what}_ccc_video_mean"] = _mean(list(out[f"{what}_ccc_per_video"].values()))
    pair = [out["valence_ccc"], out["arousal_ccc"]]
    out["va_ccc"] = None if None in pair else float(np.mean(pair))  # type: ignore[arg-type]
    labelled = truth["expression"] >= 0
    if labelled.any():
        cls = classification_metrics(truth["expression"][labelled], pred["probs"][labelled])
        out["expression_f1_macro"] = cls["f1_macro"]
        out["expression_accuracy"] = cls["accuracy"]
    return out


def video_scores(ids: Sequence[str], predictions: Any, tau: float = DEFAULT_TAU) -> dict[str, Any]:
    """Aff-Wild2-protocol scores of evaluate's Predictions (split order) given the split's source ids."""
    check_tau(tau)
    videos, frames = split_ids([ids[int(i)] for i in predictions.index])
    truth = {
        "valence": np.asarray(predictions.valence, np.float64),
        "arousal": np.asarray(predictions.arousal, np.float64),
        "expression": np.asarray(predictions.expression, np.int64),
    }
    raw = {
        "valence": np.asarray(predictions.pred_valence, np.float64),
        "arousal": np.asarray(predictions.pred_arousal, np.float64),
        "probs": np.asarray(predictions.probs, np.float64),
    }
    smoothed = {k: smooth_by_video(videos, frames, v, tau) for k, v in raw.items()}
    return {
        "frames": len(videos),
        "videos": len(set(videos.tolist())),
        "smoothing": {
            "method": "causal exponential moving average per video (affectlab.inference.smoothing)",
            "tau_frames": tau,
            "ramp_lag_frames": round(ramp_lag_frames(tau), 3),
            "step_half_frames": step_half_frames(tau),
        },
        "raw": _scores(videos, truth, raw),
        "smoothed": _scores(videos, truth, smoothed),
    }


def evaluate_videos(
    weights: Any,
    data: str | Path,
    split: str = "val",
    out: str | Path | None = None,
    *,
    tau: float = DEFAULT_TAU,
    **evaluate_options: Any,
) -> tuple[Any, dict[str, Any]]:
    """Run ``evaluate`` on a video dataset (Aff-Wild2 layout or its store) with the video scores.

    Returns (EvalResult, scores); the scores are in metrics.json (``video``) and the report, and also
    written alone to ``OUT/video_metrics.json``.
    """
    from affectlab.evaluation.evaluate import evaluate, write_json

    check_tau(tau)
    result = evaluate(weights, data, split, out, per_video_tau=tau, **evaluate_options)
    assert result.video is not None
    scores = dict(result.video, data={"path": str(data), "split": split})
    write_json(result.out / "video_metrics.json", scores)
    log.info("video metrics written to %s", result.out / "video_metrics.json")
    return result, scores


def format_scores(scores: dict[str, Any]) -> list[str]:
    """A few lines for the terminal: all-frames and per-video-mean CCC, raw and smoothed."""
    sm = scores["smoothing"]

    def f(v: Any) -> str:
        return "   -  " if v is None else f"{v:6.3f}"

    lines = [
        f"{scores['frames']} frames in {scores['videos']} videos; smoothing tau {sm['tau_frames']:g} frames "
        f"(lag {sm['ramp_lag_frames']:.1f} frames on a ramp)",
        "                 valence CCC  arousal CCC  mean (V+A)/2  valence per video  arousal per video",
    ]
    for name in ("raw", "smoothed"):
        s = scores[name]
        lines.append(
            f"  {name:<9}      {f(s['valence_ccc'])}       {f(s['arousal_ccc'])}        {f(s['va_ccc'])}"
            f"             {f(s['valence_ccc_video_mean'])}             {f(s['arousal_ccc_video_mean'])}"
        )
    return lines
