"""Face detection on real sample photographs shipped by scikit-image, the registry, and the model cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data as skdata

from affectlab.errors import AffectlabError
from affectlab.inference.detect import create_detector, fetch_model, list_detectors


def test_registry_names_and_unknown_detector() -> None:
    assert {"retinaface", "yunet", "none"} <= set(list_detectors())
    with pytest.raises(AffectlabError, match="unknown face detector 'nope'"):
        create_detector("nope")


def test_retinaface_finds_the_astronaut(retinaface, astronaut: np.ndarray) -> None:
    faces = retinaface.detect(astronaut)
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    # Eileen Collins' face in the 512x512 photo spans roughly x 180-270, y 60-175
    assert 190 < x + w / 2 < 260 and 80 < y + h / 2 < 150
    assert 60 < w < 160 and 70 < h < 180
    assert faces[0].score > 0.95
    marks = faces[0].landmarks5
    assert marks is not None and marks.shape == (5, 2)
    assert np.all((marks[:, 0] > x) & (marks[:, 0] < x + w) & (marks[:, 1] > y) & (marks[:, 1] < y + h))
    assert marks[0, 1] < marks[2, 1] < marks[3, 1]  # eyes above nose above mouth


@pytest.mark.parametrize("name", ["coffee", "rocket", "chelsea"])
def test_retinaface_finds_no_face_in_photos_without_people(retinaface, name: str) -> None:
    assert retinaface.detect(getattr(skdata, name)()) == []


def test_retinaface_downscales_large_images_and_maps_boxes_back(astronaut: np.ndarray) -> None:
    import cv2

    big = cv2.resize(astronaut, (1024, 1024))
    small_side = create_detector("retinaface", max_side=512)
    (face,) = small_side.detect(big)
    (ref,) = create_detector("retinaface").detect(astronaut)
    assert np.allclose(face.box, np.asarray(ref.box) * 2, atol=12)


def test_retinaface_on_greyscale_photo(retinaface) -> None:
    camera = np.repeat(skdata.camera()[:, :, None], 3, axis=2)
    faces = retinaface.detect(camera)
    assert len(faces) == 1 and faces[0].score > 0.9


def test_none_detector_is_the_whole_image(coffee: np.ndarray) -> None:
    (det,) = create_detector("none").detect(coffee)
    assert det.box == (0.0, 0.0, 600.0, 400.0) and det.score == 1.0 and det.landmarks5 is None


def test_detector_model_path_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(AffectlabError, match="missing.onnx"):
        create_detector("yunet", model_path=tmp_path / "missing.onnx")
    with pytest.raises(AffectlabError, match="missing.onnx"):
        create_detector("retinaface", model_path=tmp_path / "missing.onnx")


def test_fetch_model_caches_and_checks_sha256(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    source = tmp_path / "weights.onnx"
    source.write_bytes(b"model bytes")
    monkeypatch.setenv("AFFECTLAB_CACHE", str(tmp_path / "cache"))
    digest = hashlib.sha256(b"model bytes").hexdigest()
    cached = fetch_model(source.as_uri(), sha256=digest)
    assert cached == tmp_path / "cache" / "models" / "weights.onnx" and cached.read_bytes() == b"model bytes"
    source.unlink()
    assert fetch_model(source.as_uri(), sha256=digest) == cached  # served from the cache
    with pytest.raises(AffectlabError, match="SHA-256"):
        fetch_model(source.as_uri(), sha256="0" * 64)
    with pytest.raises(AffectlabError, match="could not download"):
        fetch_model((tmp_path / "absent.onnx").as_uri())
