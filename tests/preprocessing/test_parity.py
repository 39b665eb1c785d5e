"""Parity: the pixels a model sees are the same in prepare, raw-layout training, evaluate, predict and serve.

Tolerances: crops are compared exactly (0 grey levels), because every path calls the same decoder and the
same crop function on the same bytes; probabilities, valence and arousal to 1e-5, the float32 noise of
running the same network on the same inputs in different batch sizes.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from affectlab.data import open_split, open_store, prepare
from affectlab.data.readers import LabelPolicy, Problems, read_layout
from affectlab.data.synth import generate
from affectlab.inference import Predictor
from affectlab.inference.detect import Detection
from affectlab.labels import AFFECTNET_CLASSES
from affectlab.preprocessing import Preprocess, eyes_from_landmarks, normalise, normalise_tensor


class RecordingBackend:
    """Remembers every batch of uint8 crops it is given; answers with fixed outputs."""

    def __init__(self) -> None:
        self.crops: list[np.ndarray] = []

    def run(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self.crops.extend(np.array(c) for c in crops)
        n = len(crops)
        return np.zeros((n, 8), np.float32), np.zeros(n, np.float32), np.zeros(n, np.float32)


class KnownBoxDetector:
    """A detector that 'finds' the annotated face: the box, and 5 landmarks whose eyes are the 68's."""

    name = "known-box"

    def __init__(self, box: Any, landmarks68: np.ndarray | None) -> None:
        self.box, self.landmarks68 = box, landmarks68

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        marks = None
        if self.landmarks68 is not None:
            eyes = eyes_from_landmarks(self.landmarks68)
            assert eyes is not None
            marks = np.array([eyes[0], eyes[1], (0, 0), (0, 0), (0, 0)], dtype=np.float64)
        return [Detection(tuple(float(v) for v in self.box), 1.0, marks)]  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def official_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("official")
    return generate(out, train=8, val=16, size=64, layout="official", workers=1, progress=False)


@pytest.fixture(scope="module")
def repackaged_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("repackaged")
    return generate(out, train=8, val=24, size=64, layout="repackaged", workers=1, progress=False)


@pytest.mark.parametrize("align", [False, True])
def test_prepare_crop_equals_predict_crop(official_raw: Path, tmp_path: Path, align: bool) -> None:
    """Same file, same box (and eyes): the crop in the store is exactly the crop predict feeds the model."""
    store_path = prepare(
        official_raw, tmp_path / "store", 48, margin=0.25, align=align, workers=1, progress=False
    )
    store = open_store(store_path)
    split = store.split("val")
    _, records = read_layout(official_raw, LabelPolicy(), Problems())
    by_id = {r.source_id: r for r in records["val"]}
    pre = split.preprocess((0.5,) * 3, (0.5,) * 3)
    assert (pre.size, pre.crop_margin, pre.align) == (48, 0.25, align)
    stored = split.get_batch(np.arange(len(split)))["image"]
    for image, sid in zip(stored, split.ids(), strict=True):
        record = by_id[sid]
        backend = RecordingBackend()
        detector = KnownBoxDetector(record.box, record.landmarks if align else None)
        predictor = Predictor(backend, AFFECTNET_CLASSES, pre, detector=detector)  # type: ignore[arg-type]
        (face,) = predictor.predict_image(record.path)
        assert face.box == record.box
        assert np.array_equal(backend.crops[0], image), sid


def _weights(store_path: Path, out: Path) -> Path:
    from affectlab.models import ModelInfo, build_model, save_weights

    torch.manual_seed(0)
    model = build_model("resnet18", num_classes=8).eval()
    split = open_store(store_path).split("val")
    info = ModelInfo("resnet18", AFFECTNET_CLASSES, split.preprocess((0.5, 0.45, 0.4), (0.25, 0.25, 0.25)))
    return save_weights(model, info, out / "model.safetensors")


def _predict_cli(model: Path, images: Path, out: Path) -> dict[str, dict[str, Any]]:
    from typer.testing import CliRunner

    from affectlab.cli import app

    result = CliRunner().invoke(
        app, ["predict", str(model), str(images), "--no-detect", "--out", str(out), "-q"]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    return {Path(r["source"]).stem: r for r in rows}


def _close(a: np.ndarray, b: np.ndarray, tol: float) -> float:
    diff = float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())
    assert diff < tol, diff
    return diff


