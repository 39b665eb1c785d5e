"""Uploaded images: the service's format whitelist and limits over affectlab.preprocessing's one decoder.

The header is checked in the request handler (format by content, declared size) before an upload may queue;
the decode itself runs in a worker thread. Both are :mod:`affectlab.preprocessing.decode`, so an upload
gives the model the same pixels as the same file given to ``predict``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from affectlab.preprocessing.decode import ImageProblem, decode_bytes, probe

if TYPE_CHECKING:
    import numpy as np

#: Formats the service decodes (Pillow format names), with the media type reported back.
ALLOWED_FORMATS: dict[str, str] = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
}
#: HTTP status and stable error code for each decode problem.
_STATUS: dict[str, tuple[int, str]] = {
    "empty_file": (422, "empty_upload"),
    "unsupported_format": (415, "unsupported_format"),
    "not_an_image": (415, "not_an_image"),
    "too_large": (413, "image_too_large"),
    "truncated": (422, "truncated_image"),
    "undecodable": (422, "corrupt_image"),
}


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
    max_pixels: int


def _refusal(exc: ImageProblem) -> UploadError:
    status, code = _STATUS.get(exc.reason, (422, "corrupt_image"))
    detail = "the uploaded file is empty (0 bytes)" if exc.reason == "empty_file" else exc.detail
    return UploadError(status, code, detail)


def check_upload(data: bytes, *, max_bytes: int, max_pixels: int) -> CheckedImage:
    """Check size, format (by content, not name) and the header's declared size; decode nothing yet."""
    if len(data) > max_bytes:
        raise UploadError(
            413, "upload_too_large", f"the upload is {len(data)} bytes; the limit is {max_bytes} bytes"
        )
    try:
        header = probe(data, formats=ALLOWED_FORMATS, max_pixels=max_pixels)
    except ImageProblem as exc:
        raise _refusal(exc) from None
    return CheckedImage(data, header.format, header.width, header.height, max_pixels)


def decode_checked(checked: CheckedImage) -> np.ndarray:
    """Fully decode a checked upload to an RGB uint8 (H, W, 3) array by affectlab's decode rules."""
    try:
        return decode_bytes(checked.data, formats=(checked.format,), max_pixels=checked.max_pixels).rgb
    except ImageProblem as exc:
        raise _refusal(exc) from None


def decode_upload(data: bytes, *, max_bytes: int, max_pixels: int) -> np.ndarray:
    """Check then decode an upload to RGB uint8; raise UploadError for anything refused."""
    return decode_checked(check_upload(data, max_bytes=max_bytes, max_pixels=max_pixels))
