"""ByteTrack (the maintained ``trackers`` package) set up for faces: every detection is "high", ids from the
first frame a face appears on."""

from __future__ import annotations

from typing import Any

import numpy as np

from affectlab.errors import AffectlabError


def face_byte_track(lost_frames: int, min_iou: float) -> Any:
    """A ByteTrack tracker whose new tracks get their id on the frame they first appear."""
    try:
        from trackers import ByteTrackTracker
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise AffectlabError("face tracking needs the 'trackers' package: pip install trackers") from exc
    # ids from a face's first frame need two of ByteTrack's internals: fail clearly if a release renames them
    if not all(hasattr(ByteTrackTracker, name) for name in ("_spawn_new_tracks", "_allocate_tracker_id")):
        raise AffectlabError(
            "this release of 'trackers' changed ByteTrack's internals that face tracking uses: "
            "pip install 'trackers>=2.6,<3'"
        )

    class FaceByteTrack(ByteTrackTracker):  # type: ignore[misc]
        def _spawn_new_tracks(
            self,
            detection_boxes: np.ndarray,
            confidences: np.ndarray,
            unmatched_high_local: list[int],
            high_indices: np.ndarray,
            out_det_indices: list[int],
            out_tracker_ids: list[int],
        ) -> None:
            before, start = len(self.tracks), len(out_tracker_ids)
            super()._spawn_new_tracks(
                detection_boxes,
                confidences,
                unmatched_high_local,
                high_indices,
                out_det_indices,
                out_tracker_ids,
            )
            # Every detection reaching here clears the activation threshold (0), so the k-th new output
            # row is the k-th new tracklet; giving it an id now means a face is tracked from its first frame.
            for k, tracklet in enumerate(self.tracks[before:]):
                tracklet.tracker_id = self._allocate_tracker_id()
                out_tracker_ids[start + k] = tracklet.tracker_id

    return FaceByteTrack(
        lost_track_buffer=lost_frames,
        frame_rate=30.0,  # with frame_rate 30 the buffer counts processed frames
        track_activation_threshold=0.0,
        minimum_consecutive_frames=1,
        minimum_iou_threshold=min_iou,
        high_conf_det_threshold=0.0,  # the detector has thresholded already: every face is "high"
    )
