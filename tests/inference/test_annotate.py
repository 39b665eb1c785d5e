"""Annotated photos keep every face's label readable; video timelines show gaps as gaps."""

from __future__ import annotations

import numpy as np
import pytest

from affectlab.inference.annotate import (
    Timeline,
    _colour,
    _overlaps,
    _unit,
    _va_rect,
    draw_faces,
    label_rects,
)
from affectlab.inference.results import FaceResult, FrameResult
from affectlab.labels import AFFECTNET_CLASSES


def _face(i: int, box: tuple[float, float, float, float], expression: str, frame: int = 0) -> FaceResult:
    probs = {c: 0.02 for c in AFFECTNET_CLASSES}
    probs[expression] = 0.86
    return FaceResult("a.jpg", frame, frame / 10, i, box, 0.99, expression, probs, 0.3, -0.4)


CROWD = [
    _face(0, (150, 60, 110, 130), "contempt"),
    _face(1, (200, 40, 110, 130), "surprise"),  # overlaps face 0: both labels would go in the same place
    _face(2, (175, 190, 100, 120), "happy"),
    _face(3, (10, 2, 60, 60), "neutral"),  # at the top edge: no room above
]


def test_labels_of_overlapping_faces_do_not_cover_each_other() -> None:
    shape = (512, 512, 3)
    rects = label_rects(CROWD, shape)
    squares = [_va_rect(f, shape, _unit(shape)) for f in CROWD]
    for i, rect in enumerate(rects):
        assert rect[0] >= 0 and rect[1] >= 0 and rect[2] <= 512 and rect[3] <= 512, rect
        assert not any(_overlaps(rect, other) for other in rects[:i] + rects[i + 1 :]), rects
        assert not any(_overlaps(rect, sq) for sq in squares), (rect, squares)


def test_every_label_is_visible_in_the_drawing() -> None:
    image = np.full((512, 512, 3), 40, np.uint8)
    drawn = draw_faces(image, CROWD)
    for face, (x0, y0, x1, y1) in zip(CROWD, label_rects(CROWD, image.shape), strict=True):
        patch = drawn[y0:y1, x0:x1].reshape(-1, 3)
        share = np.mean(np.all(patch == np.asarray(_colour(face), np.uint8), axis=1))
        dark = np.mean(patch.max(axis=1) < 90)  # the black text
        assert share > 0.4 and dark > 0.03, (face.expression, share, dark)  # its colour and its text


def _timeline(has_face: list[bool]) -> Timeline:
    timeline = Timeline(AFFECTNET_CLASSES)
    for i, face in enumerate(has_face):
        faces = [_face(0, (0, 0, 10, 10), "happy", frame=i)] if face else []
        timeline.add(FrameResult("v.mp4", i, i / 10, faces))
    return timeline


def test_timeline_stacks_stop_at_gaps_and_gaps_are_shaded() -> None:
    has_face = [True] * 10 + [False] * 5 + [True] * 1 + [False] * 3 + [True] * 6
    figure = _timeline(has_face).figure("v.mp4")
    _, ax_p = figure.axes[:2]
    polys = list(ax_p.collections)  # the stack layers (the shaded gaps are patches)
    assert len(polys) == 3 * len(AFFECTNET_CLASSES)
    spans = [(p.get_paths()[0].vertices[:, 0].min(), p.get_paths()[0].vertices[:, 0].max()) for p in polys]
    t = np.arange(len(has_face)) / 10
    for lo, hi in spans:
        inside = t[(t >= lo - 1e-9) & (t <= hi + 1e-9)]
        frames = np.round(inside * 10).astype(int)
        assert all(has_face[k] for k in frames), (lo, hi)  # no stack is drawn over a frame without a face
    assert {round(lo, 2) for lo, _ in spans} >= {0.0, 1.45, 1.9}  # three runs: 0-0.9, the single 1.5, 1.9-2.4
    assert len(ax_p.patches) == 2  # the two gaps, shaded
    assert "a face in 17 of 25 frames" in figure.axes[0].get_title()


@pytest.mark.parametrize("n", [1, 12])
def test_timeline_without_any_face_says_so(n: int) -> None:
    figure = _timeline([False] * n).figure()
    texts = [t.get_text() for ax in figure.axes for t in ax.texts]
    assert f"no face found in any of the {n} frames" in texts
