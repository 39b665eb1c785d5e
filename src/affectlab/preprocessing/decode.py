"""Decoding: image bytes, files or arrays in, RGB uint8 (H, W, 3) out, by one set of rules.

Rules (the same for prepare, training from a raw layout, evaluate, predict and serve):

- The format is judged by content, never by the file name. Accepted: JPEG, PNG, BMP, WEBP, TIFF, GIF and
  PPM/PGM (a caller such as serve may accept fewer). Everything else is refused with its name when known.
- Decompression bombs: the header's width x height is checked against ``max_pixels`` *before* any pixel is
  decoded, for every accepted format (Pillow reads the size from the header of each of them).
- Only the first frame of an animated GIF/WEBP/PNG or a multi-page TIFF is used; the decode notes it.
- EXIF orientation is applied (a malformed EXIF block is ignored, not fatal).
- Grey, bilevel, palette, CMYK and YCbCr images are converted with Pillow's ``convert("RGB")``.
- 16-bit images (``I;16*``, ``I``) are scaled to 8 bits by value / 257, rounded; 32-bit float images are
  refused (their value range is not defined).
- Transparency (RGBA, LA, PA, palette with a transparent index) is composited on black, the same black that
  pads a crop where it leaves the image.
- Truncated JPEGs (no end-of-image marker after the last scan) and PNGs (no IEND) are refused, not padded.
"""

from __future__ import annotations

import hashlib
import io
import logging
import struct
import warnings
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError

logger = logging.getLogger(__name__)

#: Pillow format names accepted by content.
ACCEPTED_FORMATS: frozenset[str] = frozenset({"JPEG", "PNG", "BMP", "WEBP", "TIFF", "GIF", "PPM"})
#: File suffixes that name image files (folders are scanned by these; content still decides).
IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".jfif", ".jpe", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".pgm", ".ppm"}
)
#: Suffixes of image formats that are recognised but not decoded (reported, never silently skipped).
REFUSED_SUFFIXES: frozenset[str] = frozenset({".heic", ".heif", ".avif", ".svg", ".psd", ".ico", ".jp2"})
#: Largest image accepted, in pixels (a decompression-bomb guard independent of Pillow's global setting).
DEFAULT_MAX_PIXELS = 64_000_000
#: What transparent pixels become.
ALPHA_BACKGROUND: tuple[int, int, int] = (0, 0, 0)

_EXT_FORMAT = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jfif": "JPEG",
    ".jpe": "JPEG",
    ".png": "PNG",
    ".bmp": "BMP",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".gif": "GIF",
    ".pgm": "PPM",
    ".ppm": "PPM",
}
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
#: Magic numbers of formats that are refused, so the error can name them without parsing them.
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"SIMPLE  =", 0, "FITS"),
    (b"8BPS", 0, "Photoshop PSD"),
    (b"\x00\x00\x01\x00", 0, "ICO"),
    (b"\x00\x00\x02\x00", 0, "CUR"),
    (b"\x00\x00\x00\x0cjP  ", 0, "JPEG 2000"),
    (b"\xff\x4f\xff\x51", 0, "JPEG 2000 codestream"),
    (b"#?RADIANCE", 0, "Radiance HDR"),
    (b"v/1\x01", 0, "OpenEXR"),
    (b"DDS ", 0, "DDS"),
    (b"icns", 0, "ICNS"),
    (b"ftypheic", 4, "HEIC"),
    (b"ftypheix", 4, "HEIC"),
    (b"ftypmif1", 4, "HEIF"),
    (b"ftypavif", 4, "AVIF"),
    (b"ftypisom", 4, "MP4 video"),
    (b"ftypmp42", 4, "MP4 video"),
    (b"ftypqt  ", 4, "QuickTime video"),
    (b"\x1aE\xdf\xa3", 0, "Matroska/WebM video"),
    (b"\x00\x00\x01\xba", 0, "MPEG video"),
    (b"%PDF", 0, "PDF"),
    (b"<svg", 0, "SVG"),
    (b"<?xml", 0, "XML/SVG"),
    (b"PK\x03\x04", 0, "ZIP archive"),
    (b"\x1f\x8b", 0, "gzip archive"),
)


class ImageProblem(AffectlabError):
    """An image that cannot be used; ``reason`` is the report key, ``detail`` says what was expected."""

    def __init__(self, reason: str, detail: str, path: str | Path | None = None) -> None:
        super().__init__(f"{path}: {detail}" if path is not None else detail)
        self.reason = reason
        self.detail = detail
        self.path = path


@dataclass(frozen=True)
class ImageHeader:
    """What an image's header declares: its format, size and whether it holds more than one frame."""

    format: str
    width: int
    height: int
    animated: bool = False


@dataclass
class DecodedImage:
    """RGB uint8 pixels (H, W, 3), a content digest (duplicates, leakage) and what had to be adjusted."""

    rgb: np.ndarray
    digest: bytes
    header: ImageHeader
    notes: list[str] = field(default_factory=list)


