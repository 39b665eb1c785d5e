"""Bad uploads: each gets its documented 4xx with a JSON `{error, detail}`; the service keeps working."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest

from affectlab.serve.uploads import ALLOWED_FORMATS, UploadError, check_upload, decode_upload


def _post(client: Any, data: bytes, name: str = "upload.jpg", ctype: str = "image/jpeg") -> Any:
    return client.post("/v1/predict", files={"file": (name, data, ctype)})


def _expect(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["error"] == code, body
    assert isinstance(body["detail"], str) and len(body["detail"]) > 10
    return body


def _tiff(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "TIFF")
    return buf.getvalue()


def _gif(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "GIF")
    return buf.getvalue()


FITS = b"SIMPLE  =                    T / conforms to FITS standard".ljust(2880, b" ")


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("text", 415, "not_an_image"),
        ("text_named_jpg", 415, "not_an_image"),
        ("zero_bytes", 422, "empty_upload"),
        ("truncated_jpeg", 422, "truncated_image"),
        ("truncated_jpeg_header", 422, "truncated_image"),
        ("truncated_png", 422, "truncated_image"),
        ("corrupt_jpeg", 422, "corrupt_image"),
        ("png_bomb_30000", 413, "image_too_large"),
        ("png_over_limit_7000", 413, "image_too_large"),
        ("gif", 415, "unsupported_format"),
        ("tiff", 415, "unsupported_format"),
        ("fits", 415, "unsupported_format"),
        ("mp4", 415, "unsupported_format"),
    ],
)
def test_bad_upload(
    fake_client: Any,
    astronaut: np.ndarray,
    astronaut_jpeg: bytes,
    helpers: Any,
    case: str,
    status: int,
    code: str,
) -> None:
    png = helpers.encode(astronaut, "PNG")
    corrupt = bytearray(astronaut_jpeg)
    corrupt[600:4000] = bytes(3400)  # zeroed entropy-coded data and tables
    data = {
        "text": b"this is a plain text file, not an image\n" * 20,
        "text_named_jpg": b"name,value\n1,2\n",
        "zero_bytes": b"",
        "truncated_jpeg": astronaut_jpeg[: len(astronaut_jpeg) // 2],
        "truncated_jpeg_header": astronaut_jpeg[:200],
        "truncated_png": png[: len(png) // 3],
        "corrupt_jpeg": bytes(corrupt),
        "png_bomb_30000": helpers.png_declaring(30000, 30000),
        "png_over_limit_7000": helpers.png_declaring(7000, 7000),
        "gif": _gif(astronaut),
        "tiff": _tiff(astronaut),
        "fits": FITS,
        "mp4": b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(100),
    }[case]
    if case == "corrupt_jpeg":
        # Zeroed scan data may still decode (to garbage) on some libjpeg builds; only then 200 is acceptable.
        r = _post(fake_client, data)
        assert r.status_code in (200, 422), r.text
        if r.status_code == 422:
            assert r.json()["error"] in ("corrupt_image", "truncated_image")
    else:
        _expect(_post(fake_client, data), status, code)
    assert fake_client.get("/v1/health").json()["status"] == "ok"
    assert _post(fake_client, astronaut_jpeg).status_code == 200


def test_oversized_upload(astronaut_jpeg: bytes, helpers: Any) -> None:
    """A file over max_upload_bytes gets 413 from its Content-Length, before the body is read."""
    from fastapi.testclient import TestClient

    from affectlab.serve.app import create_app
    from affectlab.serve.limits import ServeLimits

    app = create_app(None, predictor=helpers.FakePredictor(), limits=ServeLimits(max_upload_bytes=100_000))
    big = astronaut_jpeg + bytes(200_000)
    with TestClient(app) as client:
        _expect(_post(client, big), 413, "upload_too_large")
        # Just over the file limit but within the multipart allowance: caught after reading.
        body = _expect(
            _post(client, astronaut_jpeg + bytes(100_000 - len(astronaut_jpeg) + 10)), 413, "upload_too_large"
        )
        assert "100000" in body["detail"]
        assert _post(client, astronaut_jpeg).status_code == 200


def test_oversized_streamed_upload_without_length(astronaut_jpeg: bytes, helpers: Any) -> None:
    """A chunked body with no Content-Length is cut off once it passes the limit."""
    from fastapi.testclient import TestClient

    from affectlab.serve.app import create_app
    from affectlab.serve.limits import ServeLimits

    app = create_app(None, predictor=helpers.FakePredictor(), limits=ServeLimits(max_upload_bytes=150_000))
    boundary = "xyzzy"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()

    def chunks() -> Any:
        yield head
        for _ in range(100):
            yield bytes(10_000)
        yield f"\r\n--{boundary}--\r\n".encode()

    with TestClient(app) as client:
        r = client.post(
            "/v1/predict",
            content=chunks(),
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
        _expect(r, 413, "upload_too_large")
        assert _post(client, astronaut_jpeg).status_code == 200


def test_missing_file_field(fake_client: Any, astronaut_jpeg: bytes) -> None:
    r = fake_client.post("/v1/predict", files={"image": ("a.jpg", astronaut_jpeg, "image/jpeg")})
    body = _expect(r, 422, "invalid_request")
    assert "file" in body["detail"]
    _expect(
        fake_client.post("/v1/predict", content=astronaut_jpeg, headers={"content-type": "image/jpeg"}),
        422,
        "invalid_request",
    )


def test_format_is_judged_by_content_not_name(fake_client: Any, astronaut: np.ndarray, helpers: Any) -> None:
    r = _post(fake_client, helpers.encode(astronaut, "PNG"), name="photo.gif", ctype="image/gif")
    assert r.status_code == 200 and r.json()["image"]["format"] == "PNG"


def test_prediction_error_is_4xx(astronaut_jpeg: bytes) -> None:
    """A predictor that refuses the image with AffectlabError gives 422, not 500."""
    from fastapi.testclient import TestClient

    from affectlab.errors import AffectlabError
    from affectlab.serve.app import create_app

    class Refusing:
        def predict_image(self, image: np.ndarray) -> list[Any]:
            raise AffectlabError("image is too small for the detector")

    with TestClient(create_app(None, predictor=Refusing())) as client:
        _expect(_post(client, astronaut_jpeg), 422, "prediction_failed")


def test_unexpected_error_is_logged_500(astronaut_jpeg: bytes) -> None:
    """The last resort: an unexpected exception becomes a JSON 500 and the service lives on."""
    from fastapi.testclient import TestClient

    from affectlab.serve.app import create_app

    class Broken:
        def predict_image(self, image: np.ndarray) -> list[Any]:
            raise RuntimeError("boom")

    with TestClient(create_app(None, predictor=Broken()), raise_server_exceptions=False) as client:
        _expect(_post(client, astronaut_jpeg), 500, "internal_error")
        assert client.get("/v1/health").status_code == 200


def test_decoder_whitelist_and_header_check_unit(helpers: Any) -> None:
    assert set(ALLOWED_FORMATS) == {"JPEG", "PNG", "WEBP", "BMP"}
    with pytest.raises(UploadError) as err:
        check_upload(helpers.png_declaring(30000, 30000), max_bytes=1 << 20, max_pixels=10**12)
    assert err.value.status == 413  # Pillow's own bomb guard also refuses it
    with pytest.raises(UploadError) as err:
        check_upload(helpers.png_declaring(2000, 2000), max_bytes=1 << 20, max_pixels=1_000_000)
    assert err.value.code == "image_too_large" and "2000x2000" in err.value.detail
    rgb = decode_upload(
        helpers.jpeg_bytes(np.zeros((10, 20, 3), np.uint8)), max_bytes=1 << 20, max_pixels=1000
    )
    assert rgb.shape == (10, 20, 3) and rgb.dtype == np.uint8
