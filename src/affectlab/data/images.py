"""Safe image decoding, face cropping and resizing: one file in, RGB uint8 pixels or a rejection out."""

from __future__ import annotations

import hashlib
import io
import logging
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

#: Formats accepted by content (the file extension is not trusted).
ALLOWED_FORMATS: frozenset[str] = frozenset({"JPEG", "PNG", "BMP", "WEBP", "TIFF"})
#: Largest image accepted, in pixels (a decompression-bomb guard independent of Pillow's global setting).
DEFAULT_MAX_PIXELS = 64_000_000
_EXT_FORMAT = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".bmp": "BMP",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})

Box = tuple[float, float, float, float]


class ImageProblem(Exception):
    """An image that cannot be used; ``reason`` is the report key, the message says what was expected."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class DecodedImage:
    """An RGB uint8 image plus what had to be adjusted to get it."""

    image: Image.Image
    digest: bytes
    notes: list[str] = field(default_factory=list)
    #: Decoded width / width in the file (below 1 when a JPEG was decoded at reduced scale).
    scale: float = 1.0


def _check_complete(data: bytes, fmt: str) -> None:
    """Raise if a JPEG lacks its end-of-image marker after the last scan, or a PNG lacks IEND."""
    if fmt == "JPEG" and data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda"):
        raise ImageProblem("truncated", "JPEG is truncated: no end-of-image marker after the last scan")
    if fmt == "PNG" and b"IEND" not in data[-64:]:
        raise ImageProblem("truncated", "PNG is truncated: no IEND chunk at the end of the file")


def _to_rgb(img: Image.Image, notes: list[str]) -> Image.Image:
    """Convert any supported mode (grey, palette, alpha, CMYK, 16-bit) to 8-bit RGB."""
    if img.mode == "RGB":
        return img
    notes.append("converted_to_rgb")
    if img.mode in _SIXTEEN_BIT_MODES:
        arr = np.asarray(img).astype(np.float64)
        if arr.max(initial=0.0) > 255.0:
            arr = arr / 257.0
        grey = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(grey[..., None], 3, axis=2), "RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def decode_bytes(
    data: bytes,
    *,
    suffix: str = "",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    target: tuple[float | None, int] | None = None,
) -> DecodedImage:
    """Decode image bytes into an RGB image with EXIF rotation applied, or raise ImageProblem.

    ``target=(face_side or None for the whole image, output side)`` lets a JPEG decode at a reduced
    scale (1/2, 1/4, 1/8) as long as the face stays at least ``output side`` pixels wide.
    """
    if not data:
        raise ImageProblem("empty_file", "file is empty (0 bytes); expected an image")
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(io.BytesIO(data))
            fmt = img.format or "?"
            if fmt not in ALLOWED_FORMATS:
                raise ImageProblem(
                    "unsupported_format", f"format {fmt} is not one of {', '.join(sorted(ALLOWED_FORMATS))}"
                )
            width, height = img.size
            if width * height > max_pixels:
                raise ImageProblem(
                    "too_large",
                    f"image is {width}x{height} = {width * height} pixels, more than the "
                    f"limit of {max_pixels} (decompression-bomb guard)",
                )
            if width == 0 or height == 0:
                raise ImageProblem("undecodable", f"image has zero size {width}x{height}")
            if target is not None and fmt == "JPEG":
                factor = (target[0] or max(width, height)) / target[1]
                if factor >= 2.0:
                    img.draft("RGB", (math.ceil(width / factor), math.ceil(height / factor)))
            img.load()
            scale = img.width / width
    except ImageProblem:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageProblem("too_large", f"decompression-bomb guard: {exc}") from exc
    except (UnidentifiedImageError, SyntaxError) as exc:
        raise ImageProblem("undecodable", f"not a decodable image ({exc})") from exc
    except OSError as exc:
        reason = "truncated" if "truncated" in str(exc).lower() else "undecodable"
        raise ImageProblem(reason, f"cannot decode image: {exc}") from exc
    except (ValueError, MemoryError) as exc:  # corrupt headers surface as these in some plugins
        raise ImageProblem("undecodable", f"cannot decode image: {exc}") from exc
    _check_complete(data, fmt)
    expected = _EXT_FORMAT.get(suffix.lower())
    if expected is not None and expected != fmt:
        notes.append("extension_mismatch")
    try:
        orientation = img.getexif().get(0x0112, 1)
        if orientation not in (1, None):
            img = ImageOps.exif_transpose(img)
            notes.append("exif_rotated")
    except Exception as exc:  # malformed EXIF must not reject an otherwise good image
        logger.debug("ignoring unreadable EXIF: %s", exc)
    rgb = _to_rgb(img, notes)
    digest = hashlib.blake2b(rgb.tobytes(), digest_size=16).digest()
    return DecodedImage(rgb, digest, notes, scale)


def decode_file(
    path: Path, *, max_pixels: int = DEFAULT_MAX_PIXELS, target: tuple[float | None, int] | None = None
) -> DecodedImage:
    """Read and decode one image file (see :func:`decode_bytes`)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ImageProblem("missing_image", "image file does not exist") from exc
    except OSError as exc:
        raise ImageProblem("unreadable", f"cannot read file: {exc}") from exc
    return decode_bytes(data, suffix=path.suffix, max_pixels=max_pixels, target=target)


def clip_box(box: Box, width: int, height: int) -> tuple[Box, bool]:
    """Clip an (x, y, w, h) box to the image; return it and whether it was clipped, or raise if disjoint."""
    x, y, w, h = box
    x0, y0 = max(0.0, x), max(0.0, y)
    x1, y1 = min(float(width), x + w), min(float(height), y + h)
    if x1 <= x0 or y1 <= y0:
        raise ImageProblem(
            "box_outside_image",
            f"face box (x={x:g}, y={y:g}, w={w:g}, h={h:g}) does not overlap the {width}x{height} image",
        )
    clipped = (x0, y0, x1 - x0, y1 - y0)
    return clipped, clipped != (x, y, w, h)


def square_crop(img: Image.Image, box: Box | None, margin: float) -> Image.Image:
    """Crop a square around the box (or the whole image) grown by ``margin`` per side; pad black outside."""
    if box is None:
        box, margin = (0.0, 0.0, float(img.width), float(img.height)), 0.0
    x, y, w, h = box
    side = max(w, h) * (1.0 + 2.0 * margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    left, top = round(cx - side / 2.0), round(cy - side / 2.0)
    size = max(1, round(side))
    if (left, top, size) == (0, 0, img.width) and img.width == img.height:
        return img
    return img.crop((left, top, left + size, top + size))


def load_face(
    path: Path, box: Box | None, size: int | None, margin: float, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[np.ndarray | None, bytes, list[str]]:
    """Decode, crop and resize one face; return (pixels (S, S, 3) uint8 or None, digest, notes)."""
    target = None if size is None else (None if box is None else max(box[2], box[3]), size)
    decoded = decode_file(path, max_pixels=max_pixels, target=target)
    img, notes = decoded.image, decoded.notes
    if box is not None and decoded.scale != 1.0:
        box = (box[0] * decoded.scale, box[1] * decoded.scale, box[2] * decoded.scale, box[3] * decoded.scale)
    if box is not None:
        box, clipped = clip_box(box, img.width, img.height)
        if clipped:
            notes.append("box_clipped")
    if size is None:
        return None, decoded.digest, notes
    face = square_crop(img, box, margin)
    if face.size != (size, size):
        face = face.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(face, dtype=np.uint8), decoded.digest, notes
