"""Annotated-video writing (decoding lives in affectlab.preprocessing.video)."""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError

log = logging.getLogger(__name__)


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
