"""Per-track smoothing: causal, its lag as documented (measured here on a ramp and a step), gaps, columns."""

from __future__ import annotations

import math

import numpy as np
import pytest

from affectlab.errors import AffectlabError
from affectlab.inference.results import FaceResult, ResultWriter, result_columns
from affectlab.inference.smoothing import (
    Ema,
    TrackSmoother,
    ramp_lag_frames,
    smooth_columns,
    smooth_series,
    step_half_frames,
)

CLASSES = ("neutral", "happy", "sad")


def face(
    frame: int, track: int | None, valence: float, probs: tuple[float, ...] = (0.2, 0.5, 0.3)
) -> FaceResult:
    names = dict(zip(CLASSES, probs, strict=True))
    return FaceResult(
        "v.mp4",
        frame,
        frame / 25,
        0,
        (0, 0, 10, 10),
        0.99,
        max(names, key=names.get),
        names,
        valence,
        0.0,
        track=track,
    )


@pytest.mark.parametrize("tau", [1.0, 3.0, 8.0])
def test_ramp_lag_matches_the_stated_frames(tau: float) -> None:
    frames = np.arange(400)
    x = 0.002 * frames  # a steady change
    y = smooth_series(frames, x, tau)
    measured = (x[-1] - y[-1]) / 0.002  # how many frames behind the smoothed value is, once settled
    assert measured == pytest.approx(ramp_lag_frames(tau), rel=1e-6)
    assert ramp_lag_frames(tau) == pytest.approx(tau - 0.5 + 1 / (12 * tau), abs=0.01)


@pytest.mark.parametrize("tau", [1.0, 3.0, 8.0])
def test_step_half_way_after_the_stated_frames(tau: float) -> None:
    frames = np.arange(60)
    x = (frames >= 20).astype(float)
    y = smooth_series(frames, x, tau)
    first_half = int(np.argmax(y >= 0.5)) - 20
    assert first_half == step_half_frames(tau)
    assert np.all(y[:20] == 0.0)  # causal: nothing moves before the change


def test_gap_lets_the_filter_catch_up() -> None:
    ema = Ema(4.0)
    ema.update(0, np.array([0.0]))
    after_one = ema.update(1, np.array([1.0]))[0]
    ema = Ema(4.0)
    ema.update(0, np.array([0.0]))
    after_gap = ema.update(40, np.array([1.0]))[0]
    assert after_one == pytest.approx(1 - math.exp(-1 / 4))
    assert after_gap == pytest.approx(1 - math.exp(-10)) and after_gap > 0.9999


def test_tracks_are_smoothed_separately_and_raw_values_kept() -> None:
    sm = TrackSmoother(2.0, CLASSES)
    a0 = sm.smooth(face(0, 1, 0.0))
    b0 = sm.smooth(face(0, 2, 1.0))
    a1 = sm.smooth(face(1, 1, 1.0, (0.1, 0.1, 0.8)))
    assert a0.smoothed is not None and a0.smoothed.valence == 0.0 and b0.smoothed.valence == 1.0
    w = 1 - math.exp(-1 / 2)
    assert a1.smoothed.valence == pytest.approx(w) and a1.valence == 1.0  # raw value beside the smoothed
    assert a1.smoothed.probabilities["sad"] == pytest.approx(0.3 + w * 0.5)
    assert sum(a1.smoothed.probabilities.values()) == pytest.approx(1.0)
    assert sm.smooth(face(0, None, 0.3)).smoothed is None  # a photo (no track) is not smoothed
    with pytest.raises(AffectlabError, match="positive"):
        TrackSmoother(0.0, CLASSES)


def test_smoothed_columns_in_the_results_file(tmp_path) -> None:
    import json

    sm = TrackSmoother(2.0, CLASSES)
    path = tmp_path / "rows.jsonl"
    with ResultWriter(path, CLASSES, smoothed=True) as writer:
        writer.write([sm.smooth(face(0, 1, 0.5)), face(0, None, 0.1)])
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert list(rows[0]) == result_columns(CLASSES, smoothed=True)
    assert result_columns(CLASSES, smoothed=True)[-len(smooth_columns(CLASSES)) :] == smooth_columns(CLASSES)
    assert rows[0]["smooth_valence"] == 0.5 and rows[0]["track"] == 1
    assert rows[1]["smooth_valence"] is None and rows[1]["track"] is None


def test_predictor_smooths_video_rows(standin_predictor, sample_video) -> None:
    standin_predictor.smoothing = 3.0
    try:
        frames = list(standin_predictor.predict_video(sample_video))
    finally:
        standin_predictor.smoothing = None
    faces = [f for r in frames for f in r.faces]
    assert all(f.smoothed is not None and f.track == 1 for f in faces)
    raw = np.array([f.valence for f in faces])
    smooth = np.array([f.smoothed.valence for f in faces])
    assert smooth == pytest.approx(smooth_series(np.array([f.frame for f in faces]), raw, 3.0))
