"""Online multi-face tracking: a track id per face, and far fewer full-frame detector runs.

How a stream is processed, frame by frame (only frames already seen are used, so it works live):

- **Scan** (full-frame detection) on the first frame, then every ``detect_every`` frames, on every frame
  while no face is being followed, and on a frame whose picture changed since the previous one somewhere
  away from the faces followed (a coarse 64-column grey copy differs by more than ``scene_change`` grey
  levels in a cell): that is how a new face is found on the frame it appears. On such a frame only the
  part that changed is scanned (its cells grown by the largest face followed, at the scale a whole-frame
  scan would use), unless that part is half the frame or more. The detector's input side is
  chosen for the faces present: small enough that the smallest followed face is still ``min_face_px``
  pixels tall at the detector's input (never below ``min_side``, never above the detector's own
  ``max_side``); every ``full_every``-th scan, and every scan while nothing is followed, runs at the
  detector's own size so that new small faces are found.
- **Follow** (between scans): each face seen on the previous frame is looked for again in a small window
  around where it is heading (its last box moved by its last motion, grown by ``window_margin``, resized to
  ``window_px``), cut with :func:`affectlab.preprocessing.crop.crop_faces` and run through the same
  detector, so its box, score and landmarks are the detector's own; a face that is not found in its window
  triggers a scan of the same frame, so a face that moved fast is not lost. After a scan, each face found
  is refined in its window the same way (boxes keep one resolution).
- **Carry**: a face is looked for in its window on every ``follow_every``-th frame. On the frames between
  its box and landmarks move on by its motion over the last detector sightings, with the last detector
  score; never on a scan, and only while its box keeps its size and no other face reaches into its window
  (a face being covered or uncovered is looked for on every frame). ``follow_every=1`` looks on every
  frame; a face hidden on a carried frame is noticed at most ``follow_every - 1`` frames late.
- **Ids** come from ByteTrack (the maintained ``trackers`` package): Kalman-predicted boxes matched to the
  detections by IoU, a lost track kept for ``lost_frames`` frames, so an id survives short occlusions and
  missed detections; a new face gets an id on the frame it first appears.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError
from affectlab.inference.bytetrack import face_byte_track
from affectlab.inference.detect import Detection, Detector
from affectlab.inference.scene import GRID, changed_region, coarse
from affectlab.inference.sightings import Sighting, distance, iou, similar_size, unique
from affectlab.inference.timing import StageTimes
from affectlab.preprocessing.crop import crop_faces, square_region

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class TrackOptions:
    """How faces are followed between full-frame detections (see the module docstring)."""

    detect_every: int = 10
    follow_every: int = 2
    window_px: int = 128
    window_margin: float = 0.5
    min_face_px: float = 32.0
    min_side: int = 320
    full_every: int = 8
    lost_frames: int = 30
    min_iou: float = 0.1
    scene_change: float | None = 12.0

    def __post_init__(self) -> None:
        checks = (
            (self.detect_every >= 1, f"detect_every must be at least 1, got {self.detect_every}"),
            (self.follow_every >= 1, f"follow_every must be at least 1, got {self.follow_every}"),
            (32 <= self.window_px <= 640, f"window_px must be 32..640, got {self.window_px}"),
            (0.1 <= self.window_margin <= 2.0, f"window_margin must be 0.1..2, got {self.window_margin}"),
            (self.min_face_px > 0, f"min_face_px must be positive, got {self.min_face_px}"),
            (self.min_side >= 32, f"min_side must be at least 32, got {self.min_side}"),
            (self.full_every >= 1, f"full_every must be at least 1, got {self.full_every}"),
            (self.lost_frames >= 0, f"lost_frames must be 0 or more, got {self.lost_frames}"),
            (0.0 < self.min_iou < 1.0, f"min_iou must be in (0, 1), got {self.min_iou}"),
            (
                self.scene_change is None or self.scene_change > 0,
                f"scene_change must be positive grey levels (or None), got {self.scene_change}",
            ),
        )
        for ok, message in checks:
            if not ok:
                raise AffectlabError(f"tracking: {message}")


class FaceTracker:
    """Follows the faces of one stream (one video or camera); call :meth:`step` once per frame, in order."""

    def __init__(
        self, detector: Detector, options: TrackOptions | None = None, times: StageTimes | None = None
    ) -> None:
        self.detector = detector
        self.options = options or TrackOptions()
        self.times = times or StageTimes()
        self._tracker = face_byte_track(self.options.lost_frames, self.options.min_iou)
        self._seen: dict[int, Sighting] = {}  # output id -> where and when it was last found
        self._ids: dict[int, int] = {}  # ByteTrack id -> output id
        self._next_id = 1
        self._n = -1  # index of the current frame within the stream
        self._since_scan = 0
        self._scans = 0
        self._longest = 0
        self._reference: np.ndarray | None = None  # coarse grey previous frame
        self.scans = 0
        self.part_scans = 0  # scans of only the part of a frame that changed
        self.windows = 0

    # ------------------------------------------------------------------------------------------ detection
    def _detector_side(self) -> int | None:
        """The detector input side for this scan (None: the detector's own)."""
        if self._scans % self.options.full_every == 0:
            return None
        return self._face_side()

    def _face_side(self) -> int | None:
        """The input side that keeps the smallest followed face min_face_px tall (None: detector's own)."""
        own = getattr(self.detector, "max_side", None)
        live = [s.box for s in self._seen.values() if s.frame == self._n - 1]
        if own is None or not live:
            return None
        smallest = max(1.0, min(min(w, h) for _, _, w, h in live))
        # at input side S the face is smallest * S / longest pixels tall: keep that >= min_face_px
        side = int(np.ceil(self.options.min_face_px * self._longest / smallest))
        return int(min(own, max(self.options.min_side, side)))

    def _detect_at(self, rgb: np.ndarray, side: int | None) -> list[Detection]:
        """The detector on `rgb` with its input side set to `side` for this call (None: its own)."""
        own = getattr(self.detector, "max_side", None)
        with self.times.stage("detect"):
            if side is None or own is None:
                return self.detector.detect(rgb)
            self.detector.max_side = side  # type: ignore[attr-defined]
            try:
                return self.detector.detect(rgb)
            finally:
                self.detector.max_side = own  # type: ignore[attr-defined]

    def _scan(self, rgb: np.ndarray) -> list[Detection]:
        side = self._detector_side()
        self._scans += 1
        self.scans += 1
        return self._detect_at(rgb, side)

    def _scan_part(self, rgb: np.ndarray, changed: Box, followed: list[Box]) -> list[Detection] | None:
        """Detect only where the picture changed (grown by the largest followed face), at a scan's
        resolution; None when that part is half the frame or more (then the whole frame is scanned)."""
        height, width = rgb.shape[:2]
        grow = max([max(w, h) for _, _, w, h in followed] + [2.0 * width / GRID])
        x0, y0 = max(0, int(changed[0] - grow)), max(0, int(changed[1] - grow))
        x1 = min(width, int(np.ceil(changed[0] + changed[2] + grow)))
        y1 = min(height, int(np.ceil(changed[1] + changed[3] + grow)))
        if (x1 - x0) * (y1 - y0) >= 0.5 * width * height:
            return None
        own = getattr(self.detector, "max_side", None)
        full = self._face_side() or own or max(width, height)
        scale = min(1.0, full / max(width, height))  # the whole frame's scan scale, kept for the part
        self.part_scans += 1
        side = max(32, round(max(x1 - x0, y1 - y0) * scale))
        dets = self._detect_at(np.ascontiguousarray(rgb[y0:y1, x0:x1]), side)
        offset = np.array([x0, y0], np.float32)
        return [
            Detection(
                (d.box[0] + x0, d.box[1] + y0, d.box[2], d.box[3]),
                d.score,
                None if d.landmarks5 is None else d.landmarks5 + offset,
            )
            for d in dets
        ]

    def _windows(
        self, rgb: np.ndarray, boxes: dict[Any, Box], claimed: Sequence[Detection] = ()
    ) -> dict[Any, Detection]:
        """Re-detect each box in its square window; per key, the window's detection closest to the box
        (leaving out faces in `claimed`, which other windows already found)."""
        opt = self.options
        if not boxes:
            return {}
        height, width = rgb.shape[:2]
        with self.times.stage("crop"):
            windows = crop_faces(rgb, [(b, None) for b in boxes.values()], opt.window_px, opt.window_margin)
        found: dict[Any, Detection] = {}
        for (key, box), window in zip(boxes.items(), windows, strict=True):
            left, top, side = square_region(box, opt.window_margin, width, height)
            s = side / opt.window_px
            self.windows += 1
            with self.times.stage("detect"):
                dets = self.detector.detect(window)
            mapped = [
                Detection(
                    (left + d.box[0] * s, top + d.box[1] * s, d.box[2] * s, d.box[3] * s),
                    d.score,
                    None if d.landmarks5 is None else d.landmarks5 * s + np.array([left, top], np.float32),
                )
                for d in dets
            ]
            mapped = [d for d in mapped if all(iou(d.box, c.box) <= 0.4 for c in claimed)]
            best = min(mapped, key=lambda d: distance(d.box, box), default=None)
            if best is not None and similar_size(best.box, box):
                found[key] = best
        return found

    def _changed(self, rgb: np.ndarray, followed: list[Box]) -> Box | None:
        """Where the picture changed away from the faces followed since the previous frame (new faces?):
        the box around the changed cells, in frame pixels; None where nothing changed."""
        if self.options.scene_change is None:
            return None
        with self.times.stage("track"):
            small = coarse(rgb)
            reference, self._reference = self._reference, small
            away = [
                square_region(b, self.options.window_margin, rgb.shape[1], rgb.shape[0]) for b in followed
            ]
            return changed_region(small, reference, away, rgb.shape[:2], self.options.scene_change)

    def _heading(self, rgb: np.ndarray) -> dict[int, Box]:
        """Where each recently seen face should be now: its last box moved on by its last motion."""
        height, width = rgb.shape[:2]
        out = {}
        for tid, seen in self._seen.items():
            gap = self._n - seen.frame
            if gap > self.options.lost_frames + 1:
                continue
            x, y, w, h = seen.box
            x, y = x + seen.motion[0] * gap, y + seen.motion[1] * gap
            if -w / 2 < x + w / 2 < width + w / 2 and -h / 2 < y + h / 2 < height + h / 2:
                out[tid] = (x, y, w, h)
        return out

    # ------------------------------------------------------------------------------------------- per frame
    def _detections(self, rgb: np.ndarray) -> tuple[list[Detection], list[int | None]]:
        """The faces of this frame and, per face, the track whose window found it (None: a scan)."""
        heading = self._heading(rgb)
        live = {t: b for t, b in heading.items() if self._seen[t].frame == self._n - 1}
        due = self._since_scan >= self.options.detect_every or not live
        carried = {} if due else self._carry(live)
        found = self._windows(rgb, {t: b for t, b in live.items() if t not in carried})
        found.update(carried)
        lost = {t: b for t, b in heading.items() if t not in live}
        found.update(self._windows(rgb, lost, claimed=list(found.values())))
        if not due and all(t in found for t in live):
            changed = self._changed(rgb, list(heading.values()))
            part = None if changed is None else self._scan_part(rgb, changed, list(heading.values()))
            if changed is None or part is not None:
                self._since_scan += 1
                return unique({**found, **self._new_faces(rgb, part or [], found)})
        self._since_scan = 1
        extra = self._new_faces(rgb, self._scan(rgb), found)
        if self.options.scene_change is not None:
            with self.times.stage("track"):
                self._reference = coarse(rgb)
        return unique({**found, **extra})

    def _new_faces(
        self, rgb: np.ndarray, scanned: list[Detection], found: dict[Any, Detection]
    ) -> dict[Any, Detection]:
        """A scan's faces that no window found, each refined in its own window (a face that its window
        could not confirm keeps the scan's box)."""
        scanned = [d for d in scanned if all(iou(d.box, f.box) < 0.3 for f in found.values())]
        refined = self._windows(rgb, dict(enumerate(d.box for d in scanned)))
        return {("scan", i): refined.get(i, d) for i, d in enumerate(scanned)}

    def _carry(self, live: dict[int, Box]) -> dict[int, Detection]:
        """The live faces not due to be looked for on this frame, moved on by their motion."""
        out = {}
        for tid, box in live.items():
            seen = self._seen[tid]
            if self._n - seen.detected >= self.options.follow_every or seen.detection is None:
                continue
            if not seen.steady() or self._crowded(tid, box, live):
                continue  # a face being covered or uncovered changes size or has a face near: look for it
            last = seen.detection
            shift = np.array([box[0] - seen.box[0], box[1] - seen.box[1]], np.float32)
            marks = None if last.landmarks5 is None else last.landmarks5 + shift
            out[tid] = Detection(box, last.score, marks)
            self._carried.add(tid)
        return out

    def _crowded(self, tid: int, box: Box, live: dict[int, Box]) -> bool:
        """Whether another face's box reaches into this face's window (one may soon cover the other)."""
        x, y, w, h = box
        grow = self.options.window_margin * max(w, h)
        window = (x - grow, y - grow, w + 2 * grow, h + 2 * grow)
        return any(iou(window, other) > 0 for t, other in live.items() if t != tid)

    def step(self, rgb: np.ndarray) -> list[tuple[Detection, int]]:
        """Find the faces of the next frame; return (detection, track id >= 1), best score first."""
        import supervision as sv

        self._n += 1
        self._carried: set[int] = set()
        self._longest = max(rgb.shape[:2])
        dets, origins = self._detections(rgb)
        with self.times.stage("track"):
            if dets:
                xyxy = np.array([[x, y, x + w, y + h] for x, y, w, h in (d.box for d in dets)], np.float32)
                scores = np.array([d.score for d in dets], np.float32)
                input_ = sv.Detections(xyxy=xyxy, confidence=scores, data={"index": np.arange(len(dets))})
            else:
                input_ = sv.Detections.empty()
            tracked = self._tracker.update(input_)
            pairs = {
                int(i): int(t) for i, t in zip(tracked.data.get("index", []), tracked.tracker_id, strict=True)
            }
            out = self._label(dets, origins, pairs)
        return sorted(out, key=lambda pair: -pair[0].score)

    def _label(
        self, dets: list[Detection], origins: list[int | None], pairs: dict[int, int]
    ) -> list[tuple[Detection, int]]:
        """Turn ByteTrack ids into output ids; a new ByteTrack track found in the window of a lost face
        (one whose Kalman prediction drifted during an occlusion) takes that face's id back."""
        taken = {self._ids[b] for b in pairs.values() if b in self._ids}
        out = []
        for i, det in enumerate(dets):
            bt = pairs.get(i, -1)
            if bt < 0:
                continue
            if bt not in self._ids:
                origin = origins[i] if origins[i] is not None else self._lost_near(det.box, taken)
                if origin is not None and origin not in taken:
                    self._ids[bt] = origin
                else:
                    self._ids[bt], self._next_id = self._next_id, self._next_id + 1
                taken.add(self._ids[bt])
            out.append((det, self._ids[bt]))
        for det, tid in out:
            before = self._seen.get(tid)
            if tid in self._carried and before is not None:
                self._seen[tid] = before.carried(det, self._n)
            else:
                self._seen[tid] = Sighting.after(before, det, self._n)
        return out

    def _lost_near(self, box: Box, taken: set[int]) -> int | None:
        """The lost face (not matched this frame) that `box` can be: near where its motion would have taken
        it, or near where it was last seen (people who get covered mostly stay where they are; and a face
        being covered shrinks from one side, which biases its measured motion), and of its usual size."""
        best, best_d = None, np.inf
        side = max(box[2], box[3])
        for tid, seen in self._seen.items():
            gap = self._n - seen.frame
            if tid in taken or not 1 < gap <= self.options.lost_frames + 1:
                continue
            x, y, w, h = seen.box
            usual = seen.usual_side()
            expected = (x + seen.motion[0] * gap, y + seen.motion[1] * gap, w, h)
            d = min(distance(box, expected), distance(box, seen.box))
            if d <= usual * (0.5 + self.options.window_margin) and d < best_d and 0.5 <= side / usual <= 2.0:
                best, best_d = tid, d
        return best


class StreamTracker:
    """One FaceTracker per stream: a new one (ids from 1) when the source changes or starts again."""

    def __init__(self, factory: Callable[[], FaceTracker], options: TrackOptions | None = None) -> None:
        self._factory = factory
        self.options = options
        self.source: str | None = None
        self.frame = -1
        self.tracker: FaceTracker | None = None

    def step(self, source: str, frame: int, rgb: np.ndarray) -> list[tuple[Detection, int]]:
        """Track frame number `frame` of `source` (frames of one stream come in increasing order)."""
        if source != self.source or frame <= self.frame or self.tracker is None:
            self.source, self.tracker = source, self._factory()
        self.frame = frame
        return self.tracker.step(rgb)


def configure_video(
    predictor: Any,
    *,
    track: bool = True,
    detect_every: int = 10,
    follow_every: int = 2,
    smooth: float | None = None,
) -> None:
    """Set a predictor's tracking (``track=False``: detect on every frame, no ids) and per-track smoothing."""
    from affectlab.inference.smoothing import check_tau

    options = TrackOptions(detect_every=detect_every, follow_every=follow_every)
    predictor.tracking = options if track else None
    predictor.smoothing = None if smooth is None else check_tau(smooth)
