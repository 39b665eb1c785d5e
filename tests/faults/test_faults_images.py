"""Bad and awkward images through every entry point: readers (validate), prepare, predict and serve.

Each case has one documented outcome per place (fault_helpers.OUTCOMES, the table in docs/reliability.md).
The decoders themselves are unit-tested in tests/data/test_data_images.py and
tests/serve/test_serve_uploads.py; here the same files go through the user-facing paths.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fault_helpers import OUTCOMES, good_image, write_image_case

from affectlab.errors import AffectlabError

CASES = sorted(OUTCOMES)
REJECTED = [c for c in CASES if OUTCOMES[c].reject is not None]


def _class_folders(root: Path, case: str) -> Path:
    """train/happy: 3 good images + the case; val/sad: 2 good images."""
    for i in range(3):
        good_image(root / "train" / "happy" / f"good{i}.jpg", seed=i)
    for i in range(2):
        good_image(root / "val" / "sad" / f"val{i}.jpg", seed=10 + i)
    write_image_case(root / "train" / "happy", case)
    return root


def _counts(table: dict) -> dict[str, int]:
    return {reason: entry.count for reason, entry in table.items()}


@pytest.mark.parametrize("case", CASES)
def test_readers_report_reason(tmp_path: Path, case: str) -> None:
    from affectlab.data import validate_dataset

    expected = OUTCOMES[case]
    root = _class_folders(tmp_path / "ds", case)
    report = validate_dataset(root, workers=0)
    if expected.reject is not None:
        assert _counts(report.rejected) == {expected.reject: 1}
        assert f"{case}.jpg" in report.rejected[expected.reject].examples[0]
        assert report.total("train") == 3
        with pytest.raises(AffectlabError, match=rf"{case}\.jpg: .*\[{expected.reject}\]"):
            validate_dataset(root, strict=True, workers=0)
    else:
        assert report.total_rejected == 0
        assert set(_counts(report.notes)) == set(expected.notes)
        assert report.total("train") == 4
        validate_dataset(root, strict=True, workers=0)  # adjustments are not errors, even in strict mode


@pytest.mark.parametrize("case", CASES)
def test_prepare_counts_skip_or_converts(tmp_path: Path, case: str) -> None:
    from affectlab.data import open_store, prepare

    expected = OUTCOMES[case]
    root = _class_folders(tmp_path / "ds", case)
    out = prepare(root, tmp_path / "store", 32, workers=0, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    store = open_store(out)
    images = store.split("train").get_batch(np.arange(len(store.split("train"))))["image"]
    if expected.reject is not None:
        assert manifest["rejected"] == {expected.reject: 1}
        assert manifest["splits"]["train"]["count"] == 3
        with pytest.raises(AffectlabError, match=rf"{case}\.jpg: .*\[{expected.reject}\]"):
            prepare(root, tmp_path / "strict", 32, strict=True, workers=0, progress=False)
        assert not (tmp_path / "strict" / "manifest.json").exists()  # a failed prepare never looks complete
    else:
        assert manifest["rejected"] == {}
        assert manifest["splits"]["train"]["count"] == 4
        assert images.shape == (4, 32, 32, 3) and images.dtype == np.uint8


class _Backend:
    """Counts the faces it is given; constant outputs (the model is not what is tested here)."""

    def __init__(self) -> None:
        self.seen = 0

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self.seen += len(batch)
        n = len(batch)
        return np.zeros((n, 8), np.float32), np.zeros(n, np.float32), np.zeros(n, np.float32)


def _predictor():
    from affectlab.inference import Predictor
    from affectlab.labels import AFFECTNET_CLASSES
    from affectlab.preprocessing import Preprocess

    return Predictor(_Backend(), AFFECTNET_CLASSES, Preprocess(size=32), detector="none", batch_size=2)


@pytest.mark.parametrize("case", CASES)
def test_predict_reports_and_continues(tmp_path: Path, case: str) -> None:
    """The bad file is named in the summary; the files before and after it are still predicted."""
    from affectlab.inference.runner import run_predict

    expected = OUTCOMES[case]
    paths = [
        good_image(tmp_path / "a.jpg", 1),
        write_image_case(tmp_path, case),
        good_image(tmp_path / "z.jpg", 2),
    ]
    predictor = _predictor()
    summary = run_predict(predictor, paths, out=tmp_path / "rows.jsonl", detect=False)
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    sources = [Path(r["source"]).name for r in rows]
    if expected.predict is not None:
        assert len(summary.errors) == 1
        source, message = summary.errors[0]
        assert Path(source).name == f"{case}.jpg" and expected.predict in message
        assert sources == ["a.jpg", "z.jpg"] and summary.frames == 2
    else:
        assert summary.errors == [] and sources == ["a.jpg", f"{case}.jpg", "z.jpg"]
        shown = predictor.predict_image(tmp_path / f"{case}.jpg", detect=False)
        assert len(shown) == 1
        h, w = expected.shape
        assert shown[0].box == (0.0, 0.0, float(w), float(h))  # EXIF rotation applied before prediction


@pytest.mark.parametrize("case", CASES)
def test_serve_answers_4xx_or_predicts(case: str) -> None:
    """One end-to-end request per case; the full upload matrix is tests/serve/test_serve_uploads.py."""
    from fastapi.testclient import TestClient
    from fault_helpers import IMAGE_BYTES

    from affectlab.serve.app import create_app

    class Faces:
        def predict_image(self, image: np.ndarray) -> list[dict]:
            assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
            return []

    expected = OUTCOMES[case]
    app = create_app(None, predictor=Faces(), model_info={"architecture": "test"})
    with TestClient(app) as client:
        reply = client.post("/v1/predict", files={"file": (f"{case}.jpg", IMAGE_BYTES[case](), "image/jpeg")})
    status, code = expected.serve
    assert reply.status_code == status, reply.text
    if status == 200:
        h, w = expected.shape
        assert reply.json()["image"]["width"] == w and reply.json()["image"]["height"] == h
    else:
        assert reply.json()["error"] == code and reply.json()["detail"]
