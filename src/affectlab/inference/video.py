"""Annotated-video writing: H.264 in MP4 through PyAV (decoding lives in affectlab.preprocessing.video).

Why PyAV: browsers play H.264 (yuv420p) in MP4 and nothing OpenCV's wheels can encode (MPEG-4 Part 2,
MJPG); PyAV's wheels bundle FFmpeg with the libx264 encoder, take numpy frames in-process and raise on a
failed write. Licences: PyAV is BSD-3-Clause, its bundled FFmpeg libraries LGPL-3.0-or-later, and the bundled
libx264 GPL-2.0-or-later (see docs/predict.md).
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError

log = logging.getLogger(__name__)

#: Container by suffix; every one holds H.264.
CONTAINERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}
#: H.264 encoders to try, best first (libx264 ships in PyAV's wheels; OpenH264 in some FFmpeg builds).
ENCODERS = ("libx264", "libopenh264", "h264")


def _even(rgb: np.ndarray) -> np.ndarray:
    """Pad to even width and height with black: yuv420p (what browsers decode) needs both even."""
    h, w = rgb.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return rgb
    return np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)))


def _encoder() -> str:
    from av.codec import Codec

    for name in ENCODERS:
        try:
            Codec(name, "w")
        except Exception:  # PyAV raises UnknownCodecError (its own type) for a missing encoder
            continue
        return name
    raise AffectlabError(
        "this PyAV/FFmpeg build has no H.264 encoder (tried " + ", ".join(ENCODERS) + "); "
        "install the PyAV wheel from PyPI (`pip install av`), which includes libx264"
    )


class VideoWriter:
    """Write RGB frames to an H.264 video (.mp4, .mov or .mkv); the first frame sets the size."""

    def __init__(self, path: str | Path, fps: float, crf: int = 23) -> None:
        self.path = Path(path)
        self.fps = fps if fps > 0 else 25.0
        self.crf = crf
        self.frames = 0
        self._container: Any = None
        self._stream: Any = None
        if self.path.suffix.lower() not in CONTAINERS:
            raise AffectlabError(f"annotated video {self.path}: use .mp4, .mov or .mkv (H.264)")

    def _open(self, width: int, height: int) -> None:
        import av

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fmt = CONTAINERS[self.path.suffix.lower()]
        # the index (moov) first, so that a browser starts playing before the whole file has loaded
        options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}
        try:
            self._container = av.open(str(self.path), mode="w", format=fmt, options=options)
            # fps as a fraction (29.97 -> 30000/1001) so frame times stay exact
            rate = Fraction(self.fps).limit_denominator(1001)
            stream = self._container.add_stream(_encoder(), rate=rate)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": str(self.crf), "preset": "veryfast"}
            self._stream = stream
        except AffectlabError:
            raise
        except Exception as exc:  # PyAV's FFmpegError and OSError subclasses
            raise AffectlabError(f"cannot write the video {self.path}: {exc}") from exc

    def write(self, rgb: np.ndarray) -> None:
        """Append one frame (uint8 RGB, H x W x 3)."""
        import av

        frame_rgb = _even(np.ascontiguousarray(rgb, dtype=np.uint8))
        if self._container is None:
            self._open(frame_rgb.shape[1], frame_rgb.shape[0])
        frame = av.VideoFrame.from_ndarray(frame_rgb, format="rgb24")
        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except Exception as exc:
            raise AffectlabError(f"writing frame {self.frames} of {self.path} failed: {exc}") from exc
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        if self._container is None:
            return
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None
            self._stream = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
