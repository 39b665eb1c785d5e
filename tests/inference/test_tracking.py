"""Face tracking: ids through crossings, absences and empty frames; fewer detector runs; same recall.

Most cases use a blob "detector" (white squares on a dark picture, found with OpenCV's connected components,
shrunk to the detector's input side like a real one) so that every expectation is exact and fast; the last
ones run RetinaFace on clips made from a real face photo.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from affectlab.errors import AffectlabError
from affectlab.inference.detect import Detection
from affectlab.inference.tracking import FaceTracker, TrackOptions, iou


class BlobDetector:
    """Finds bright squares; records the input sizes it was given."""

    name = "blobs"

    def __init__(self, max_side: int = 960) -> None:
        self.max_side = max_side
        self.calls: list[tuple[int, int]] = []

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        import cv2

        h, w = rgb.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        self.calls.append(small.shape[:2])
        mask = (small[..., 0] > 128).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        out = []
        for x, y, bw, bh, area in stats[1:n]:
            if area >= 16 and min(bw, bh) >= 4:
                out.append(Detection((x / scale, y / scale, bw / scale, bh / scale), 0.99))
        return out


def frame_with(squares: list[tuple[float, float, float]], size: tuple[int, int] = (640, 360)) -> np.ndarray:
    """A dark frame with white squares (centre x, centre y, side), later ones drawn over earlier ones."""
    w, h = size
    rgb = np.full((h, w, 3), 30, np.uint8)
    for cx, cy, side in squares:
        x0, y0, s = int(cx - side / 2), int(cy - side / 2), int(side)
        # a dark outline keeps overlapping squares two blobs, as two overlapping faces stay two faces
        rgb[max(y0 - 3, 0) : max(y0 + s + 3, 0), max(x0 - 3, 0) : max(x0 + s + 3, 0)] = 30
        rgb[max(y0, 0) : max(y0 + s, 0), max(x0, 0) : max(x0 + s, 0)] = 255
    return rgb


def run(tracker: FaceTracker, frames: list[list[tuple[float, float, float]]]) -> list[dict[int, tuple]]:
    """Per frame: track id -> box."""
    return [{t: d.box for d, t in tracker.step(frame_with(f))} for f in frames]


def owner(boxes: dict[int, tuple], square: tuple[float, float, float]) -> int | None:
    cx, cy, side = square
    truth = (cx - side / 2, cy - side / 2, side, side)
    best = max(boxes, key=lambda t: iou(boxes[t], truth), default=None)
    return best if best is not None and iou(boxes[best], truth) > 0.5 else None


def test_two_faces_crossing_keep_their_ids() -> None:
    # A walks right, B walks left and passes in front of A (A is hidden for a few frames).
    n = 40
    frames = [[(100 + 11 * i, 180, 60), (540 - 11 * i, 180, 60)] for i in range(n)]
    out = run(FaceTracker(BlobDetector()), frames)
    # A counts only where B covers less than half of it (B, in front, is always in view)
    shown = [i for i in range(n) if abs(frames[i][0][0] - frames[i][1][0]) > 30]
    a_ids = [owner(out[i], frames[i][0]) for i in shown]
    b_ids = [owner(o, f[1]) for o, f in zip(out, frames, strict=True)]
    assert None not in a_ids and len(set(a_ids)) == 1 and set(b_ids) == {b_ids[0]} != set(a_ids)
    assert min(len(o) for o in out) == 1 and {t for o in out for t in o} == {1, 2}  # A hidden; no 3rd id


def test_face_leaving_and_returning() -> None:
    opts = TrackOptions(lost_frames=8)
    still, visitor = (150, 180, 60), (480, 180, 60)
    short = [[still] + ([] if 10 <= i < 15 else [visitor]) for i in range(30)]
    out = run(FaceTracker(BlobDetector(), opts), short)
    ids = [owner(o, visitor) for o in out]
    assert ids[:10] == [ids[0]] * 10 and ids[15:] == [ids[0]] * 15  # back within 8 frames: the same id
    assert all(len(o) == 1 for o in out[10:15])  # no row for the face that is away
    long = [[still] + ([] if 10 <= i < 25 else [visitor]) for i in range(35)]
    out = run(FaceTracker(BlobDetector(), opts), long)
    first, later = owner(out[0], visitor), owner(out[30], visitor)
    assert first is not None and later is not None and later != first  # away 15 > 8 frames: a new id
    assert {owner(o, still) for o in out} == {owner(out[0], still)}


def test_frame_without_faces() -> None:
    frames = [[(200, 180, 60)]] * 5 + [[]] + [[(200, 180, 60)]] * 5
    out = run(FaceTracker(BlobDetector()), frames)
    assert out[5] == {}
    assert {t for o in out for t in o} == {1}


def test_scans_every_k_frames_and_windows_between() -> None:
    det = BlobDetector()
    tracker = FaceTracker(det, TrackOptions(detect_every=5, follow_every=1, scene_change=None))
    frames = [[(200 + 2 * i, 180, 60), (450, 180 + i, 60)] for i in range(20)]
    out = run(tracker, frames)
    assert all(len(o) == 2 for o in out)
    assert tracker.scans == 4  # frames 0, 5, 10, 15
    full = [c for c in det.calls if max(c) > 200]
    assert len(full) == tracker.scans and tracker.windows == 2 * 20  # a window per face and frame


def _truth(square: tuple[float, float, float]) -> tuple[float, float, float, float]:
    cx, cy, side = square
    return (cx - side / 2, cy - side / 2, side, side)


def test_steady_faces_are_carried_between_windows() -> None:
    frames = [[(200 + 3 * i, 180, 60), (450, 180 + 2 * i, 60)] for i in range(20)]
    looked = {}
    for follow in (1, 3):
        tracker = FaceTracker(
            BlobDetector(), TrackOptions(detect_every=5, follow_every=follow, scene_change=None)
        )
        out = run(tracker, frames)
        looked[follow] = tracker.windows
        # carried boxes stay on the moving faces: within a pixel or two of the truth
        assert all(
            min(iou(o[t], _truth(sq)) for t, sq in zip((1, 2), f, strict=True)) > 0.9
            for o, f in zip(out, frames, strict=True)
        )
    # each face is looked for on frames 1, 4, 7, ... after a scan rather than on every frame
    assert looked[3] < 0.6 * looked[1]


def test_faces_near_each_other_are_looked_for_on_every_frame() -> None:
    # the two windows overlap (faces 80 px apart, windows 2 x 60 px wide): nothing is carried
    frames = [[(200 + i, 180, 60), (280 + i, 180, 60)] for i in range(12)]
    counts = []
    for follow in (1, 3):
        tracker = FaceTracker(
            BlobDetector(), TrackOptions(detect_every=50, follow_every=follow, scene_change=None)
        )
        run(tracker, frames)
        counts.append(tracker.windows)
    assert counts[0] == counts[1] == 2 * 12


def test_detector_input_side_follows_the_face_sizes() -> None:
    det = BlobDetector(max_side=960)
    opts = TrackOptions(detect_every=2, full_every=3, min_face_px=32, min_side=160, scene_change=None)
    tracker = FaceTracker(det, opts)
    run(tracker, [[(300, 200, 64)]] * 7)
    scans = [max(c) for c in det.calls if max(c) > 128]  # windows are 128 px
    # 640 px wide frame, face 64 px: side = ceil(32 * 640 / 64) = 320; every 3rd scan at the detector's own
    assert scans == [640, 320, 320, 640]


def test_new_face_is_found_at_once_by_the_change_check() -> None:
    det = BlobDetector()
    tracker = FaceTracker(det, TrackOptions(detect_every=50))
    frames = [[(150, 180, 60)]] * 6 + [[(150, 180, 60), (480, 180, 60)]] * 4
    out = run(tracker, frames)
    assert [len(o) for o in out] == [1] * 6 + [2] * 4
    # only the part of the frame that changed was scanned (the whole frame only on the first frame)
    assert tracker.scans == 1 and tracker.part_scans == 1
    part = [c for c in det.calls if c not in ((360, 640), (128, 128))]
    assert len(part) == 1 and part[0][0] * part[0][1] < 0.5 * 360 * 640


def test_a_change_over_most_of_the_frame_scans_it_whole() -> None:
    det = BlobDetector()
    tracker = FaceTracker(det, TrackOptions(detect_every=50))
    frames = [frame_with([(150, 180, 60)]) for _ in range(4)]
    frames[3][frames[3] == 30] = 90  # the light changes: every background cell
    for frame in frames:
        tracker.step(frame)
    assert tracker.scans == 2 and tracker.part_scans == 0


def test_options_are_checked() -> None:
    with pytest.raises(AffectlabError, match="detect_every"):
        TrackOptions(detect_every=0)
    with pytest.raises(AffectlabError, match="follow_every"):
        TrackOptions(follow_every=0)
    with pytest.raises(AffectlabError, match="scene_change"):
        TrackOptions(scene_change=0)


# ------------------------------------------------------------------------------------- real face photo
@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict:
    pytest.importorskip("skimage")
    from affectlab.bench.clips import crossing, leave_and_return, write_clip

    root = tmp_path_factory.mktemp("clips")
    w, h = 640, 360
    return {
        "crossing": write_clip(root / "crossing.avi", crossing(w, h), 36, (w, h)),
        "away": write_clip(root / "away.avi", leave_and_return(w, h, (10, 16)), 24, (w, h), blank=[20]),
    }


def _recall(frames: list, clip) -> tuple[int, int, dict[int, set]]:
    """(faces found, ground-truth faces, person -> track ids) with IoU > 0.5."""
    found = total = 0
    ids: dict[int, set] = {}
    for result, truth in zip(frames, clip.boxes, strict=True):
        for person, box in truth.items():
            total += 1
            best = max(result.faces, key=lambda f: iou(f.box, box), default=None)
            if best is not None and iou(best.box, box) > 0.5:
                found += 1
                ids.setdefault(person, set()).add(best.track)
    return found, total, ids


@pytest.mark.parametrize("name", ["crossing", "away"])
def test_real_faces_tracked_with_the_recall_of_per_frame_detection(standin_predictor, clips, name) -> None:
    clip = clips[name]
    standin_predictor.tracking = TrackOptions()
    tracked = list(standin_predictor.predict_video(clip.path))
    standin_predictor.tracking = None
    per_frame = list(standin_predictor.predict_video(clip.path))
    standin_predictor.tracking = TrackOptions()
    found, total, ids = _recall(tracked, clip)
    found_ref, _, ref_ids = _recall(per_frame, clip)
    assert found >= found_ref and found_ref >= 0.95 * total
    assert all(len(v) == 1 for v in ids.values()) and len({min(v) for v in ids.values()}) == len(ids)
    assert ref_ids and all(v == {None} for v in ref_ids.values())  # without tracking: no ids
    if name == "away":
        assert tracked[20].faces == []  # the blank frame


def test_run_predict_counts_tracks_and_no_face_frames(standin_predictor, clips, tmp_path: Path) -> None:
    import json

    from affectlab.inference.runner import run_predict

    out = tmp_path / "rows.jsonl"
    summary = run_predict(standin_predictor, [clips["away"].path], out=out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["track"] for r in rows} == {1, 2} and summary.no_face == 1
    tracks = summary.tracks[str(clips["away"].path)]
    assert [t["track"] for t in tracks] == [1, 2]
    assert tracks[1]["frames_seen"] < tracks[1]["frames_in_span"]  # the visitor's absence is a gap
    assert set(summary.stages) >= {"decode", "detect", "track", "crop", "model", "write"}


def test_face_covered_for_a_while_by_someone_passing_keeps_its_id() -> None:
    # A sits still; B walks past in front of it and covers it for about 20 frames. While A is being
    # covered its box shrinks from one side, which biases its measured motion: it must still get its id back.
    n = 70
    frames = [[(320, 180, 70), (640 - 8 * i, 180, 140)] for i in range(n)]
    out = run(FaceTracker(BlobDetector()), frames)
    shown = [i for i in range(n) if abs(frames[i][0][0] - frames[i][1][0]) > 110]
    a_ids = {owner(out[i], frames[i][0]) for i in shown}
    assert a_ids == {owner(out[0], frames[0][0])} and None not in a_ids
    assert any(owner(o, f[0]) is None for o, f in zip(out, frames, strict=True))  # A was hidden
    assert {t for o in out for t in o} == {1, 2}


def test_camera_style_calls_keep_ids_and_a_restart_resets_them(standin_predictor, sample_video: Path) -> None:
    # run_webcam hands the predictor one frame per call: the stream's tracker must persist between calls
    from affectlab.inference.sources import Frame
    from affectlab.preprocessing.video import iter_video

    frames = [Frame("camera:0", i, t, rgb) for i, t, rgb in iter_video(sample_video)]
    ids = [next(iter(standin_predictor.predict_frames([f]))).faces[0].track for f in frames]
    assert ids == [1] * len(frames)
    first = standin_predictor._streams.tracker
    assert first is not None and first._n == len(frames) - 1  # one tracker followed the whole stream
    again = next(iter(standin_predictor.predict_frames([frames[0]]))).faces[0].track  # frame 0 again: restart
    restarted = standin_predictor._streams.tracker
    other = Frame("camera:1", 1, 0.1, frames[1].rgb)
    assert again == 1 and next(iter(standin_predictor.predict_frames([other]))).faces[0].track == 1
    assert restarted is not first and standin_predictor._streams.tracker is not restarted


def test_webcam_session_ends_with_a_summary_per_track(
    standin_predictor, sample_video: Path, monkeypatch
) -> None:
    # the camera is the sample video read frame by frame; the window is not opened (headless)
    import affectlab.inference.webcam as webcam
    from affectlab.preprocessing.video import iter_video

    monkeypatch.setattr(webcam, "iter_camera", lambda camera, mirror: iter_video(sample_video))
    monkeypatch.setattr(webcam, "_show", lambda window, rgb: False)
    standin_predictor.tracking = TrackOptions()
    summary = webcam.run_webcam(standin_predictor, 0)
    frames = sum(1 for _ in iter_video(sample_video))
    tracks = summary.tracks["camera:0"]
    assert summary.frames == frames and [t["track"] for t in tracks] == [1]
    assert tracks[0]["frames_seen"] == frames
