"""Decoding of uploaded images: a format whitelist, size checks from the header, then a strict decode."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

#: Formats the service decodes (Pillow format names), with the media type reported back.
ALLOWED_FORMATS: dict[str, str] = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
}

#: Magic numbers of formats we recognise but refuse, so the error can name them.
_REFUSED_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"GIF87a", 0, "GIF"),
    (b"GIF89a", 0, "GIF"),
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"II+\x00", 0, "BigTIFF"),
    (b"MM\x00+", 0, "BigTIFF"),
    (b"SIMPLE  =", 0, "FITS"),
    (b"8BPS", 0, "Photoshop PSD"),
    (b"%PDF", 0, "PDF"),
    (b"\x00\x00\x01\x00", 0, "ICO"),
    (b"\x00\x00\x02\x00", 0, "CUR"),
    (b"\x00\x00\x00\x0cjP  ", 0, "JPEG 2000"),
    (b"\xff\x4f\xff\x51", 0, "JPEG 2000 codestream"),
    (b"ftypheic", 4, "HEIC"),
    (b"ftypheix", 4, "HEIC"),
    (b"ftypmif1", 4, "HEIF"),
    (b"ftypavif", 4, "AVIF"),
    (b"ftypisom", 4, "MP4 video"),
    (b"ftypmp42", 4, "MP4 video"),
    (b"ftypqt  ", 4, "QuickTime video"),
    (b"\x1aE\xdf\xa3", 0, "Matroska/WebM video"),
    (b"\x00\x00\x01\xba", 0, "MPEG video"),
    (b"#?RADIANCE", 0, "Radiance HDR"),
    (b"v/1\x01", 0, "OpenEXR"),
    (b"DDS ", 0, "DDS"),
    (b"icns", 0, "ICNS"),
    (b"<svg", 0, "SVG"),
    (b"<?xml", 0, "XML/SVG"),
    (b"PK\x03\x04", 0, "ZIP archive"),
    (b"\x1f\x8b", 0, "gzip archive"),
)


class UploadError(Exception):
    """An upload the service refuses: HTTP status, a stable error code and a human-readable detail."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        """Record the status, code and detail."""
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


@dataclass
class CheckedImage:
    """An upload whose format and declared size passed the checks, not yet decoded."""

    data: bytes
    format: str
    width: int
    height: int


def sniff_format(data: bytes) -> str | None:
    """Return the whitelisted Pillow format name of `data` from its magic number, or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:2] == b"BM" and len(data) >= 26:
        return "BMP"
    return None


def _refused_format(data: bytes) -> str | None:
    if data[:1] == b"P" and data[1:2] in (b"1", b"2", b"3", b"4", b"5", b"6") and data[2:3].isspace():
        return "PBM/PGM/PPM"
    for magic, offset, name in _REFUSED_SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return name
    return None


def _allowed_list() -> str:
    return ", ".join(sorted(ALLOWED_FORMATS))


def check_upload(data: bytes, *, max_bytes: int, max_pixels: int) -> CheckedImage:
    """Check size, format (by content, not name) and the header's declared size; decode nothing yet."""
    from PIL import Image, UnidentifiedImageError

    if len(data) == 0:
        raise UploadError(422, "empty_upload", "the uploaded file is empty (0 bytes)")
    if len(data) > max_bytes:
        raise UploadError(
            413, "upload_too_large", f"the upload is {len(data)} bytes; the limit is {max_bytes} bytes"
        )
    fmt = sniff_format(data)
    if fmt is None:
        refused = _refused_format(data)
        if refused is not None:
            raise UploadError(
                415,
                "unsupported_format",
                f"{refused} files are not accepted; upload one of {_allowed_list()}",
            )
        raise UploadError(
            415,
            "not_an_image",
            f"the upload is not a recognised image (by content); upload one of {_allowed_list()}",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=[fmt])
            width, height = img.size
    except Image.DecompressionBombError as exc:
        raise UploadError(
            413, "image_too_large", f"the image header declares too many pixels ({exc})"
        ) from exc
    except UnidentifiedImageError as exc:
        raise UploadError(
            422, "corrupt_image", f"the file starts like a {fmt} image but its header is unreadable"
        ) from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise _decode_error(fmt, exc, "header") from exc
    if width < 1 or height < 1:
        raise UploadError(
            422, "corrupt_image", f"the {fmt} header declares an empty image ({width}x{height})"
        )
    if width * height > max_pixels:
        raise UploadError(
            413,
            "image_too_large",
            f"the image is {width}x{height} = {width * height} pixels; the limit is {max_pixels} pixels",
        )
    return CheckedImage(data=data, format=fmt, width=width, height=height)


def _decode_error(fmt: str, exc: BaseException, part: str) -> UploadError:
    """Classify a decoder exception as a truncated or a corrupt image."""
    message = str(exc)
    if "truncated" in message.lower() or "premature" in message.lower() or isinstance(exc, EOFError):
        return UploadError(
            422, "truncated_image", f"the {fmt} image is truncated (the file ends before its {part} does)"
        )
    return UploadError(422, "corrupt_image", f"the {fmt} {part} is corrupt: {message}")


def _to_rgb(img: Image.Image) -> np.ndarray:
    """Convert any decoded mode to an RGB uint8 array (alpha composited on white, 16-bit scaled)."""
    import numpy as np
    from PIL import Image

    mode = img.mode
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        gray = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "F":
        arr = np.nan_to_num(np.asarray(img, dtype=np.float64))
        lo, hi = float(arr.min(initial=0)), float(arr.max(initial=0))
        gray = ((arr - lo) / (hi - lo or 1.0) * 255.0).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "P":
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def decode_checked(checked: CheckedImage) -> np.ndarray:
    """Fully decode a checked upload to an RGB uint8 (H, W, 3) array, EXIF orientation applied."""
    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(checked.data), formats=[checked.format])
            opened.load()
            return _to_rgb(ImageOps.exif_transpose(opened))
    except Image.DecompressionBombError as exc:
        raise UploadError(
            413, "image_too_large", f"the image header declares too many pixels ({exc})"
        ) from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise _decode_error(checked.format, exc, "image data") from exc


def decode_upload(data: bytes, *, max_bytes: int, max_pixels: int) -> np.ndarray:
    """Check then decode an upload to RGB uint8; raise UploadError for anything refused."""
    return decode_checked(check_upload(data, max_bytes=max_bytes, max_pixels=max_pixels))
