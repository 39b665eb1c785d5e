"""Fixtures for the `affectlab serve` tests: real photo bytes, crafted bad files, fake and real predictors."""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from affectlab.labels import AFFECTNET_CLASSES
from helpers.doubles import FACE_KEYS, TinyNet


def jpeg_bytes(rgb: np.ndarray, quality: int = 90) -> bytes:
    """Encode an RGB array as JPEG."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def encode(rgb: np.ndarray, fmt: str, **kwargs: Any) -> bytes:
    """Encode an RGB array with Pillow in `fmt`."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt, **kwargs)
    return buf.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A small PNG whose header declares width x height pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 4096))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's astronaut photo (Eileen Collins), RGB uint8 512x512."""
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def astronaut_jpeg(astronaut: np.ndarray) -> bytes:
    """The astronaut photo as JPEG bytes."""
    return jpeg_bytes(astronaut)


class FakePredictor:
    """Answers one centred face per image; optionally slow, counting concurrent calls."""

    def __init__(self, delay_s: float = 0.0, gate: threading.Event | None = None) -> None:
        self.delay_s = delay_s
        self.gate = gate
        self.calls = 0
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def predict_image(self, image: np.ndarray) -> list[Any]:
        from affectlab.inference.results import FaceResult

        with self._lock:
            self.calls += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.gate is not None:
                self.gate.wait(10.0)
            if self.delay_s:
                time.sleep(self.delay_s)
            h, w = image.shape[:2]
            probs = np.linspace(1.0, 2.0, len(AFFECTNET_CLASSES))
            probs = probs / probs.sum()
            return [
                FaceResult(
                    source="<array>",
                    frame=0,
                    time_s=None,
                    face=0,
                    box=(w / 4, h / 4, w / 2, h / 2),
                    score=0.99,
                    expression=AFFECTNET_CLASSES[int(np.argmax(probs))],
                    probabilities={n: float(p) for n, p in zip(AFFECTNET_CLASSES, probs, strict=True)},
                    valence=0.25,
                    arousal=-0.5,
                )
            ]
        finally:
            with self._lock:
                self.active -= 1


FAKE_INFO = {
    "architecture": "fake",
    "classes": list(AFFECTNET_CLASSES),
    "input_size": 64,
    "preprocess": None,
    "detector": "none",
    "format": "test",
    "sha256": "0" * 64,
}


@pytest.fixture
def fake_predictor() -> FakePredictor:
    """A fast fake predictor."""
    return FakePredictor()


@pytest.fixture
def fake_client(fake_predictor: FakePredictor) -> Any:
    """A TestClient on an app that serves the fake predictor with default limits."""
    from fastapi.testclient import TestClient

    from affectlab.serve.app import create_app

    app = create_app(None, predictor=fake_predictor, model_info=dict(FAKE_INFO))
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="session")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init resnet18 at 64 px saved with save_weights."""
    import torch

    from affectlab.models import ModelInfo, build_model, save_weights
    from affectlab.preprocessing import Preprocess

    torch.manual_seed(0)
    model = build_model("resnet18", num_classes=8)
    info = ModelInfo(
        arch="resnet18", class_names=AFFECTNET_CLASSES, preprocess=Preprocess(size=64), metadata={}
    )
    path = tmp_path_factory.mktemp("serve-model") / "model.safetensors"
    save_weights(model, info, path)
    return path


@pytest.fixture(scope="session")
def real_app(model_file: Path) -> Any:
    """The service on the real (random-init) model and the default detector."""
    from affectlab.serve.app import create_app

    return create_app(model_file)


@pytest.fixture(scope="session")
def helpers() -> Any:
    """Helper functions and classes for the serve tests (importlib mode cannot import conftest)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        FACE_KEYS=FACE_KEYS,
        FAKE_INFO=FAKE_INFO,
        FakePredictor=FakePredictor,
        encode=encode,
        jpeg_bytes=jpeg_bytes,
        png_declaring=png_declaring,
    )


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def serve_live() -> Any:
    """Start an app with uvicorn on a free loopback port in a thread; yields `start(app) -> base_url`."""
    import contextlib

    import uvicorn

    servers: list[tuple[Any, threading.Thread]] = []

    def start(app: Any) -> str:
        port = _free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_keep_alive=5)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
        thread.start()
        deadline = time.time() + 20
        while not server.started:
            if time.time() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        with contextlib.suppress(Exception):
            thread.join(timeout=10)


@pytest.fixture(scope="session")
def standin_app() -> Any:
    """The service on a real Predictor (default RetinaFace detector) with a tiny stand-in network."""
    from affectlab.inference import Predictor
    from affectlab.inference.backends import TorchBackend
    from affectlab.preprocessing import Preprocess
    from affectlab.serve.app import create_app

    pre = Preprocess(size=64)
    predictor = Predictor(TorchBackend(TinyNet(seed=0), pre), AFFECTNET_CLASSES, pre)
    info = {
        "architecture": "standin",
        "classes": list(AFFECTNET_CLASSES),
        "input_size": 64,
        "preprocess": Preprocess(size=64).to_dict(),
        "detector": predictor.detector.name,
    }
    return create_app(None, predictor=predictor, model_info=info)


@pytest.fixture
def served_app(request: pytest.FixtureRequest) -> Any:
    """$AFFECTLAB_SERVE_MODEL, else a random-init resnet18 saved by affectlab (never a stand-in)."""
    import os

    from affectlab.serve.app import create_app

    if os.environ.get("AFFECTLAB_SERVE_MODEL"):
        return create_app(os.environ["AFFECTLAB_SERVE_MODEL"])
    return request.getfixturevalue("real_app")
