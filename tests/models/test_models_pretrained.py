"""Pretrained backbones: local state-dict files (.pth/.safetensors), the ImageNet cache, the offline error."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from affectlab.errors import AffectlabError
from affectlab.models import build_model, save_weights


def _seeded(arch: str, seed: int = 3) -> torch.nn.Module:
    torch.manual_seed(seed)
    return getattr(torchvision.models, arch)(weights=None)


def _assert_backbone_equal(model, reference, head: str) -> None:
    own = model.backbone.state_dict()
    compared = 0
    for key, value in reference.state_dict().items():
        if not key.startswith(f"{head}."):
            assert torch.equal(own[key], value), key
            compared += 1
    assert compared == len(own)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_pretrained_from_local_state_dict_file(tmp_path: Path, suffix: str) -> None:
    reference = _seeded("resnet18")
    path = tmp_path / f"resnet18_backbone{suffix}"
    if suffix == ".pth":
        torch.save(reference.state_dict(), path)
    else:
        save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    model = build_model("resnet18", num_classes=7, pretrained=path)
    _assert_backbone_equal(model, reference, "fc")
    assert model.expression.out_features == 7  # heads are new, not the ImageNet classifier


def test_pretrained_from_an_affectlab_weights_file(tmp_path: Path) -> None:
    from affectlab.labels import class_names
    from affectlab.models import ModelInfo

    torch.manual_seed(5)
    source = build_model("mobilenet_v2")
    path = save_weights(source, ModelInfo("mobilenet_v2", class_names(8)), tmp_path / "model.safetensors")
    model = build_model("mobilenet_v2", num_classes=7, pretrained=str(path))
    for key, value in source.backbone.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[key], value)


def test_pretrained_wrong_arch_names_the_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "mnv2.pth"
    torch.save(_seeded("mobilenet_v2").state_dict(), path)
    with pytest.raises(AffectlabError, match="do not fit the resnet18 backbone: .* missing keys"):
        build_model("resnet18", pretrained=str(path))


def test_pretrained_shape_mismatch_names_the_tensor(tmp_path: Path) -> None:
    state = _seeded("resnet18").state_dict()
    state["conv1.weight"] = torch.zeros(64, 1, 7, 7)  # a grayscale stem
    path = tmp_path / "gray.pth"
    torch.save(state, path)
    with pytest.raises(AffectlabError, match=r"conv1.weight has shape \(64, 1, 7, 7\).*\(64, 3, 7, 7\)"):
        build_model("resnet18", pretrained=path)


def test_pretrained_missing_file() -> None:
    with pytest.raises(AffectlabError, match="not found"):
        build_model("resnet18", pretrained="/nonexistent/weights.pth")


def _offline(url: str, *args, **kwargs) -> None:
    raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")


def test_imagenet_offline_and_not_cached_says_both_ways_out(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _offline)
    with pytest.raises(AffectlabError) as err:
        build_model("mobilenet_v2", pretrained="imagenet")
    message = str(err.value)
    assert "go online once" in message and "pretrained=PATH" in message
    assert "mobilenet_v2-" in message and str(tmp_path / "empty_torch_home") in message  # URL and cache dir


def test_imagenet_from_the_torch_cache_works_offline(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _offline)
    reference = _seeded("mobilenet_v2", seed=11)
    url = torchvision.models.MobileNet_V2_Weights.DEFAULT.url
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(reference.state_dict(), cache / url.rsplit("/", 1)[-1])
    model = build_model("mobilenet_v2", pretrained="imagenet")
    _assert_backbone_equal(model, reference, "classifier")


class _Exploit:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_crafted_pth_backbone_is_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "backbone.pth"
    torch.save({"conv1.weight": _Exploit(str(marker))}, path)
    with pytest.raises(AffectlabError, match="not a readable state dict"):
        build_model("resnet18", pretrained=path)
    assert not marker.exists()  # weights_only=True refused the global before calling it