def _accepted_list(formats: Collection[str]) -> str:
    return ", ".join(sorted(formats))


def _named_signature(data: bytes) -> str | None:
    for magic, offset, name in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return name
    return None


def _accepted_name(data: bytes, formats: Collection[str]) -> str | None:
    """The name of another format that affectlab accepts elsewhere (a narrower caller refused it)."""
    from PIL import Image

    others = sorted(ACCEPTED_FORMATS - set(formats))
    if not others:
        return None
    try:
        with Image.open(io.BytesIO(data), formats=others) as img:
            return str(img.format)
    except Exception:  # not one of them either
        return None


def _open(data: bytes, formats: Collection[str], max_pixels: int) -> tuple[Any, ImageHeader]:
    """Open the header (no pixels decoded), check format and declared size; return (image, header)."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ImageProblem("empty_file", "file is empty (0 bytes); expected an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # Only the accepted formats' header parsers ever see the bytes.
            img = Image.open(io.BytesIO(data), formats=sorted(formats))
    except Image.DecompressionBombError as exc:
        raise ImageProblem("too_large", f"decompression-bomb guard: {exc}") from exc
    except UnidentifiedImageError:
        named = _named_signature(data) or _accepted_name(data, formats)
        if named is not None:
            raise ImageProblem(
                "unsupported_format",
                f"{named} files are not accepted; expected one of {_accepted_list(formats)}",
            ) from None
        raise ImageProblem(
            "not_an_image", f"not a recognised image (by content); expected one of {_accepted_list(formats)}"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        if isinstance(exc, EOFError | struct.error) or "truncated" in str(exc).lower():
            raise ImageProblem(
                "truncated", f"image is truncated: the file ends inside its header ({exc})"
            ) from exc
        raise ImageProblem("undecodable", f"unreadable image header ({exc})") from exc
    fmt = img.format or "?"
    width, height = img.size
    if width <= 0 or height <= 0:
        raise ImageProblem("undecodable", f"the {fmt} header declares an empty image ({width}x{height})")
    if width * height > max_pixels:
        raise ImageProblem(
            "too_large",
            f"image is {width}x{height} = {width * height} pixels, more than the limit of {max_pixels} "
            "(decompression-bomb guard)",
        )
    try:
        animated = bool(getattr(img, "is_animated", False))
    except (OSError, EOFError, ValueError, SyntaxError, struct.error):  # a broken second frame
        animated = True
    return img, ImageHeader(fmt, width, height, animated)


def probe(
    data: bytes, *, formats: Collection[str] = ACCEPTED_FORMATS, max_pixels: int = DEFAULT_MAX_PIXELS
) -> ImageHeader:
    """Check format and declared size from the header alone, or raise ImageProblem; decodes nothing."""
    img, header = _open(data, formats, max_pixels)
    img.close()
    return header


def _check_complete(data: bytes, fmt: str) -> None:
    """Raise if a JPEG lacks its end-of-image marker after the last scan, or a PNG lacks IEND."""
    if fmt == "JPEG" and data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda"):
        raise ImageProblem("truncated", "JPEG is truncated: no end-of-image marker after the last scan")
    if fmt == "PNG" and b"IEND" not in data[-64:]:
        raise ImageProblem("truncated", "PNG is truncated: no IEND chunk at the end of the file")


def to_rgb(img: Any, notes: list[str] | None = None) -> np.ndarray:
    """Convert a decoded Pillow image of any supported mode to RGB uint8 (H, W, 3) by the rules above."""
    from PIL import Image

    notes = notes if notes is not None else []
    mode = img.mode
    if mode == "RGB":
        return np.asarray(img, dtype=np.uint8)
    notes.append("converted_to_rgb")
    if mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(img).astype(np.float64) / 257.0
        grey = np.clip(np.floor(values + 0.5), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if mode == "F":
        raise ImageProblem("unsupported_format", "32-bit float images are not accepted (undefined range)")
    if mode == "P" and "transparency" in img.info:
        img, mode = img.convert("RGBA"), "RGBA"
    if mode in _ALPHA_MODES:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*ALPHA_BACKGROUND, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"), dtype=np.uint8)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def _exif_transpose(img: Any, notes: list[str]) -> Any:
    from PIL import ImageOps

    try:
        orientation = img.getexif().get(0x0112, 1)
        if orientation not in (1, None):
            img = ImageOps.exif_transpose(img)
            notes.append("exif_rotated")
    except Exception as exc:  # a malformed EXIF block must not reject an otherwise good image
        logger.debug("ignoring unreadable EXIF: %s", exc)
    return img


def decode_bytes(
    data: bytes,
    *,
    suffix: str = "",
    formats: Collection[str] = ACCEPTED_FORMATS,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> DecodedImage:
    """Decode image bytes to RGB uint8 by the module's rules, or raise ImageProblem saying why not."""
    from PIL import Image

    img, header = _open(data, formats, max_pixels)
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img.load()  # the first frame only
    except OSError as exc:
        reason = "truncated" if "truncated" in str(exc).lower() else "undecodable"
        raise ImageProblem(reason, f"cannot decode the {header.format} image: {exc}") from exc
    except (ValueError, SyntaxError, EOFError, MemoryError, struct.error) as exc:
        raise ImageProblem("undecodable", f"cannot decode the {header.format} image: {exc}") from exc
    _check_complete(data, header.format)
    if img.size != (header.width, header.height):  # a frame that grew past its header: refuse it
        raise ImageProblem("undecodable", f"decoded size {img.size} differs from the header's")
    expected = _EXT_FORMAT.get(suffix.lower())
    if expected is not None and expected != header.format:
        notes.append("extension_mismatch")
    if header.animated:
        notes.append("first_frame_only")
    rgb = to_rgb(_exif_transpose(img, notes), notes)
    digest = hashlib.blake2b(rgb.tobytes(), digest_size=16).digest()
    return DecodedImage(np.ascontiguousarray(rgb), digest, header, notes)


