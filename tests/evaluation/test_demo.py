"""The demo: each architecture at its own input size from one raw folder; B1's starting weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import affectlab.demo as demo
from affectlab.demo import DemoSettings, run_demo


def test_each_architecture_at_its_own_size_from_one_raw_folder(tmp_path: Path) -> None:
    settings = DemoSettings(
        train=96, val=32, render_size=48, epochs=1, archs=("resnet18", "mobilenet_v2"), pretrained="none"
    )
    result = run_demo(tmp_path / "demo", settings)
    assert sorted(result.stores) == [48, 64]  # configs/demo.yaml: resnet18 48 px, mobilenet_v2 64 px
    ids = {size: (p / "val" / "ids.txt").read_text() for size, p in result.stores.items()}
    assert ids[48] == ids[64]  # the same samples in the same order: a paired comparison
    record = json.loads(result.comparison.read_text())
    sizes = {m["name"]: m["input_size"] for m in record["models"]}
    assert sizes == {"resnet18": 48, "mobilenet_v2": 64}
    assert all(m["initial_weights"].startswith("from scratch") for m in record["models"])
    assert {"synth", "prepare 48 px", "prepare 64 px", "train resnet18", "train mobilenet_v2"} <= set(
        result.stages
    )


def test_efficientnet_b1_starts_from_imagenet_when_it_can(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "imagenet_available", lambda arch: True)
    assert demo._b1_overrides(DemoSettings()) == ["per_arch.efficientnet_b1.model.pretrained=imagenet"]
    monkeypatch.setattr(demo, "imagenet_available", lambda arch: False)
    assert demo._b1_overrides(DemoSettings()) == []
    local = DemoSettings(pretrained="/w/efficientnet_b1.pth")
    assert demo._b1_overrides(local) == ["per_arch.efficientnet_b1.model.pretrained=/w/efficientnet_b1.pth"]
    assert demo._b1_overrides(DemoSettings(archs=("resnet18",))) == []
