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
    "InputScan",
    "collect_inputs",
    "count_frames",
    "is_video",
    "iter_frames",
    "load_image",
    "scan_inputs",
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


@dataclass
class InputScan:
    """The inputs to predict, and the files of the scanned folders that are not (with the reason)."""

    files: list[Path]
    skipped: list[tuple[str, str]]


def scan_inputs(paths: Iterable[str | Path]) -> InputScan:
    """Expand files and folders (recursively, images and videos by suffix) into a de-duplicated list;
    every other file found in a folder is returned in ``skipped`` with its reason, never dropped silently.

    Files with a known but unsupported image suffix (HEIC, AVIF, ...) are kept, so that each one is reported
    as an error naming its format.
    """
    wanted = IMAGE_SUFFIXES | VIDEO_SUFFIXES | REFUSED_SUFFIXES
    found: list[Path] = []
    skipped: list[tuple[str, str]] = []
    given = list(paths)
    for raw in given:
        path = Path(raw)
        if path.is_dir():
            for entry in sorted(p for p in path.rglob("*") if p.is_file()):
                if entry.suffix.lower() in wanted:
                    found.append(entry)
                elif any(part.startswith(".") for part in entry.relative_to(path).parts):
                    skipped.append((str(entry), "hidden file"))
                else:
                    suffix = entry.suffix or "(no suffix)"
                    skipped.append((str(entry), f"not an image or video by its suffix {suffix}"))
        elif path.is_file():
            found.append(path)
        else:
            raise AffectlabError(f"input {path} not found (expected an image, a video or a folder)")
    unique = list(dict.fromkeys(found))
    if not unique:
        raise AffectlabError(
            f"no images or videos found in {', '.join(str(p) for p in given)} "
            f"(looked for {', '.join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))}; {len(skipped)} other file(s))"
        )
    return InputScan(unique, skipped)


def collect_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """The input files of :func:`scan_inputs` (images and videos, de-duplicated)."""
    return scan_inputs(paths).files


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