def test_evaluate_predict_and_serve_agree_per_image(repackaged_raw: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from affectlab.evaluation.evaluate import evaluate
    from affectlab.serve.app import create_app

    store = prepare(repackaged_raw, tmp_path / "store", 48, workers=1, progress=False)
    weights = _weights(store, tmp_path / "run")
    result = evaluate(weights, store, "val", out=tmp_path / "eval", n_boot=0, device="cpu", progress=False)
    raw_result = evaluate(weights, repackaged_raw, "val", out=tmp_path / "eval_raw", n_boot=0, progress=False)
    ids = open_store(store).split("val").ids()
    pred = result.predictions
    _close(pred.probs, raw_result.predictions.probs, 1e-5)  # a store and its raw layout: the same pixels
    images = repackaged_raw / "val_set" / "images"
    rows = _predict_cli(weights, images, tmp_path / "predict.jsonl")
    client = TestClient(create_app(weights))
    for i, sid in enumerate(ids):
        row = rows[sid]
        cli_probs = np.array([row[f"prob_{c}"] for c in AFFECTNET_CLASSES])
        _close(cli_probs, pred.probs[i], 1e-5)
        _close(np.array([row["valence"], row["arousal"]]), [pred.pred_valence[i], pred.pred_arousal[i]], 1e-5)
        data = (images / f"{sid}.jpg").read_bytes()
        resp = client.post("/v1/predict?detect=false", files={"file": (f"{sid}.jpg", data, "image/jpeg")})
        assert resp.status_code == 200, resp.text
        (face,) = resp.json()["faces"]
        served = np.array([face["probabilities"][c] for c in AFFECTNET_CLASSES])
        _close(served, pred.probs[i], 1e-5)
        _close(
            np.array([face["valence"], face["arousal"]]), [pred.pred_valence[i], pred.pred_arousal[i]], 1e-5
        )


def test_onnx_export_sees_the_same_pixels(repackaged_raw: Path, tmp_path: Path) -> None:
    """The ONNX file carries the preprocessing; evaluate on it matches PyTorch to the exporter's 1e-4."""
    from affectlab.evaluation.evaluate import evaluate
    from affectlab.inference.export import export_onnx
    from affectlab.models import load_onnx_info

    store = prepare(repackaged_raw, tmp_path / "store", 48, workers=1, progress=False)
    weights = _weights(store, tmp_path / "run")
    onnx_path = export_onnx(weights, tmp_path / "m.onnx").path
    assert load_onnx_info(onnx_path).preprocess == open_store(store).split("val").preprocess(
        (0.5, 0.45, 0.4), (0.25, 0.25, 0.25)
    )
    on_torch = evaluate(weights, store, "val", out=tmp_path / "a", n_boot=0, device="cpu", progress=False)
    on_onnx = evaluate(onnx_path, store, "val", out=tmp_path / "b", n_boot=0, device="cpu", progress=False)
    _close(on_torch.predictions.probs, on_onnx.predictions.probs, 1e-4)


def _odd_images() -> dict[str, bytes]:
    """One file per decode rule: alpha, grey, CMYK, 16-bit, EXIF orientation (and plain RGB)."""
    rng = np.random.default_rng(3)
    rgb = Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8), "RGB")
    rgba = np.dstack([np.asarray(rgb), rng.integers(0, 256, (40, 56), dtype=np.uint8)])
    exif = Image.Exif()
    exif[0x0112] = 6

    def encode(img: Image.Image, fmt: str, **kwargs: Any) -> bytes:
        buf = io.BytesIO()
        img.save(buf, fmt, **kwargs)
        return buf.getvalue()

    return {
        "plain.png": encode(rgb, "PNG"),
        "alpha.png": encode(Image.fromarray(rgba, "RGBA"), "PNG"),
        "grey.png": encode(rgb.convert("L"), "PNG"),
        "cmyk.jpg": encode(rgb.convert("CMYK"), "JPEG", quality=95),
        "sixteen.png": encode(Image.fromarray(rng.integers(0, 65536, (40, 56), dtype=np.uint16)), "PNG"),
        "exif.jpg": encode(rgb, "JPEG", quality=95, exif=exif.tobytes()),
    }


def test_every_decode_rule_gives_one_tensor_through_every_path(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from affectlab.serve.app import create_app

    root = tmp_path / "raw"
    (root / "images").mkdir(parents=True)
    cases = _odd_images()
    for name, data in cases.items():
        (root / "images" / name).write_bytes(data)
    lines = "".join(f"images/{name},happy,0.5,0.1\n" for name in cases)
    (root / "val.csv").write_text("path,expression,valence,arousal\n" + lines)
    store = open_store(prepare(root, tmp_path / "store", 32, workers=1, progress=False)).split("val")
    stored = dict(zip(store.ids(), store.get_batch(np.arange(len(store)))["image"], strict=True))
    raw = open_split(root, "val", size=32)
    from_raw = dict(zip(raw.ids(), raw.get_batch(np.arange(len(raw)))["image"], strict=True))  # type: ignore[attr-defined]
    pre = Preprocess(size=32)
    backend = RecordingBackend()
    predictor = Predictor(backend, AFFECTNET_CLASSES, pre, detector="none")  # type: ignore[arg-type]
    client = TestClient(create_app(None, predictor=predictor))
    assert len(stored) == len(cases)
    for name, data in cases.items():
        key = f"images/{name}"
        predictor.predict_image(root / "images" / name, detect=False)
        from_predict = backend.crops[-1]
        resp = client.post(
            "/v1/predict?detect=false", files={"file": (name, data, "application/octet-stream")}
        )
        assert resp.status_code == 200, resp.text
        from_serve = backend.crops[-1]
        for other in (from_raw[key], from_predict, from_serve):
            assert np.array_equal(stored[key], other), name
        x = normalise(stored[key][None], pre.mean, pre.std)
        assert np.array_equal(
            normalise_tensor(torch.from_numpy(stored[key][None]), pre.mean, pre.std).numpy(), x
        )
    assert stored["images/exif.jpg"].shape == (32, 32, 3)
