"""Safe decoding: every kind of bad or unusual image file, cropping and the bomb guard."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from affectlab.data.images import ImageProblem, clip_box, decode_bytes, load_face, square_crop


def _encode(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _noise(size: int = 32, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), "RGB")


def _reason(data: bytes, **kwargs: object) -> str:
    with pytest.raises(ImageProblem) as info:
        decode_bytes(data, **kwargs)  # type: ignore[arg-type]
    return info.value.reason


def test_rgb_png_decodes_exactly() -> None:
    img = _noise()
    decoded = decode_bytes(_encode(img, "PNG"), suffix=".png")
    assert decoded.image.mode == "RGB"
    assert np.array_equal(np.asarray(decoded.image), np.asarray(img))
    assert decoded.notes == []


@pytest.mark.parametrize("cut", [2, 100])
def test_truncated_jpeg_is_detected(cut: int) -> None:
    data = _encode(_noise(), "JPEG", quality=90)
    assert _reason(data[:-cut]) == "truncated"


def test_truncated_png_is_detected() -> None:
    data = _encode(_noise(), "PNG")
    assert _reason(data[:-12]) == "truncated"  # IEND chunk cut: Pillow alone would accept it
    assert _reason(data[: len(data) // 2]) == "truncated"


def test_empty_garbage_and_unsupported() -> None:
    assert _reason(b"") == "empty_file"
    assert _reason(b"this is not an image at all") == "undecodable"
    assert _reason(_encode(_noise().convert("P"), "GIF")) == "unsupported_format"


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [("L", "PNG"), ("LA", "PNG"), ("RGBA", "PNG"), ("P", "PNG"), ("CMYK", "JPEG"), ("1", "BMP")],
)
def test_modes_are_converted_to_rgb(mode: str, fmt: str) -> None:
    data = _encode(_noise().convert(mode), fmt)
    decoded = decode_bytes(data)
    arr = np.asarray(decoded.image)
    assert decoded.image.mode == "RGB" and arr.dtype == np.uint8 and arr.shape == (32, 32, 3)
    assert "converted_to_rgb" in decoded.notes


def test_grey_and_alpha_values() -> None:
    grey = decode_bytes(_encode(Image.new("L", (8, 8), 100), "PNG")).image
    assert np.all(np.asarray(grey) == 100)
    rgba = Image.new("RGBA", (8, 8), (200, 50, 10, 0))  # fully transparent: composited on black
    assert np.all(np.asarray(decode_bytes(_encode(rgba, "PNG")).image) == 0)


def test_sixteen_bit_png_is_scaled() -> None:
    arr = np.full((8, 8), 65535, dtype=np.uint16)
    arr[0, 0] = 257 * 10
    decoded = decode_bytes(_encode(Image.fromarray(arr), "PNG"))
    out = np.asarray(decoded.image)
    assert out.dtype == np.uint8 and out[1, 1, 0] == 255 and out[0, 0, 2] == 10


def test_exif_rotation_is_applied() -> None:
    img = Image.new("RGB", (20, 10), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    decoded = decode_bytes(_encode(img, "JPEG", exif=exif.tobytes()))
    assert decoded.image.size == (10, 20)
    assert "exif_rotated" in decoded.notes


def test_png_named_jpg_decodes_by_content(tmp_path: Path) -> None:
    path = tmp_path / "face.jpg"
    img = _noise()
    path.write_bytes(_encode(img, "PNG"))
    pixels, _, notes = load_face(path, None, 32, 0.0)
    assert pixels is not None and np.array_equal(pixels, np.asarray(img))
    assert "extension_mismatch" in notes


def _png_claiming(width: int, height: int) -> bytes:
    data = bytearray(_encode(Image.new("L", (4, 4)), "PNG"))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(data)


def test_decompression_bomb_guard() -> None:
    assert _reason(_png_claiming(100_000, 100_000)) == "too_large"
    assert _reason(_encode(_noise(), "PNG"), max_pixels=100) == "too_large"


def test_clip_box() -> None:
    assert clip_box((-5, -5, 20, 20), 30, 30) == ((0.0, 0.0, 15.0, 15.0), True)
    assert clip_box((2, 2, 5, 5), 30, 30)[1] is False
    with pytest.raises(ImageProblem) as info:
        clip_box((40, 40, 10, 10), 30, 30)
    assert info.value.reason == "box_outside_image"


def test_square_crop_with_margin_pads_black() -> None:
    img = Image.new("RGB", (40, 20), (255, 255, 255))
    whole = square_crop(img, None, 0.5)  # margin applies to boxes only
    assert whole.size == (40, 40)
    assert np.asarray(whole)[0, 0].tolist() == [0, 0, 0] and np.asarray(whole)[20, 20].tolist() == [255] * 3
    face = square_crop(img, (10, 5, 10, 10), 0.5)
    assert face.size == (20, 20)


def test_load_face_box_outside_image(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    _noise().save(path)
    with pytest.raises(ImageProblem, match="does not overlap"):
        load_face(path, (100, 100, 5, 5), 16, 0.1)
    pixels, _, notes = load_face(path, (20, 20, 30, 30), 16, 0.1)
    assert pixels is not None and pixels.shape == (16, 16, 3) and "box_clipped" in notes


def test_large_jpeg_reduced_decode_keeps_box_geometry(tmp_path: Path) -> None:
    arr = np.zeros((400, 480, 3), dtype=np.uint8)
    arr[100:300, 140:340] = 255
    jpeg, png = tmp_path / "big.jpg", tmp_path / "big.png"
    Image.fromarray(arr).save(jpeg, quality=95)
    Image.fromarray(arr).save(png)
    box = (140.0, 100.0, 200.0, 200.0)
    for margin in (0.0, 0.5):
        fast, _, _ = load_face(jpeg, box, 32, margin)  # decoded at 1/4 scale by libjpeg
        exact, _, _ = load_face(png, box, 32, margin)
        assert fast is not None and exact is not None
        assert np.abs(fast.astype(int) - exact.astype(int)).mean() < 6
    inner = load_face(jpeg, box, 32, 0.0)[0]
    assert inner is not None and inner[2:-2, 2:-2].min() > 200
