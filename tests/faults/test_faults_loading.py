"""Loading a model never executes code, and a model of the wrong shape is refused with the mismatch named.

Every loader a user reaches is tried: predict (Predictor.load, by suffix), evaluate (load_for_eval),
export (export_onnx / export_torchscript) and serve (load_predictor). The weights-level unit tests are in
tests/models/test_models_weights.py; here the same hostile files go through the commands' loaders.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import onnx
import pytest
from fault_helpers import evil_pickle

from affectlab.errors import AffectlabError


def _predict(path: Path) -> object:
    from affectlab.inference import Predictor

    return Predictor.load(path, detector="none")


def _evaluate(path: Path) -> object:
    from affectlab.evaluation.runner import load_for_eval

    return load_for_eval(path)


def _export_onnx(path: Path) -> object:
    from affectlab.inference.export import export_onnx

    return export_onnx(path, path.parent / "exported.onnx", check=False)


def _export_torchscript(path: Path) -> object:
    from affectlab.inference.export import export_torchscript

    return export_torchscript(path, path.parent / "exported.pt", check=False)


def _serve(path: Path) -> object:
    from affectlab.serve.app import load_predictor

    return load_predictor(path)


LOADERS: dict[str, Callable[[Path], object]] = {
    "predict": _predict,
    "evaluate": _evaluate,
    "export_onnx": _export_onnx,
    "export_torchscript": _export_torchscript,
    "serve": _serve,
}
NAMES = ["model.safetensors", "last.ckpt", "model.pt", "model.onnx", "model.bin"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_crafted_pickle_is_refused_without_running(tmp_path: Path, loader: str, name: str) -> None:
    marker = tmp_path / "pwned"
    path = evil_pickle(tmp_path / "run" / name, marker)
    with pytest.raises(AffectlabError) as info:
        LOADERS[loader](path)
    assert str(path.name) in str(info.value)
    assert not marker.exists(), "unpickling ran code"
    assert (
        not (tmp_path / "run" / "exported.onnx").exists() and not (tmp_path / "run" / "exported.pt").exists()
    )


@pytest.mark.parametrize("loader", ["predict", "evaluate", "export_onnx", "serve"])
def test_pickle_in_a_run_folder_is_refused(tmp_path: Path, loader: str) -> None:
    """A run folder whose model.safetensors is a pickle (a tampered download): refused, nothing runs."""
    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    evil_pickle(run / "model.safetensors", marker)
    (run / "run.json").write_text("{}")
    target = run  # every loader takes a run folder
    with pytest.raises(AffectlabError, match="pickle"):
        LOADERS[loader](target)
    assert not marker.exists()


def _relabel(src: Path, dst: Path, **changes: object) -> Path:
    """Copy a weights file, changing fields of the ModelInfo in its header (as a crafted file would)."""
    from safetensors.torch import load_file, save_file

    from affectlab.models import read_info

    info = read_info(src).to_dict()
    info.update(changes)
    info["num_classes"] = len(info["class_names"])
    save_file(load_file(str(src)), str(dst), metadata={"affectlab": json.dumps(info)})
    return dst


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_other_architecture_is_refused_naming_it(tmp_path: Path, weights_file: Path, loader: str) -> None:
    """mobilenet_v2 tensors declared as resnet18: the message names both."""
    path = _relabel(weights_file, tmp_path / "model.safetensors", arch="resnet18")
    with pytest.raises(
        AffectlabError, match=r"declared architecture 'resnet18' \(they look like 'mobilenet_v2'\)"
    ):
        LOADERS[loader](path)


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_other_class_count_is_refused_naming_it(tmp_path: Path, weights_file: Path, loader: str) -> None:
    """8-class tensors declared with 7 class names."""
    from affectlab.labels import class_names

    path = _relabel(weights_file, tmp_path / "model.safetensors", class_names=list(class_names(7)))
    with pytest.raises(
        AffectlabError,
        match=r"class count mismatch: the weights have 8 expression outputs but the file lists 7",
    ):
        LOADERS[loader](path)


@pytest.fixture(scope="module")
def single_onnx(tmp_path_factory: pytest.TempPathFactory, weights_file: Path) -> Path:
    from affectlab.inference.export import export_onnx

    path = tmp_path_factory.mktemp("onnx") / "out" / "model.onnx"
    export_onnx(weights_file, path, check=False)
    return path


def _external_onnx(tmp_path: Path, single: Path, location: str) -> Path:
    """The exported ONNX re-saved with external data, then pointed at `location` (as a crafted file would)."""
    folder = tmp_path / "model"
    folder.mkdir()
    onnx.save(
        onnx.load(str(single)),
        str(folder / "model.onnx"),
        save_as_external_data=True,
        location="weights.bin",
        size_threshold=0,
    )
    crafted = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    for tensor in crafted.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    (folder / "model.onnx").write_bytes(crafted.SerializeToString())
    return folder / "model.onnx"


def test_exported_onnx_is_a_single_file(single_onnx: Path) -> None:
    from affectlab.models.onnx import external_data_locations

    assert sorted(p.name for p in single_onnx.parent.iterdir()) == ["model.onnx"]
    assert external_data_locations(onnx.load(str(single_onnx), load_external_data=False)) == []


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/passwd", "weights.bin"])
@pytest.mark.parametrize("loader", ["predict", "serve"])
def test_onnx_with_external_data_is_refused(
    tmp_path: Path, single_onnx: Path, loader: str, location: str
) -> None:
    """Predictor.from_onnx (predict) and serve refuse external data; outside the folder: path traversal."""
    (tmp_path / "outside.bin").write_bytes(b"\0" * 64)
    path = _external_onnx(tmp_path, single_onnx, location)
    pattern = "path traversal" if location != "weights.bin" else "external data in"
    with pytest.raises(AffectlabError, match=pattern):
        LOADERS[loader](path)


BAD_PREPROCESS = {
    "size_60000": ({"size": 60000}, "size must be between 8 and 1024"),
    "size_text": ({"size": "big"}, "size must be an integer"),
    "std_0": ({"std": [0.229, 0.0, 0.225]}, "std must be three numbers above 0"),
    "two_means": ({"mean": [0.5, 0.5]}, "mean must be three finite numbers"),
    "nan_mean": ({"mean": [0.5, float("nan"), 0.5]}, "mean must be three finite numbers"),
    "margin_2": ({"crop_margin": 2.0}, r"crop_margin must be in \[0, 1\]"),
    "no_margin": ({"crop_margin": None}, "crop_margin must be a number"),
}


@pytest.mark.parametrize("case", sorted(BAD_PREPROCESS))
@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_impossible_preprocessing_is_refused_at_load(
    tmp_path: Path, weights_file: Path, loader: str, case: str
) -> None:
    """A header declaring size 60000 or std 0 is refused when opened (not OOM-killed, not NaN later)."""
    from affectlab.models import read_info

    change, message = BAD_PREPROCESS[case]
    pre = {**read_info(weights_file).preprocess.to_dict(), **change}
    path = _relabel(weights_file, tmp_path / "model.safetensors", preprocess=pre)
    with pytest.raises(AffectlabError, match=message) as info:
        LOADERS[loader](path)
    assert "model.safetensors" in str(info.value)


def _onnx_with_metadata(src: Path, dst: Path, **changes: object) -> Path:
    proto = onnx.load(str(src))
    entry = next(p for p in proto.metadata_props if p.key == "affectlab")
    data = json.loads(entry.value)
    data.update(changes)
    entry.value = json.dumps(data)
    onnx.save(proto, str(dst))
    return dst


@pytest.mark.parametrize("loader", ["predict", "evaluate", "serve"])
def test_onnx_metadata_must_match_its_graph(tmp_path: Path, single_onnx: Path, loader: str) -> None:
    """7 class names for 8 expression outputs, or another input size: refused when opened."""
    from affectlab.labels import class_names

    seven = _onnx_with_metadata(
        single_onnx, tmp_path / "seven.onnx", class_names=list(class_names(7)), num_classes=7
    )
    with pytest.raises(AffectlabError, match="expression output has 8 scores but the metadata lists 7"):
        LOADERS[loader](seven)
    pre = json.loads(next(p.value for p in onnx.load(str(single_onnx)).metadata_props))["preprocess"]
    bigger = _onnx_with_metadata(
        single_onnx, tmp_path / "big.onnx", preprocess={**pre, "size": pre["size"] * 2}
    )
    with pytest.raises(AffectlabError, match="the graph's input is shaped"):
        LOADERS[loader](bigger)


def test_deeply_nested_header_is_a_clear_error(tmp_path: Path) -> None:
    """A safetensors header nested 100,000 levels deep: an error naming the file, not a RecursionError."""
    import struct

    header = b"{" + b'"a":[' * 100_000 + b"]" * 100_000 + b"}"
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    for loader in LOADERS.values():
        with pytest.raises(AffectlabError, match="model.safetensors"):
            loader(path)
