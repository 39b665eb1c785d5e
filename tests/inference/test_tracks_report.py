"""Per-track summary, timeline and valence-arousal trajectory from hand-made rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from affectlab.inference.results import FaceResult, FrameResult
from affectlab.inference.tracks_report import TrackBooks, save_timeline, save_trajectories

CLASSES = ("neutral", "happy", "sad")


def _face(frame: int, track: int, valence: float, expression: str) -> FaceResult:
    probs = {c: (0.8 if c == expression else 0.1) for c in CLASSES}
    return FaceResult(
        "v.mp4", frame, frame * 0.5, 0, (0, 0, 9, 9), 0.9, expression, probs, valence, -valence, track=track
    )


def _book() -> TrackBooks:
    books = TrackBooks(CLASSES)
    # track 1 in frames 0-3 and 6-7 (away at 4-5); track 2 in frames 2-3; frames 4 and 5 have no face
    plan = {0: [1], 1: [1], 2: [1, 2], 3: [1, 2], 4: [], 5: [], 6: [1], 7: [1]}
    for frame, tracks in plan.items():
        faces = [
            _face(frame, t, 0.1 * frame * (1 if t == 1 else -1), "happy" if frame < 3 else "sad")
            for t in tracks
        ]
        books.add(FrameResult("v.mp4", frame, frame * 0.5, faces))
    return books


def test_summaries_by_hand() -> None:
    one, two = _book().summaries()["v.mp4"]
    assert one["track"] == 1 and one["frames_seen"] == 6 and one["frames_in_span"] == 8
    assert one["start_s"] == 0.0 and one["end_s"] == 3.5 and one["duration_s"] == 4.0
    assert one["expression_shares"] == {"neutral": 0.0, "happy": 0.5, "sad": 0.5}
    values = 0.1 * np.array([0, 1, 2, 3, 6, 7])
    assert one["valence_mean"] == pytest.approx(values.mean(), abs=1e-4)
    assert one["valence_std"] == pytest.approx(values.std(), abs=1e-4)
    assert one["arousal_mean"] == pytest.approx(-values.mean(), abs=1e-4)
    assert two["frames_seen"] == 2 and two["first_frame"] == 2 and two["expression_shares"]["happy"] == 0.5


def test_series_leave_gaps_and_photos_are_ignored() -> None:
    books = _book()
    books.add(FrameResult("photo.jpg", 0, None, [_face(0, 1, 0.0, "happy")]))
    book = books.books["v.mp4"]
    assert "photo.jpg" not in books.books
    v = book.series(1, "valence")
    assert np.isnan(v[[4, 5]]).all() and np.isfinite(v[[0, 1, 2, 3, 6, 7]]).all()
    assert book.no_face == [False] * 4 + [True, True] + [False] * 2


def test_figures_and_json(tmp_path: Path) -> None:
    import cv2

    books = _book()
    written = books.write("v.mp4", tmp_path / "v")
    assert [p.name for p in written] == ["v_tracks.json", "v_timeline.png", "v_va.png"]
    data = json.loads(written[0].read_text())
    assert data["frames"] == 8 and data["no_face_frames"] == 2 and len(data["tracks"]) == 2
    for png in written[1:]:
        assert cv2.imread(str(png)) is not None


def test_figures_without_any_face(tmp_path: Path) -> None:
    books = TrackBooks(CLASSES)
    books.add(FrameResult("e.mp4", 0, 0.0, []))
    book = books.books["e.mp4"]
    assert save_timeline(book, tmp_path / "t.png").stat().st_size > 0
    assert save_trajectories(book, tmp_path / "va.png").stat().st_size > 0
