"""The HTTP API in-process: health, model info, predict on a real photo, OpenAPI, the offline web page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.labels import AFFECTNET_CLASSES
from helpers.doubles import FACE_KEYS


def _check_face(face: dict[str, Any], width: int, height: int) -> None:
    assert set(face) >= FACE_KEYS
    x, y, w, h = face["box"]
    assert 0 <= x < width and 0 <= y < height and w > 0 and h > 0
    assert list(face["probabilities"]) == list(AFFECTNET_CLASSES)
    assert abs(sum(face["probabilities"].values()) - 1.0) < 1e-4
    assert face["expression"] == max(face["probabilities"], key=face["probabilities"].get)
    assert -1.0 <= face["valence"] <= 1.0 and -1.0 <= face["arousal"] <= 1.0


def test_health(fake_client: Any) -> None:
    r = fake_client.get("/v1/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["running"] == 0 and body["waiting"] == 0
    assert body["limits"]["max_upload_bytes"] == 10 * 1024 * 1024


def test_model_info(fake_client: Any) -> None:
    r = fake_client.get("/v1/model")
    assert r.status_code == 200
    assert r.json()["architecture"] == "fake"


def test_predict_fake(fake_client: Any, astronaut_jpeg: bytes) -> None:
    r = fake_client.post("/v1/predict", files={"file": ("astronaut.jpg", astronaut_jpeg, "image/jpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["image"] == {"width": 512, "height": 512, "format": "JPEG"}
    assert body["model"]["architecture"] == "fake"
    assert set(body["timing_ms"]) == {"queue", "decode", "inference", "total"}
    assert len(body["faces"]) == 1
    assert body["faces"][0]["source"] == "astronaut.jpg"
    _check_face(body["faces"][0], 512, 512)


def test_predict_formats_and_modes(fake_client: Any, astronaut: np.ndarray, helpers: Any) -> None:
    """Whitelisted formats and awkward modes (grayscale, RGBA, 16-bit, CMYK) all decode to RGB."""
    from PIL import Image

    encode = helpers.encode
    gray = astronaut.mean(axis=2).astype(np.uint8)
    cases = {
        "a.png": encode(astronaut, "PNG"),
        "a.webp": encode(astronaut, "WEBP"),
        "a.bmp": encode(astronaut, "BMP"),
        "gray.png": encode(gray, "PNG"),
    }
    for mode, fmt in (("RGBA", "PNG"), ("CMYK", "JPEG"), ("I;16", "PNG"), ("P", "PNG")):
        img = Image.fromarray(astronaut)
        img = img.convert("L").convert("I;16") if mode == "I;16" else img.convert(mode)
        import io

        buf = io.BytesIO()
        img.save(buf, fmt)
        cases[f"{mode}.{fmt.lower()}"] = buf.getvalue()
    for name, data in cases.items():
        r = fake_client.post("/v1/predict", files={"file": (name, data, "application/octet-stream")})
        assert r.status_code == 200, (name, r.text)
        assert r.json()["image"]["width"] == 512


def test_exif_orientation_applied(fake_client: Any, astronaut: np.ndarray) -> None:
    """A JPEG tagged 'rotate 90' is answered in its displayed orientation."""
    import io

    from PIL import Image

    wide = np.ascontiguousarray(astronaut[:256])  # 512 wide, 256 high as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display
    buf = io.BytesIO()
    Image.fromarray(wide).save(buf, "JPEG", exif=exif)
    r = fake_client.post("/v1/predict", files={"file": ("rot.jpg", buf.getvalue(), "image/jpeg")})
    assert r.status_code == 200
    assert r.json()["image"]["width"] == 256 and r.json()["image"]["height"] == 512


def test_openapi_and_docs(fake_client: Any) -> None:
    spec = fake_client.get("/openapi.json").json()
    assert {"/v1/predict", "/v1/health", "/v1/model"} <= set(spec["paths"])
    assert "413" in spec["paths"]["/v1/predict"]["post"]["responses"]
    assert fake_client.get("/docs").status_code == 200


def test_page_is_offline(fake_client: Any) -> None:
    """The page and its assets load from this server only: no http(s) URLs in HTML, JS or CSS."""
    r = fake_client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "default-src 'self'" in r.headers["content-security-policy"]
    html = r.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/static/app.js" in assets and "/static/style.css" in assets
    for asset in ("/static/app.js", "/static/style.css"):
        a = fake_client.get(asset)
        assert a.status_code == 200 and len(a.text) > 500
        assert not re.search(r"https?://", a.text), asset
    assert not re.search(r"(?:src|href)=\"https?://", html)


def test_unknown_route_json_error(fake_client: Any) -> None:
    r = fake_client.get("/v1/nope")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = fake_client.get("/v1/predict")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"


def test_predict_real_model_finds_the_astronaut(
    real_app: Any, model_file: Path, astronaut_jpeg: bytes
) -> None:
    """A random-init resnet18 checkpoint + the default detector: >= 1 face with the documented schema."""
    from fastapi.testclient import TestClient

    from affectlab.io import file_sha256

    with TestClient(real_app) as client:
        info = client.get("/v1/model").json()
        assert info["architecture"] == "resnet18"
        assert info["classes"] == list(AFFECTNET_CLASSES)
        assert info["input_size"] == 64 and info["preprocess"]["size"] == 64
        assert info["sha256"] == file_sha256(model_file)
        r = client.post("/v1/predict", files={"file": ("astronaut.jpg", astronaut_jpeg, "image/jpeg")})
        assert r.status_code == 200, r.text
        body = r.json()
    assert len(body["faces"]) >= 1
    for face in body["faces"]:
        _check_face(face, 512, 512)
    x, y, w, h = body["faces"][0]["box"]
    assert 120 < x + w / 2 < 320 and 40 < y + h / 2 < 240  # Eileen Collins' face, upper middle


def test_predict_real_detector(standin_app: Any, astronaut_jpeg: bytes, helpers: Any) -> None:
    """A real Predictor with the default detector (stand-in network): the astronaut's face is found."""
    from fastapi.testclient import TestClient

    with TestClient(standin_app) as client:
        r = client.post("/v1/predict", files={"file": ("astronaut.jpg", astronaut_jpeg, "image/jpeg")})
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["faces"]) >= 1
        for face in body["faces"]:
            _check_face(face, 512, 512)
        x, y, w, h = body["faces"][0]["box"]
        assert 120 < x + w / 2 < 320 and 40 < y + h / 2 < 240
        blank = helpers.jpeg_bytes(np.full((200, 300, 3), 128, np.uint8))
        r = client.post("/v1/predict", files={"file": ("blank.jpg", blank, "image/jpeg")})
        assert r.status_code == 200 and r.json()["faces"] == []


def test_cli_registers_serve() -> None:
    from typer.testing import CliRunner

    from affectlab.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--max-upload-mb", "--max-pixels", "--max-concurrency", "--timeout"):
        assert option in result.output
    missing = CliRunner().invoke(app, ["serve", "/nonexistent/model.safetensors"])
    assert missing.exit_code != 0
