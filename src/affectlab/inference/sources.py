"""Inputs for predict: image files, folders (recursive, by suffix) and videos, streamed as frames."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectlab.errors import AffectlabError
from affectlab.inference.video import VIDEO_SUFFIXES, iter_video

#: File suffixes treated as images.
IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}
)


@dataclass
class Frame:
    """One decoded image or video frame (rgb), or the reason it could not be read (error)."""

    source: str
    frame: int
    time_s: float | None
    rgb: np.ndarray | None
    error: str | None = None


def is_video(path: str | Path) -> bool:
    """Return True when the path has a video suffix."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def collect_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders (recursively, images and videos by suffix) into a de-duplicated list."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES
                )
            )
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


def _check_declared_size(path: str | Path, data: np.ndarray) -> None:
    """Refuse an image whose header declares more pixels than the data layer's decompression-bomb limit."""
    import io
    import warnings

    from PIL import Image

    from affectlab.data.images import ALLOWED_FORMATS, DEFAULT_MAX_PIXELS

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data.tobytes()), formats=sorted(ALLOWED_FORMATS)) as img:
                width, height = img.size  # header only: nothing is decoded
    except Image.DecompressionBombError as exc:
        raise AffectlabError(f"image {path} is too large (decompression-bomb guard: {exc})") from exc
    except Exception:  # not a format Pillow reads from its header: OpenCV decides below
        return
    if width * height > DEFAULT_MAX_PIXELS:
        raise AffectlabError(
            f"image {path} is {width}x{height} = {width * height} pixels, more than the limit of "
            f"{DEFAULT_MAX_PIXELS} (decompression-bomb guard)"
        )


def load_image(path: str | Path) -> np.ndarray:
    """Decode an image file (EXIF orientation applied) as RGB uint8 (H, W, 3)."""
    import cv2

    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise AffectlabError(f"could not read image {path}: {exc}") from exc
    _check_declared_size(path, data)
    try:
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    except cv2.error as exc:  # OpenCV asserts (size limits, corrupt headers) instead of returning None
        raise AffectlabError(f"could not decode image {path} ({str(exc).strip().splitlines()[-1]})") from exc
    if bgr is None:
        raise AffectlabError(f"could not decode image {path} (corrupt or not an image)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def as_rgb(image: np.ndarray) -> np.ndarray:
    """Accept an RGB/RGBA/grey uint8 or float [0, 1] array and return RGB uint8 (H, W, 3)."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and array.size and float(np.nanmax(array)) <= 1.0:
            array = array * 255.0
        array = np.clip(np.nan_to_num(array), 0, 255).astype(np.uint8)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise AffectlabError(f"expected an image array (H, W), (H, W, 3) or (H, W, 4), got {array.shape}")
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return np.ascontiguousarray(array[:, :, :3])


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
            rgb = load_image(path)
        except AffectlabError as exc:
            yield Frame(str(path), 0, None, None, error=str(exc))
            continue
        yield Frame(str(path), 0, None, rgb)
