"""Calibrated probabilities and abstention in predict, serve and ONNX export (one temperature, every path)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from affectlab.errors import AffectlabError
from affectlab.evaluation.calibrate import calibrate
from affectlab.inference import Predictor
from affectlab.inference.backends import softmax
from affectlab.models.info import ModelInfo, read_info
from helpers import overconfident as oc


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A deliberately over-confident tiny model, calibrated on 'selection' with a stored threshold."""
    with oc.tiny_arch():
        path = oc.train_overconfident(tmp_path_factory.mktemp("cal") / "run")
        calibrate(path, oc.splits(), "selection", uncertain_below=0.5, n_boot=0)
        yield path


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    return oc.splits(48)["val"].images


def test_predictor_applies_the_temperature_and_keeps_raw_logits(calibrated: Path, crops: np.ndarray) -> None:
    cal = read_info(calibrated).calibration
    assert cal is not None
    faces = Predictor.load(calibrated, keep_logits=True).predict_faces(crops)
    z = np.array([list(f.logits.values()) for f in faces])  # type: ignore[union-attr]
    p = np.array([list(f.probabilities.values()) for f in faces])
    assert np.allclose(p, softmax(z / cal.temperature), atol=1e-6)
    raw = Predictor.load(calibrated, calibrated=False).predict_faces(crops)
    assert np.allclose([list(f.probabilities.values()) for f in raw], softmax(z), atol=1e-6)
    assert all(f.logits is None and "logits" not in f.to_dict() for f in raw)
    assert "logit_happy" in faces[0].to_row() and "logit_happy" not in raw[0].to_row()


def test_abstention_threshold_is_respected(calibrated: Path, crops: np.ndarray) -> None:
    default = Predictor.load(calibrated)
    assert default.uncertain_below == 0.5  # the model's own, from calibrate
    median = float(np.median([max(f.probabilities.values()) for f in default.predict_faces(crops)]))
    for threshold, predictor in (
        (0.5, default),
        (median, Predictor.load(calibrated, uncertain_below=median)),
        (None, Predictor.load(calibrated, uncertain_below=0)),
        (None, Predictor.load(calibrated, calibrated=False)),  # the model's threshold is for calibrated p
    ):
        faces = predictor.predict_faces(crops)
        for face in faces:
            top = max(face.probabilities.values())
            expected = threshold is not None and top < threshold
            assert face.uncertain == expected
            assert (face.expression == "uncertain") == expected
            assert face.expression == "uncertain" or face.probabilities[face.expression] == top
            assert sum(face.probabilities.values()) == pytest.approx(1.0) and -1 <= face.valence <= 1
        if threshold == median:
            assert any(f.uncertain for f in faces) and not all(f.uncertain for f in faces)
    with pytest.raises(AffectlabError, match="probability in"):
        Predictor.load(calibrated, uncertain_below=1.5)


def test_calibrated_probabilities_survive_onnx_export(
    calibrated: Path, crops: np.ndarray, tmp_path: Path
) -> None:
    from affectlab.inference.export import export_onnx
    from affectlab.models.onnx import INPUT_NAME, load_onnx_info, onnx_session
    from affectlab.preprocessing.normalise import normalise

    report = export_onnx(calibrated, tmp_path / "m.onnx")
    assert report.passed
    info = load_onnx_info(report.path)
    torch_info = read_info(calibrated)
    assert info.calibration is not None and torch_info.calibration is not None
    assert info.calibration.to_dict() == torch_info.calibration.to_dict()
    onnx_faces = Predictor.load(report.path).predict_faces(crops)
    torch_faces = Predictor.load(calibrated).predict_faces(crops)
    p_onnx = np.array([list(f.probabilities.values()) for f in onnx_faces])
    p_torch = np.array([list(f.probabilities.values()) for f in torch_faces])
    assert np.abs(p_onnx - p_torch).max() < 1e-5
    assert [f.uncertain for f in onnx_faces] == [f.uncertain for f in torch_faces]
    # the graph's own `probabilities` output is calibrated too (for users of the file outside affectlab)
    session = onnx_session(report.path)
    x = normalise(crops, info.preprocess.mean, info.preprocess.std)
    logits, probs = session.run(["expression", "probabilities"], {INPUT_NAME: x})
    assert np.abs(probs - softmax(logits / info.calibration.temperature)).max() < 1e-5
    assert np.abs(probs - p_torch).max() < 1e-5


def test_model_info_validates_the_calibration() -> None:
    base = oc.info().to_dict()
    for bad, match in (
        ({"method": "platt", "temperature": 1.0}, "method"),
        ({"method": "temperature", "temperature": -2.0}, "finite"),
        ({"method": "temperature", "temperature": float("nan")}, "finite"),
        ({"method": "vector", "temperature": [1.0, 2.0]}, "2 per-class temperatures for 8"),
        ({"method": "temperature", "temperature": 1.0, "uncertain_below": 2}, "probability"),
        ("T=2", "JSON object"),
    ):
        with pytest.raises(AffectlabError, match=match):
            ModelInfo.from_dict({**base, "calibration": bad})
    ok = ModelInfo.from_dict({**base, "calibration": {"method": "vector", "temperature": [2.0] * 8}})
    assert ok.calibration is not None and ok.calibration.temperature == (2.0,) * 8
    assert ModelInfo.from_dict(ok.to_dict()).to_dict() == ok.to_dict()


def test_serve_returns_calibrated_probabilities_and_uncertain(calibrated: Path, crops: np.ndarray) -> None:
    from fastapi.testclient import TestClient

    from affectlab.serve.app import create_app

    def png(rgb: np.ndarray) -> bytes:
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "PNG")
        return buf.getvalue()

    tops = [max(f.probabilities.values()) for f in Predictor.load(calibrated).predict_faces(crops[:12])]
    median = float(np.median(tops))
    options = {"uncertain_below": median, "keep_logits": True}
    with TestClient(create_app(calibrated, predictor_options=options)) as client:
        model = client.get("/v1/model").json()
        assert model["calibration"]["method"] == "temperature" and model["uncertain_below"] == median
        seen = set()
        for crop in crops[:12]:
            body = client.post(
                "/v1/predict?detect=false", files={"file": ("f.png", png(crop), "image/png")}
            ).json()
            (face,) = body["faces"]
            z = np.array(list(face["logits"].values()))
            probs = np.array(list(face["probabilities"].values()))
            assert np.allclose(probs, softmax(z[None] / model["calibration"]["temperature"])[0], atol=1e-5)
            assert face["uncertain"] == (probs.max() < median)
            assert face["uncertain"] == (face["expression"] == "uncertain")
            seen.add(face["uncertain"])
        assert seen == {True, False}
