"""Weights files: round trip, content sniffing, refusal of pickles and mismatches; ONNX export."""

from __future__ import annotations

import json
import pickle

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from affectlab.cli import app
from affectlab.errors import AffectlabError
from affectlab.inference.export import export_onnx, export_torchscript, load_onnx_info
from affectlab.labels import class_names
from affectlab.models import ModelInfo, build_model, load_weights, save_weights
from affectlab.preprocess import Preprocess


def _saved(tmp_path, arch="resnet18", num_classes=8, size=48):
    torch.manual_seed(1)
    model = build_model(arch, num_classes=num_classes).eval()
    info = ModelInfo(arch, class_names(num_classes), Preprocess(size=size), {"run": "test"})
    return model, info, save_weights(model, info, tmp_path / "model.safetensors")


def test_round_trip_same_outputs_and_info(tmp_path) -> None:
    model, info, path = _saved(tmp_path, "mobilenet_v2", 7)
    loaded, got = load_weights(path)
    assert got == info
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        a, b = model(x), loaded(x)
    for key in a:
        assert torch.equal(a[key], b[key])


class _Exploit:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("name", ["evil.safetensors", "evil.ckpt", "evil.pt"])
def test_crafted_pickle_is_refused_without_running(tmp_path, name) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / name
    path.write_bytes(pickle.dumps({"state_dict": _Exploit(str(marker))}))
    with pytest.raises(AffectlabError, match="pickle"):
        load_weights(path)
    assert not marker.exists()


def test_torch_zip_checkpoint_is_refused(tmp_path) -> None:
    path = tmp_path / "model.safetensors"
    torch.save({"state_dict": build_model("resnet18").state_dict()}, path)
    with pytest.raises(AffectlabError, match="pickle-based"):
        load_weights(path)


def test_mismatched_architecture_or_classes_named(tmp_path) -> None:
    _, _, path = _saved(tmp_path)
    with pytest.raises(AffectlabError, match="architecture 'resnet18', expected 'mobilenet_v2'"):
        load_weights(path, expect_arch="mobilenet_v2")
    with pytest.raises(AffectlabError, match="expected"):
        load_weights(path, expect_classes=class_names(7))
    # A header that lies about the class count is caught by the shape check.
    from safetensors.torch import load_file, save_file

    info = ModelInfo("resnet18", class_names(7), Preprocess(size=48))
    save_file(load_file(str(path)), str(tmp_path / "lying.safetensors"), metadata={"affectlab": json.dumps(info.to_dict())})
    with pytest.raises(AffectlabError, match="class count mismatch"):
        load_weights(tmp_path / "lying.safetensors")


def test_onnx_export_parity_and_metadata(tmp_path) -> None:
    model, info, path = _saved(tmp_path)
    report = export_onnx(path, tmp_path / "model.onnx")
    assert max(report.max_abs_diff.values()) < 1e-4
    got = load_onnx_info(tmp_path / "model.onnx")
    assert got.class_names == info.class_names and got.preprocess == info.preprocess
    import onnxruntime as ort

    sess = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["expression", "probabilities", "valence", "arousal"]
    probs = sess.run(["probabilities"], {"image": np.zeros((5, 3, 48, 48), np.float32)})[0]
    assert probs.shape == (5, 8) and np.allclose(probs.sum(1), 1, atol=1e-5)


def test_onnx_with_external_data_is_refused(tmp_path) -> None:
    _, _, path = _saved(tmp_path)
    export_onnx(path, tmp_path / "model.onnx", check=False)
    proto = onnx.load(str(tmp_path / "model.onnx"))
    onnx.save(proto, str(tmp_path / "ext.onnx"), save_as_external_data=True, location="weights.bin")
    # Point the external data outside the model's folder, as a crafted file would.
    crafted = onnx.load(str(tmp_path / "ext.onnx"), load_external_data=False)
    for tensor in crafted.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../outside.bin"
    (tmp_path / "ext.onnx").write_bytes(crafted.SerializeToString())
    with pytest.raises(AffectlabError, match="external data"):
        load_onnx_info(tmp_path / "ext.onnx")


def test_torchscript_export(tmp_path) -> None:
    _, _, path = _saved(tmp_path)
    report = export_torchscript(path, tmp_path / "model.pt")
    assert max(report.max_abs_diff.values()) < 1e-5


def test_export_cli_prints_parity(tmp_path) -> None:
    _, _, path = _saved(tmp_path)
    result = CliRunner().invoke(app, ["export", str(path), "--out", str(tmp_path / "m.onnx")])
    assert result.exit_code == 0, result.output
    assert "max |onnx - torch|" in result.output and (tmp_path / "m.onnx").is_file()
