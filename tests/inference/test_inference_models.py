"""End to end with the real models: a random-init resnet18 at 64 px, saved, loaded, exported to ONNX."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from affectlab import models
from affectlab.inference import Predictor, export
from affectlab.labels import AFFECTNET_CLASSES
from affectlab.preprocessing import Preprocess


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    torch.manual_seed(0)
    model = models.build_model("resnet18", num_classes=8, pretrained=None).eval()
    info = models.ModelInfo(
        arch="resnet18", class_names=AFFECTNET_CLASSES, preprocess=Preprocess(size=64), metadata={}
    )
    run = tmp_path_factory.mktemp("run")
    models.save_weights(model, info, run / "model.safetensors")
    return run / "model.safetensors"


def test_from_checkpoint_file_and_run_folder(weights: Path, astronaut) -> None:
    by_file = Predictor.from_checkpoint(weights)
    by_folder = Predictor.from_checkpoint(weights.parent)
    assert by_file.class_names == AFFECTNET_CLASSES and by_file.preprocess.size == 64
    (a,) = by_file.predict_image(astronaut)
    (b,) = by_folder.predict_image(astronaut)
    assert a.probabilities == pytest.approx(b.probabilities, abs=1e-6)
    assert -1 <= a.valence <= 1 and sum(a.probabilities.values()) == pytest.approx(1.0)


def test_onnx_and_pytorch_agree(weights: Path, tmp_path: Path, astronaut, coffee) -> None:
    onnx_path = tmp_path / "model.onnx"
    export.export_onnx(weights, onnx_path)
    on_torch = Predictor.from_checkpoint(weights)
    on_onnx = Predictor.from_onnx(onnx_path)
    assert on_onnx.class_names == on_torch.class_names and on_onnx.preprocess == on_torch.preprocess
    crops = [astronaut[40:200, 160:290], astronaut, coffee, astronaut[::-1, ::-1]]
    for a, b in zip(on_torch.predict_faces(crops), on_onnx.predict_faces(crops), strict=True):
        diff = np.abs(np.subtract(list(a.probabilities.values()), list(b.probabilities.values())))
        assert diff.max() < 1e-4
        assert abs(a.valence - b.valence) < 1e-4 and abs(a.arousal - b.arousal) < 1e-4
    (face_t,) = on_torch.predict_image(astronaut)
    (face_o,) = on_onnx.predict_image(astronaut)
    assert face_t.box == face_o.box and face_t.expression == face_o.expression
