"""Aff-Wild2-protocol scores: pooled and per-video CCC (checked by hand), per-video causal smoothing."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from affectlab.errors import AffectlabError
from affectlab.evaluation.video import (
    evaluate_videos,
    format_scores,
    per_video_ccc,
    smooth_by_video,
    split_ids,
    video_scores,
)
from affectlab.inference.smoothing import smooth_series


def hand_ccc(y: np.ndarray, p: np.ndarray) -> float:
    """Lin's CCC written out: 2 cov / (var_y + var_p + (mean_y - mean_p)^2), population moments."""
    my, mp = y.mean(), p.mean()
    cov = ((y - my) * (p - mp)).mean()
    return float(2 * cov / (y.var() + p.var() + (my - mp) ** 2))


def test_per_video_and_pooled_ccc_by_hand() -> None:
    rng = np.random.default_rng(0)
    videos = np.array(["a"] * 30 + ["b"] * 20, dtype=object)
    y = rng.uniform(-1, 1, 50)
    p = 0.6 * y + rng.normal(0, 0.3, 50) + np.where(videos == "b", 0.4, 0.0)
    got = per_video_ccc(videos, y, p)
    assert got["a"] == pytest.approx(hand_ccc(y[:30], p[:30]), abs=1e-12)
    assert got["b"] == pytest.approx(hand_ccc(y[30:], p[30:]), abs=1e-12)
    y[3] = np.nan  # a frame without a label is left out
    assert per_video_ccc(videos, y, p)["a"] == pytest.approx(
        hand_ccc(np.delete(y[:30], 3), np.delete(p[:30], 3))
    )


def test_smoothing_stays_within_each_video_and_follows_frame_numbers() -> None:
    rng = np.random.default_rng(1)
    videos = np.array(["a"] * 8 + ["b"] * 8, dtype=object)
    frames = np.array([1, 2, 3, 4, 9, 10, 11, 12] * 2)
    x = rng.uniform(-1, 1, 16)
    out = smooth_by_video(videos, frames, x, 3.0)
    assert out[:8] == pytest.approx(smooth_series(frames[:8], x[:8], 3.0))
    assert out[8:] == pytest.approx(smooth_series(frames[8:], x[8:], 3.0))  # b does not see a's frames
    order = rng.permutation(16)  # the order of the samples does not matter, only video and frame
    assert smooth_by_video(videos[order], frames[order], x[order], 3.0) == pytest.approx(out[order])
    probs = rng.dirichlet(np.ones(4), 16)
    smoothed = smooth_by_video(videos, frames, probs, 3.0)
    assert smoothed.shape == (16, 4) and smoothed.sum(axis=1) == pytest.approx(np.ones(16))
    with pytest.raises(AffectlabError, match="twice"):
        smooth_by_video(np.array(["a", "a"], dtype=object), np.array([1, 1]), np.zeros(2), 3.0)


def test_ids_must_be_video_frames() -> None:
    videos, frames = split_ids(["v-1/00002", "v/2/00010"])
    assert videos.tolist() == ["v-1", "v/2"] and frames.tolist() == [2, 10]
    with pytest.raises(AffectlabError, match="video"):
        split_ids(["12345"])


def _predictions(
    n_videos: int = 4, frames: int = 80, noise: float = 0.35
) -> tuple[list[str], SimpleNamespace]:
    rng = np.random.default_rng(2)
    ids, val, aro, pv, pa = [], [], [], [], []
    for v in range(n_videos):
        t = np.arange(frames)
        truth_v = 0.7 * np.sin(t / 12 + v)
        truth_a = 0.5 * np.cos(t / 15 + 2 * v)
        ids += [f"vid{v}/{k + 1:05d}" for k in t]
        val.append(truth_v)
        aro.append(truth_a)
        pv.append(truth_v + rng.normal(0, noise, frames))
        pa.append(truth_a + rng.normal(0, noise, frames))
    n = n_videos * frames
    expression = rng.integers(0, 3, n)
    probs = np.full((n, 8), 0.02)
    probs[np.arange(n), expression] = 0.86
    pred = SimpleNamespace(
        index=np.arange(n)[::-1],  # predictions come in split order; any order of samples works
        valence=np.concatenate(val)[::-1],
        arousal=np.concatenate(aro)[::-1],
        pred_valence=np.concatenate(pv)[::-1],
        pred_arousal=np.concatenate(pa)[::-1],
        expression=expression[::-1],
        probs=probs[::-1],
    )
    return ids, pred


def test_video_scores_raw_and_smoothed() -> None:
    ids, pred = _predictions()
    scores = video_scores(ids, pred, tau=4.0)
    raw, smooth = scores["raw"], scores["smoothed"]
    assert scores["frames"] == 320 and scores["videos"] == 4
    assert raw["valence_ccc"] == pytest.approx(hand_ccc(pred.valence, pred.pred_valence), abs=1e-12)
    mean = np.mean([v for v in raw["valence_ccc_per_video"].values()])
    assert raw["valence_ccc_video_mean"] == pytest.approx(mean)
    assert raw["va_ccc"] == pytest.approx((raw["valence_ccc"] + raw["arousal_ccc"]) / 2)
    # independent noise on slowly changing truth: smoothing must raise the CCC
    assert smooth["valence_ccc"] > raw["valence_ccc"] + 0.05 and smooth["arousal_ccc"] > raw["arousal_ccc"]
    assert raw["expression_accuracy"] == 1.0
    assert scores["smoothing"]["ramp_lag_frames"] == pytest.approx(1 / np.expm1(1 / 4.0), abs=1e-3)
    assert len(format_scores(scores)) == 4


@pytest.fixture(scope="module")
def model_and_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    import torch

    from affectlab.data.synth_video import generate_affwild2
    from affectlab.models import ModelInfo, build_model, save_weights
    from affectlab.preprocessing import Preprocess

    root = tmp_path_factory.mktemp("aw-eval")
    data = generate_affwild2(root / "affwild2", train=1, val=2, frames=10, size=48, invalid_every=4)
    torch.manual_seed(0)
    model = build_model("mobilenet_v2", num_classes=8).eval()
    weights = root / "model.safetensors"
    save_weights(
        model,
        ModelInfo(
            "mobilenet_v2",
            ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt"),
            Preprocess(size=32),
        ),
        weights,
    )
    return weights, data


def test_evaluate_videos_end_to_end(model_and_data, tmp_path: Path) -> None:
    import json

    weights, data = model_and_data
    result, scores = evaluate_videos(
        weights, data, "val", tmp_path / "eval", tau=3.0, n_boot=0, progress=False
    )
    assert scores["videos"] == 2 and scores["frames"] == 2 * 8  # frames 4 and 8 of each video unannotated
    saved = json.loads((tmp_path / "eval" / "video_metrics.json").read_text())
    assert saved["raw"]["valence_ccc"] == pytest.approx(result.metrics["valence_ccc"])  # same pooled CCC
    assert set(saved["raw"]["valence_ccc_per_video"]) == {"val-001", "val-002"}
    record = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert record["video"]["raw"] == saved["raw"] and result.video is not None
    html = result.report_html.read_text()  # the report shows the same numbers, per video too
    assert "Video scores (Aff-Wild2 protocol)" in html and "val-002" in html
    assert f"{saved['smoothed']['valence_ccc']:.3f}" in html
    assert (tmp_path / "eval" / "report" / "figures" / "video_ccc.png").is_file()
