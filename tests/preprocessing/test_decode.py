"""Decoding: every kind of bad or unusual image, the bomb guard for every accepted format, one rule each."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from affectlab.preprocessing import (
    ACCEPTED_FORMATS,
    ImageProblem,
    decode_bytes,
    decode_file,
    from_array,
    load_face,
    probe,
)


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
    assert decoded.rgb.dtype == np.uint8 and decoded.rgb.shape == (32, 32, 3)
    assert np.array_equal(decoded.rgb, np.asarray(img))
    assert decoded.notes == [] and decoded.header.format == "PNG"


@pytest.mark.parametrize("cut", [2, 100])
def test_truncated_jpeg_is_detected(cut: int) -> None:
    data = _encode(_noise(), "JPEG", quality=90)
    assert _reason(data[:-cut]) == "truncated"


def test_truncated_png_is_detected() -> None:
    data = _encode(_noise(), "PNG")
    assert _reason(data[:-12]) == "truncated"  # IEND chunk cut: Pillow alone would accept it
    assert _reason(data[: len(data) // 2]) == "truncated"


def test_empty_garbage_and_refused_formats() -> None:
    assert _reason(b"") == "empty_file"
    assert _reason(b"this is not an image at all") == "not_an_image"
    heic = b"\x00\x00\x00\x18ftypheic" + bytes(64)
    with pytest.raises(ImageProblem, match="HEIC files are not accepted") as info:
        decode_bytes(heic)
    assert info.value.reason == "unsupported_format"
    ico = _encode(_noise(16), "ICO")
    assert _reason(ico) == "unsupported_format"
    # A caller may accept fewer formats: the same decoder, a narrower whitelist.
    assert _reason(_encode(_noise(), "PNG"), formats={"JPEG"}) == "unsupported_format"


@pytest.mark.parametrize("fmt", sorted(ACCEPTED_FORMATS))
def test_every_accepted_format_decodes(fmt: str) -> None:
    img = _noise().convert("L") if fmt == "PPM" else _noise()
    decoded = decode_bytes(_encode(img.convert("P") if fmt == "GIF" else img, fmt))
    assert decoded.rgb.shape == (32, 32, 3) and decoded.header.format == fmt


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [("L", "PNG"), ("LA", "PNG"), ("RGBA", "PNG"), ("P", "PNG"), ("CMYK", "JPEG"), ("1", "BMP")],
)
def test_modes_are_converted_to_rgb(mode: str, fmt: str) -> None:
    decoded = decode_bytes(_encode(_noise().convert(mode), fmt))
    assert decoded.rgb.dtype == np.uint8 and decoded.rgb.shape == (32, 32, 3)
    assert "converted_to_rgb" in decoded.notes


def test_grey_alpha_and_palette_transparency_values() -> None:
    grey = decode_bytes(_encode(Image.new("L", (8, 8), 100), "PNG")).rgb
    assert np.all(grey == 100)
    rgba = Image.new("RGBA", (8, 8), (200, 50, 10, 0))  # fully transparent: composited on black
    assert np.all(decode_bytes(_encode(rgba, "PNG")).rgb == 0)
    half = Image.new("RGBA", (8, 8), (200, 100, 50, 128))  # half transparent: half of the colour
    assert np.allclose(decode_bytes(_encode(half, "PNG")).rgb[0, 0], [100, 50, 25], atol=1)
    pal = Image.new("P", (8, 8), 1)
    pal.putpalette([0, 0, 0, 250, 10, 10] + [0] * 762)
    pal.info["transparency"] = 1
    assert np.all(decode_bytes(_encode(pal, "PNG", transparency=1)).rgb == 0)


def test_sixteen_bit_png_is_scaled_by_value() -> None:
    arr = np.full((8, 8), 65535, dtype=np.uint16)
    arr[0, 0] = 257 * 10
    arr[0, 1] = 1000  # a dark 16-bit image stays dark: the rule does not depend on the content
    out = decode_bytes(_encode(Image.fromarray(arr), "PNG")).rgb
    assert out.dtype == np.uint8 and out[1, 1, 0] == 255 and out[0, 0, 2] == 10 and out[0, 1, 0] == 4
    dark = np.full((8, 8), 200, dtype=np.uint16)
    assert np.all(decode_bytes(_encode(Image.fromarray(dark), "PNG")).rgb == 1)


def test_exif_rotation_is_applied() -> None:
    img = Image.new("RGB", (20, 10), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    decoded = decode_bytes(_encode(img, "JPEG", exif=exif.tobytes()))
    assert decoded.rgb.shape == (20, 10, 3)
    assert "exif_rotated" in decoded.notes


def test_animated_gif_uses_the_first_frame_and_says_so() -> None:
    frames = [Image.new("RGB", (8, 8), c).convert("P") for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    decoded = decode_bytes(buf.getvalue())
    assert "first_frame_only" in decoded.notes and decoded.rgb[0, 0, 0] > 200 and decoded.rgb[0, 0, 2] < 50


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


def _gif_claiming(width: int, height: int) -> bytes:
    """A 35-byte GIF whose logical screen declares width x height (the predict bomb of the old decoder)."""
    header = b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00"
    image = b"," + struct.pack("<HHHH", 0, 0, 1, 1) + b"\x00" + b"\x02\x02\x44\x01\x00"
    return header + image + b";"


def test_decompression_bomb_guard_for_every_accepted_format() -> None:
    assert _reason(_png_claiming(100_000, 100_000)) == "too_large"
    assert _reason(_encode(_noise(), "PNG"), max_pixels=100) == "too_large"
    gif = _gif_claiming(20000, 20000)
    assert len(gif) <= 40
    assert _reason(gif) == "too_large"
    with pytest.raises(ImageProblem):
        probe(gif)  # refused from the header: nothing is decoded
    for fmt in sorted(ACCEPTED_FORMATS):
        img = _noise(40).convert("L") if fmt == "PPM" else _noise(40)
        data = _encode(img.convert("P") if fmt == "GIF" else img, fmt)
        assert _reason(data, max_pixels=1000) == "too_large", fmt


def test_decode_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ImageProblem, match=str(tmp_path / "missing.jpg")) as info:
        decode_file(tmp_path / "missing.jpg")
    assert info.value.reason == "missing_image"
    (tmp_path / "bad.png").write_bytes(b"junk")
    with pytest.raises(ImageProblem, match="bad.png: not a recognised image"):
        decode_file(tmp_path / "bad.png")


def test_from_array_follows_the_file_rules() -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = 200, 0
    assert np.all(from_array(rgba) == 0)  # transparent: black, like a transparent PNG
    png = np.asarray(Image.open(io.BytesIO(_encode(Image.fromarray(rgba, "RGBA"), "PNG"))))
    assert np.array_equal(from_array(png), decode_bytes(_encode(Image.fromarray(rgba, "RGBA"), "PNG")).rgb)
    assert from_array(np.full((3, 5), 7, np.uint8)).shape == (3, 5, 3)
    assert np.all(from_array(np.full((2, 2, 3), 1.0)) == 255)
    assert np.all(from_array(np.full((2, 2), 257 * 9, np.uint16)) == 9)
    with pytest.raises(Exception, match="float image array"):
        from_array(np.full((2, 2, 3), 2.0))
