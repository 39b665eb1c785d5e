"""Video and camera decoding (OpenCV): frames come out as RGB uint8 (H, W, 3), one frame in memory.

OpenCV delivers 8-bit BGR frames; they are converted to RGB here and nowhere else, so a video frame reaches
the crop step exactly like a decoded photo.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError

log = logging.getLogger(__name__)

#: File suffixes treated as videos.
VIDEO_SUFFIXES: frozenset[str] = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})


@dataclass(frozen=True)
class VideoInfo:
    """Frame rate, frame count (0 when the container does not say) and frame size of a video."""

    fps: float
    frames: int
    width: int
    height: int


def is_video(path: str | Path) -> bool:
    """Return True when the path has a video suffix."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def _open(path: str | Path) -> Any:
    import cv2

    if not Path(path).is_file():
        raise AffectlabError(f"video file {path} not found")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise AffectlabError(
            f"OpenCV could not open {path} as a video (expected {', '.join(sorted(VIDEO_SUFFIXES))})"
        )
    return cap


def video_info(path: str | Path) -> VideoInfo:
    """Read a video's frame rate, frame count and size without decoding it."""
    import cv2

    cap = _open(path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        return VideoInfo(
            fps=fps if fps > 0 else 0.0,
            frames=max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)),
            width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
    finally:
        cap.release()


def bgr_to_rgb(bgr: np.ndarray) -> np.ndarray:
    """Convert one OpenCV BGR frame to RGB uint8."""
    import cv2

    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def iter_video(path: str | Path, stride: int = 1) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield (frame index, time in seconds, RGB frame) for every `stride`-th frame, one frame in memory."""
    import cv2

    if stride < 1:
        raise AffectlabError(f"frame stride must be at least 1, got {stride}")
    cap = _open(path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        declared = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        index = 0
        while True:
            if index % stride:
                if not cap.grab():  # skip without decoding
                    break
                index += 1
                continue
            ok, bgr = cap.read()
            if not ok:
                break
            time_s = index / fps if fps > 0 else float(cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
            yield index, time_s, bgr_to_rgb(bgr)
            index += 1
        if index == 0:
            raise AffectlabError(
                f"{path}: no video frame could be decoded (empty, truncated or corrupt file)"
            )
        if declared > 0 and index < declared - max(2, declared // 20):  # counts from headers are estimates
            log.warning(
                "%s: decoding stopped after %d of the %d frames its header declares (truncated or corrupt "
                "file?); results cover the frames before that point",
                path,
                index,
                declared,
            )
    finally:
        cap.release()


def iter_camera(camera: int, mirror: bool = True) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield (frame index, seconds since start, RGB frame) from a live camera until it stops."""
    import cv2

    cap = cv2.VideoCapture(camera)
    if not cap.isOpened():
        raise AffectlabError(
            f"could not open camera {camera} (no such device, or it is in use); try --webcam 1"
        )
    start = time.perf_counter()
    index = 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                raise AffectlabError(f"camera {camera} stopped delivering frames")
            if mirror:
                bgr = cv2.flip(bgr, 1)
            yield index, time.perf_counter() - start, bgr_to_rgb(bgr)
            index += 1
    finally:
        cap.release()