def decode_file(
    path: str | Path,
    *,
    formats: Collection[str] = ACCEPTED_FORMATS,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> DecodedImage:
    """Read and decode one image file (see :func:`decode_bytes`); errors name the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ImageProblem("missing_image", "image file does not exist", path) from exc
    except IsADirectoryError as exc:
        raise ImageProblem("unreadable", "is a folder, not an image file", path) from exc
    except OSError as exc:
        raise ImageProblem("unreadable", f"cannot read file: {exc.strerror or exc}", path) from exc
    try:
        return decode_bytes(data, suffix=path.suffix, formats=formats, max_pixels=max_pixels)
    except ImageProblem as exc:
        raise ImageProblem(exc.reason, exc.detail, path) from None


def parse_pixel_string(text: str, width: int, height: int) -> np.ndarray:
    """Parse pixels stored as text into a (height, width) uint8 array, or raise ImageProblem("bad_pixels").

    The text is FER2013's ``pixels`` cell: width x height grey values 0-255, space-separated, row-major.
    """
    try:
        values = np.fromstring(text, dtype=np.int64, sep=" ")  # text mode: not the deprecated binary mode
    except ValueError:
        raise ImageProblem(
            "bad_pixels",
            f"pixels must be {width * height} space-separated integers 0-255; found non-integers",
        ) from None
    if values.size != width * height:
        raise ImageProblem(
            "bad_pixels",
            f"expected {width * height} pixel values ({width}x{height} grey), found {values.size}",
        )
    if values.size and (values.min() < 0 or values.max() > 255):
        raise ImageProblem("bad_pixels", f"pixel values must be 0-255, found {values.min()}..{values.max()}")
    return values.astype(np.uint8).reshape(height, width)


def decode_array(image: Any) -> DecodedImage:
    """Decode in-memory pixels (a dataset that stores them in a table) by :func:`from_array`'s rules, with
    the digest and notes a file decode gives (grey is noted as ``converted_to_rgb``, like a grey file)."""
    array = np.asarray(image)
    try:
        rgb = from_array(array)
    except AffectlabError as exc:
        raise ImageProblem("bad_pixels", str(exc)) from None
    notes = (
        [] if array.ndim == 3 and array.shape[2] == 3 and array.dtype == np.uint8 else ["converted_to_rgb"]
    )
    digest = hashlib.blake2b(rgb.tobytes(), digest_size=16).digest()
    header = ImageHeader("array", int(rgb.shape[1]), int(rgb.shape[0]))
    return DecodedImage(rgb, digest, header, notes)


def from_array(image: Any) -> np.ndarray:
    """Turn an image array into RGB uint8 by the same rules as files (API input, video frames excluded).

    Accepts (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) arrays of uint8, uint16 (16-bit: / 257) or floats in
    [0, 1]; four channels are RGBA, composited on black like a transparent file.
    """
    from PIL import Image

    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)) or 0 in array.shape:
        raise AffectlabError(f"expected an image array (H, W), (H, W, 3) or (H, W, 4), got {array.shape}")
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)) or array.min(initial=0) < 0 or array.max(initial=0) > 1:
            raise AffectlabError("a float image array must hold finite values in [0, 1]")
        array = np.floor(array * 255.0 + 0.5).astype(np.uint8)
    elif array.dtype == np.uint16:
        array = np.clip(np.floor(array / 257.0 + 0.5), 0, 255).astype(np.uint8)
    elif array.dtype != np.uint8:
        raise AffectlabError(f"expected a uint8, uint16 or float image array, got {array.dtype}")
    if array.ndim == 2:
        return np.repeat(array[:, :, None], 3, axis=2)
    if array.shape[2] == 3:
        return np.ascontiguousarray(array)
    return to_rgb(Image.fromarray(np.ascontiguousarray(array), "RGBA"))
