"""Weights files: round trip, loading by content, refusal of pickles and mismatches, Lightning conversion."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from affectlab.errors import AffectlabError
from affectlab.io import file_sha256
from affectlab.labels import class_names
from affectlab.models import (
    ModelInfo,
    build_model,
    load_weights,
    read_info,
    save_weights,
    sniff_format,
    weights_from_lightning_ckpt,
)
from affectlab.preprocessing import Preprocess


def test_round_trip_same_outputs_and_info(saved_weights, tmp_path: Path) -> None:
    model, info, path = saved_weights("mobilenet_v2", 7)
    loaded, got = load_weights(path)
    assert got == info and got.class_names == class_names(7) and got.preprocess == Preprocess(size=48)
    assert got.metadata == {"run": "test", "acc": 0.5} and read_info(path) == info
    assert not loaded.training and sniff_format(path) == "safetensors"
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        a, b = model(x), loaded(x)
    for key in ("expression", "valence", "arousal"):
        assert torch.equal(a[key], b[key])
    header = json.loads(path.read_bytes()[8 : 8 + int.from_bytes(path.read_bytes()[:8], "little")])
    assert json.loads(header["__metadata__"]["affectlab"])["arch"] == "mobilenet_v2"
    assert len(file_sha256(path)) == 64
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp files left behind


def test_save_replaces_atomically_and_unwraps_compiled_models(tmp_path: Path) -> None:
    info = ModelInfo("resnet18", class_names(8))
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"old")
    model = build_model("resnet18")
    save_weights(torch.compile(model, backend="eager"), info, path)  # keys without `_orig_mod.`
    loaded, _ = load_weights(path)
    assert torch.equal(loaded.expression.weight, model.expression.weight)
    with pytest.raises(AffectlabError, match="model is 'resnet18' but info says 'mobilenet_v2'"):
        save_weights(model, ModelInfo("mobilenet_v2", class_names(8)), path)


class _Exploit:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize(
    ("name", "protocol"), [("evil.safetensors", 4), ("evil.safetensors", 0), ("evil.ckpt", 2)]
)
def test_crafted_pickle_is_refused_without_running(tmp_path: Path, name: str, protocol: int) -> None:
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(_Exploit(str(tmp_path / "control")), protocol=protocol))
    assert (tmp_path / "control").exists()  # the payload does work when unpickled
    path = tmp_path / name
    path.write_bytes(pickle.dumps({"state_dict": _Exploit(str(marker))}, protocol=protocol))
    with pytest.raises(
        AffectlabError, match="pickle/torch checkpoint.*only .safetensors.*weights_from_lightning"
    ):
        load_weights(path)
    with pytest.raises(AffectlabError, match="pickle"):
        read_info(path)
    assert not marker.exists()


def test_torch_zip_checkpoint_renamed_safetensors_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, path)
    assert sniff_format(path) == "zip"
    with pytest.raises(AffectlabError, match="zip file, whatever its name"):
        load_weights(path)


def test_foreign_truncated_or_garbage_files_are_refused(tmp_path: Path, saved_weights) -> None:
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(AffectlabError, match="without affectlab model info"):
        load_weights(foreign)
    _, _, path = saved_weights()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(AffectlabError, match="unreadable safetensors"):
        load_weights(truncated)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"hello world, not weights")
    with pytest.raises(AffectlabError, match="not a safetensors"):
        load_weights(garbage)


def test_architecture_mismatch_is_named(tmp_path: Path, saved_weights) -> None:
    _, _, path = saved_weights("resnet18")
    lying = tmp_path / "lying.safetensors"
    info = ModelInfo("mobilenet_v2", class_names(8), Preprocess(size=48))
    save_file(load_file(str(path)), str(lying), metadata={"affectlab": json.dumps(info.to_dict())})
    with pytest.raises(
        AffectlabError, match=r"declared architecture 'mobilenet_v2' \(they look like 'resnet18'\)"
    ):
        load_weights(lying)
    with pytest.raises(AffectlabError, match="architecture 'resnet18', expected 'mobilenet_v2'"):
        load_weights(path, expect_arch="mobilenet_v2")


def test_class_count_mismatch_is_named(tmp_path: Path, saved_weights) -> None:
    _, _, path = saved_weights("resnet18", 8)
    lying = tmp_path / "lying.safetensors"
    info = ModelInfo("resnet18", class_names(7), Preprocess(size=48))
    save_file(load_file(str(path)), str(lying), metadata={"affectlab": json.dumps(info.to_dict())})
    with pytest.raises(
        AffectlabError,
        match="class count mismatch: the weights have 8 expression outputs but the file lists 7",
    ):
        load_weights(lying)
    with pytest.raises(AffectlabError, match="classes .*, expected"):
        load_weights(path, expect_classes=class_names(7))


def _fake_lightning_ckpt(path: Path, model: torch.nn.Module, size: int | None) -> None:
    """A checkpoint shaped like train()'s: `model.`-prefixed state dict + hyper_parameters with preprocess."""
    hparams = {
        "config": {"model": {"arch": "resnet18"}, "data": {"size": 64, "mean": [0.5] * 3, "std": [0.5] * 3}},
        "class_names": list(class_names(8)),
    }
    if size is not None:
        hparams["preprocess"] = Preprocess(
            size=size, mean=(0.5,) * 3, std=(0.5,) * 3, crop_margin=0.2
        ).to_dict()
    ckpt = {
        "epoch": 3,
        "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}
        | {"class_weights": torch.ones(8)},
        "hyper_parameters": hparams,
    }
    torch.save(ckpt, path)


def test_weights_from_lightning_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(2)
    model = build_model("resnet18").eval()
    _fake_lightning_ckpt(tmp_path / "best.ckpt", model, size=64)
    out = weights_from_lightning_ckpt(tmp_path / "best.ckpt", tmp_path / "model.safetensors")
    loaded, info = load_weights(out)
    assert info.arch == "resnet18" and info.class_names == class_names(8)
    assert info.preprocess == Preprocess(size=64, mean=(0.5,) * 3, std=(0.5,) * 3, crop_margin=0.2)
    assert torch.equal(loaded.expression.weight, model.expression.weight)
    # Without a recorded preprocess the config's data section is not taken as one (no guessed margin).
    _fake_lightning_ckpt(tmp_path / "nosize.ckpt", model, size=None)
    with pytest.raises(AffectlabError, match="pass info=ModelInfo"):
        weights_from_lightning_ckpt(tmp_path / "nosize.ckpt", tmp_path / "x.safetensors")
    info = ModelInfo("resnet18", class_names(8), Preprocess(size=32))
    weights_from_lightning_ckpt(tmp_path / "nosize.ckpt", tmp_path / "x.safetensors", info=info)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    _fake_lightning_ckpt(run / "checkpoints" / "best.ckpt", model, size=None)
    save_weights(model, ModelInfo("resnet18", class_names(8), Preprocess(size=40)), run / "model.safetensors")
    converted = weights_from_lightning_ckpt(
        run / "checkpoints" / "best.ckpt", tmp_path / "from_run.safetensors"
    )
    assert read_info(converted).preprocess.size == 40  # size taken from the run's own weights file
    with pytest.raises(AffectlabError, match="prefix"):
        weights_from_lightning_ckpt(tmp_path / "nosize.ckpt", tmp_path / "y.safetensors", info, prefix="net.")
    assert not os.path.exists(tmp_path / "y.safetensors")
