"""ONNX and TorchScript export: parity with PyTorch, self-describing metadata, single-file, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from typer.testing import CliRunner

from affectlab.cli import app
from affectlab.errors import AffectlabError
from affectlab.inference.export import export_onnx, export_torchscript
from affectlab.io import file_sha256
from affectlab.models.onnx import OUTPUT_NAMES, external_data_locations, load_onnx_info


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    """A calibrated resnet18 at 48 px, saved and exported once (dynamic batch) for the module's tests."""
    import torch
    from torch import nn

    from affectlab.labels import class_names
    from affectlab.models import ModelInfo, build_model, save_weights
    from affectlab.preprocessing import Preprocess

    folder = tmp_path_factory.mktemp("export")
    torch.manual_seed(1)
    model = build_model("resnet18", num_classes=7)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 3, 48, 48))
    info = ModelInfo("resnet18", class_names(7), Preprocess(size=48, crop_margin=0.2), {"run": "r1"})
    weights = save_weights(model.eval(), info, folder / "model.safetensors")
    report = export_onnx(weights, folder / "model.onnx")
    return weights, info, report


def test_onnx_parity_on_random_and_real_inputs(exported) -> None:
    weights, _, report = exported
    assert set(report.parity) == {"random", "real"}
    for diffs in report.parity.values():
        assert set(diffs) == set(OUTPUT_NAMES)
        assert diffs["probabilities"] < 1e-4 and diffs["valence"] < 1e-4 and diffs["arousal"] < 1e-4
    assert report.passed and report.max_abs_diff < 1e-4
    assert report.params == 11_181_129 and report.file_bytes > 40e6  # resnet18 with 7 classes, float32
    assert report.source_sha256 == file_sha256(weights)
    assert "max |onnx - torch| on real inputs" in report.summary()


def test_onnx_is_one_self_describing_file(exported) -> None:
    weights, info, report = exported
    assert sorted(p.name for p in report.path.parent.iterdir()) == ["model.onnx", "model.safetensors"]
    proto = onnx.load(str(report.path), load_external_data=False)
    assert external_data_locations(proto) == []
    meta = json.loads({p.key: p.value for p in proto.metadata_props}["affectlab"])
    assert meta["arch"] == "resnet18" and meta["class_names"] == list(info.class_names)
    assert meta["preprocess"]["size"] == 48 and meta["preprocess"]["mean"] == list(info.preprocess.mean)
    assert meta["export"]["source_sha256"] == file_sha256(weights) and meta["export"]["opset"] == 17
    got = load_onnx_info(report.path)
    assert got.arch == info.arch and got.class_names == info.class_names and got.preprocess == info.preprocess
    assert got.metadata["run"] == "r1" and got.metadata["export"]["format"] == "onnx"


def test_onnx_runs_with_any_batch_and_named_io(exported) -> None:
    _, _, report = exported
    sess = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["image"]
    assert [o.name for o in sess.get_outputs()] == list(OUTPUT_NAMES)
    x = np.random.default_rng(0).standard_normal((5, 3, 48, 48)).astype(np.float32)
    logits, probs, val, aro = sess.run(None, {"image": x})
    assert logits.shape == probs.shape == (5, 7) and val.shape == aro.shape == (5,)
    assert np.allclose(probs.sum(1), 1, atol=1e-5) and np.abs(val).max() <= 1


def _with_external_data(report, tmp_path: Path, location: str) -> Path:
    proto = onnx.load(str(report.path))
    onnx.save(proto, str(tmp_path / "ext.onnx"), save_as_external_data=True, location="weights.bin")
    crafted = onnx.load(str(tmp_path / "ext.onnx"), load_external_data=False)
    for tensor in crafted.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    (tmp_path / "ext.onnx").write_bytes(crafted.SerializeToString())
    return tmp_path / "ext.onnx"


def test_onnx_with_external_data_is_refused(exported, tmp_path: Path) -> None:
    _, _, report = exported
    outside = _with_external_data(report, tmp_path, "../../etc/secret.bin")
    with pytest.raises(AffectlabError, match="outside its folder .*path traversal"):
        load_onnx_info(outside)
    inside = _with_external_data(report, tmp_path, "weights.bin")
    with pytest.raises(AffectlabError, match="external data in \\['weights.bin'\\].*single files"):
        load_onnx_info(inside)


def test_onnx_without_affectlab_metadata_is_refused(exported, tmp_path: Path) -> None:
    _, _, report = exported
    proto = onnx.load(str(report.path))
    del proto.metadata_props[:]
    onnx.save(proto, str(tmp_path / "bare.onnx"))
    with pytest.raises(AffectlabError, match="no affectlab metadata"):
        load_onnx_info(tmp_path / "bare.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00not a protobuf\xff" * 10)
    with pytest.raises(AffectlabError, match="not a readable ONNX"):
        load_onnx_info(tmp_path / "junk.onnx")


def test_torchscript_export(exported, tmp_path: Path) -> None:
    weights, _, _ = exported
    report = export_torchscript(weights, tmp_path / "model.pt")
    assert report.passed and report.max_abs_diff < 1e-5 and report.format == "torchscript"


def test_export_cli_prints_parity(exported, tmp_path: Path) -> None:
    weights, _, _ = exported
    result = CliRunner().invoke(
        app,
        ["export", str(weights.parent), "-o", str(tmp_path / "m.onnx"), "--static-batch", "--opset", "18"],
    )
    assert result.exit_code == 0, result.output
    assert "max |onnx - torch| on random inputs" in result.output and "parity ok" in result.output
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape == [1, 3, 48, 48]  # static batch
    assert load_onnx_info(tmp_path / "m.onnx").metadata["export"]["opset"] == 18
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(b"\x80\x04\x95" + b"\x00" * 20)
    result = CliRunner().invoke(app, ["export", str(evil)])
    assert isinstance(result.exception, AffectlabError) and "pickle" in str(result.exception)
