"""Streaming video decode (OpenCV VideoCapture) with a frame stride, and annotated-video writing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError

log = logging.getLogger(__name__)

#: File suffixes treated as videos.
VIDEO_SUFFIXES: frozenset[str] = frozenset({".mp4", ".avi", ".mov", ".mkv"})


@dataclass(frozen=True)
class VideoInfo:
    """Frame rate, frame count (0 when the container does not say) and frame size of a video."""

    fps: float
    frames: int
    width: int
    height: int


def _open(path: str | Path) -> Any:
    import cv2

    if not Path(path).is_file():
        raise AffectlabError(f"video file {path} not found")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise AffectlabError(f"OpenCV could not open {path} as a video (expected mp4/avi/mov/mkv)")
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
            yield index, time_s, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            index += 1
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


class VideoWriter:
    """Write RGB frames to a video (mp4v for .mp4/.mov, MJPG for .avi/.mkv); size set by the first frame."""

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        self.fps = fps if fps > 0 else 25.0
        self._writer: Any = None

    def write(self, rgb: np.ndarray) -> None:
        """Append one frame."""
        import cv2

        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            codec = "mp4v" if self.path.suffix.lower() in (".mp4", ".mov") else "MJPG"
            size = (rgb.shape[1], rgb.shape[0])
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter.fourcc(*codec), self.fps, size)
            if not self._writer.isOpened():
                raise AffectlabError(f"OpenCV could not write the video {self.path} with codec {codec}")
        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        """Finish the file."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
