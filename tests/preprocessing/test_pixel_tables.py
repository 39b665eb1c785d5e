"""Pixels stored in a table (FER2013) decode by the same rules as an image file of the same pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from affectlab.preprocessing import ImageProblem, decode_array, decode_file, load_face, parse_pixel_string


def test_parse_pixel_string_by_hand() -> None:
    grid = parse_pixel_string("0 1 2\n3 4 255", 3, 2)
    assert grid.dtype == np.uint8 and grid.tolist() == [[0, 1, 2], [3, 4, 255]]
    for text, needle in (("0 1 2 3 4", "found 5"), ("0 1 2 3 4 5 6", "found 7"), ("0 1 2 3 4 256", "0-255")):
        with pytest.raises(ImageProblem, match=needle) as info:
            parse_pixel_string(text, 3, 2)
        assert info.value.reason == "bad_pixels"
    with pytest.raises(ImageProblem, match="non-integers"):
        parse_pixel_string("0 1 2 3 4 5.5", 3, 2)
    with pytest.raises(ImageProblem, match="found 0"):
        parse_pixel_string("", 3, 2)


def test_a_table_face_decodes_like_the_same_grey_png(tmp_path: Path) -> None:
    grey = np.random.default_rng(3).integers(0, 256, (48, 48), dtype=np.uint8)
    Image.fromarray(grey, "L").save(tmp_path / "face.png")
    from_file = decode_file(tmp_path / "face.png")
    from_table = decode_array(parse_pixel_string(" ".join(map(str, grey.reshape(-1))), 48, 48))
    np.testing.assert_array_equal(from_table.rgb, from_file.rgb)
    assert from_table.digest == from_file.digest  # duplicates/leakage agree across the two sources
    assert from_table.notes == from_file.notes == ["converted_to_rgb"]
    crop_file, _, _ = load_face(tmp_path / "face.png", None, 32, 0.1)
    crop_table, _, _ = load_face(grey, None, 32, 0.1)
    np.testing.assert_array_equal(crop_table, crop_file)


def test_bad_arrays_are_image_problems() -> None:
    with pytest.raises(ImageProblem) as info:
        decode_array(np.zeros((4, 4, 5), np.uint8))
    assert info.value.reason == "bad_pixels"
    with pytest.raises(ImageProblem, match="over the limit"):
        load_face(np.zeros((64, 64), np.uint8), None, 8, 0.0, max_pixels=100)
