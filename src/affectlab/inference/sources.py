"""Inputs for predict: image files, folders (recursive, by suffix) and videos, streamed as frames.

Decoding itself is :mod:`affectlab.preprocessing` (images and videos alike); this module only finds the files
and turns each one into frames, an unreadable file into one frame that carries its error.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectlab.errors import AffectlabError
from affectlab.preprocessing.decode import IMAGE_SUFFIXES, REFUSED_SUFFIXES, decode_file
from affectlab.preprocessing.video import VIDEO_SUFFIXES, is_video, iter_video, video_info

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "Frame",
    "collect_inputs",
    "count_frames",
    "is_video",
    "iter_frames",
    "load_image",
]


@dataclass
class Frame:
    """One decoded image or video frame (rgb), or the reason it could not be read (error)."""

    source: str
    frame: int
    time_s: float | None
    rgb: np.ndarray | None
    error: str | None = None
    #: Decode notes (for example first_frame_only for an animated GIF).
    notes: tuple[str, ...] = ()


def collect_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders (recursively, images and videos by suffix) into a de-duplicated list.

    Files in a folder with a known but unsupported image suffix (HEIC, AVIF, ...) are kept, so that each one
    is reported as an error rather than skipped without a word.
    """
    wanted = IMAGE_SUFFIXES | VIDEO_SUFFIXES | REFUSED_SUFFIXES
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in wanted))
        elif path.is_file():
            found.append(path)
        else:
            raise AffectlabError(f"input {path} not found (expected an image, a video or a folder)")
    unique = list(dict.fromkeys(found))
    if not unique:
        raise AffectlabError(
            f"no images or videos found in {', '.join(str(p) for p in paths)} "
            f"(looked for {', '.join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))})"
        )
    return unique


def load_image(path: str | Path) -> np.ndarray:
    """Decode an image file by affectlab's rules (see affectlab.preprocessing.decode) as RGB uint8."""
    return decode_file(path).rgb


def count_frames(paths: Iterable[Path], stride: int = 1) -> int:
    """How many frames `iter_frames(paths, stride)` yields, by the videos' declared frame counts.

    An image, or a video whose header cannot be read, counts one: it yields one frame or one error.
    """
    total = 0
    for path in paths:
        if is_video(path):
            try:
                total += max(1, -(-video_info(path).frames // stride))
            except AffectlabError:
                total += 1
        else:
            total += 1
    return total


def iter_frames(paths: Iterable[Path], stride: int = 1) -> Iterator[Frame]:
    """Yield frames of all inputs in order; an unreadable file yields one Frame with `error` set."""
    for path in paths:
        if is_video(path):
            try:
                for index, time_s, rgb in iter_video(path, stride):
                    yield Frame(str(path), index, time_s, rgb)
            except AffectlabError as exc:
                yield Frame(str(path), 0, None, None, error=str(exc))
            continue
        try:
            decoded = decode_file(path)
        except AffectlabError as exc:
            yield Frame(str(path), 0, None, None, error=str(exc))
            continue
        yield Frame(str(path), 0, None, decoded.rgb, notes=tuple(decoded.notes))
