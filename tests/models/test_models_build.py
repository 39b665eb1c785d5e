"""Architectures, pretrained backbones and original-study checkpoints."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from affectlab.errors import AffectlabError
from affectlab.models import build_model, import_legacy_state_dict, list_models

ARCHS = ["resnet18", "mobilenet_v2", "efficientnet_b1"]


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("num_classes", [8, 7])
def test_each_arch_gives_three_named_outputs(arch: str, num_classes: int) -> None:
    model = build_model(arch, num_classes=num_classes).eval()
    with torch.no_grad():
        out = model(torch.randn(3, 3, 48, 48) * 5)
    assert set(out) == {"expression", "valence", "arousal"}
    assert out["expression"].shape == (3, num_classes)
    assert out["valence"].shape == (3,) and out["arousal"].shape == (3,)
    for key in ("valence", "arousal"):
        assert out[key].abs().max() <= 1.0


def test_registry_lists_and_rejects_unknown() -> None:
    assert set(ARCHS) <= set(list_models())
    with pytest.raises(AffectlabError, match="available: .*resnet18"):
        build_model("vgg11")


def test_pretrained_from_local_state_dict(tmp_path) -> None:
    torch.manual_seed(3)
    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18_backbone.pth"
    torch.save(reference.state_dict(), path)
    model = build_model("resnet18", pretrained=str(path))
    for key, value in reference.state_dict().items():
        if not key.startswith("fc."):
            assert torch.equal(model.backbone.state_dict()[key], value), key


def test_pretrained_wrong_arch_names_the_mismatch(tmp_path) -> None:
    path = tmp_path / "mnv2.pth"
    torch.save(torchvision.models.mobilenet_v2(weights=None).state_dict(), path)
    with pytest.raises(AffectlabError, match="do not fit the resnet18 backbone"):
        build_model("resnet18", pretrained=str(path))


def test_imagenet_offline_error_says_both_ways_out(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(AffectlabError) as err:
        build_model("resnet18", pretrained="imagenet")
    assert "go online once" in str(err.value) and "pretrained=PATH" in str(err.value)


class _LegacyHeads(nn.Module):
    """The original study's replacement classifier: fc1 valence, fc2 arousal, fc3 expression."""

    def __init__(self, features: int, num_classes: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(features, 1)
        self.fc2 = nn.Linear(features, 1)
        self.fc3 = nn.Linear(features, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.fc1(x), self.fc2(x), self.fc3(x)


@pytest.mark.parametrize(("arch", "slot"), [("resnet18", "fc"), ("mobilenet_v2", "classifier")])
def test_import_original_study_checkpoint(arch: str, slot: str) -> None:
    torch.manual_seed(0)
    legacy = getattr(torchvision.models, arch)(weights=None)
    if slot == "fc":
        legacy.fc = _LegacyHeads(512, 8)
    else:
        legacy.classifier = nn.Sequential(nn.Dropout(0.2), _LegacyHeads(1280, 8))
    legacy.eval()
    with torch.no_grad():
        for p in legacy.parameters():  # small weights keep VA inside tanh's near-linear range
            p.mul_(0.5)
    model = import_legacy_state_dict(arch, legacy.state_dict()).eval()
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        val, aro, expr = legacy(x)
        out = model(x)
    assert torch.allclose(out["expression"], expr, atol=1e-5)
    assert torch.allclose(out["valence"], torch.tanh(val.squeeze(1)), atol=1e-5)
    assert torch.allclose(out["arousal"], torch.tanh(aro.squeeze(1)), atol=1e-5)


def test_import_legacy_without_heads_is_refused() -> None:
    state = torchvision.models.resnet18(weights=None).state_dict()
    with pytest.raises(AffectlabError, match="fc1/fc2/fc3"):
        import_legacy_state_dict("resnet18", state)
