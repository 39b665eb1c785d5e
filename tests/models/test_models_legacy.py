"""Importing the original study's checkpoints (torchvision model + fc1/fc2/fc3 heads in its last layer)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from affectlab.errors import AffectlabError
from affectlab.labels import class_names
from affectlab.models import ModelInfo, import_legacy_state_dict, load_weights, save_weights


class LegacyHeads(nn.Module):
    """The original study's replacement last layer: fc1 valence, fc2 arousal, fc3 expression logits."""

    def __init__(self, features: int, num_classes: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(features, 1)
        self.fc2 = nn.Linear(features, 1)
        self.fc3 = nn.Linear(features, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.fc1(x), self.fc2(x), self.fc3(x)


def legacy_model(arch: str, num_classes: int = 8, dropout_first: bool = False) -> nn.Module:
    """A randomly initialised model shaped like the original study's (large valence weights)."""
    torch.manual_seed(0)
    net = getattr(torchvision.models, arch)(weights=None)
    slot = "fc" if arch.startswith("resnet") else "classifier"
    features = net.fc.in_features if slot == "fc" else net.classifier[-1].in_features
    heads = LegacyHeads(features, num_classes)
    with torch.no_grad():
        heads.fc1.weight.mul_(40.0)  # spread valence well beyond [-1, 1]
    setattr(net, slot, nn.Sequential(nn.Dropout(0.2), heads) if dropout_first else heads)
    return net.eval()


def _legacy_outputs(net: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        val, aro, expr = net(x)
    return val.squeeze(1), aro.squeeze(1), expr


@pytest.mark.parametrize(
    ("arch", "dropout_first", "prefix"),
    [
        ("resnet18", False, "module.fc.fc1."),  # fc slot, saved from DataParallel
        ("mobilenet_v2", True, "classifier.1.fc1."),  # classifier slot with a Dropout before the heads
    ],
)
def test_import_matches_the_original_outputs(
    arch: str, dropout_first: bool, prefix: str, caplog, calibrate
) -> None:
    net = calibrate(legacy_model(arch, dropout_first=dropout_first), size=32)
    x = torch.randn(6, 3, 32, 32)
    heads = net.fc if arch.startswith("resnet") else net.classifier[-1]
    with torch.no_grad():  # centre valence on this batch so that it has values inside and outside [-1, 1]
        heads.fc1.bias -= _legacy_outputs(net, x)[0].median()
    state = net.state_dict()
    if prefix.startswith("module."):
        state = {f"module.{k}": v for k, v in state.items()}
    assert any(k.startswith(prefix) for k in state)
    with caplog.at_level(logging.WARNING):
        model = import_legacy_state_dict(arch, state)
    assert "linear" in caplog.text and "[-1, 1]" in caplog.text
    val, aro, expr = _legacy_outputs(net, x)
    with torch.no_grad():
        out = model(x)
    assert torch.allclose(out["expression"], expr, atol=1e-5)
    assert (val.abs() > 1).any() and (val.abs() < 1).any()  # the check covers both regimes
    assert torch.allclose(out["valence"], val.clamp(-1, 1), atol=1e-5)  # exact inside, clipped outside
    assert torch.allclose(out["arousal"], aro.clamp(-1, 1), atol=1e-5)


def test_import_with_tanh_heads_gives_tanh_of_the_original(caplog) -> None:
    net = legacy_model("resnet18", num_classes=7)
    with caplog.at_level(logging.WARNING):
        model = import_legacy_state_dict("resnet18", net.state_dict(), num_classes=7, va_activation="tanh")
    assert "tanh(v)" in caplog.text
    x = torch.randn(2, 3, 32, 32)
    val, aro, _ = _legacy_outputs(net, x)
    with torch.no_grad():
        out = model(x)
    assert torch.allclose(out["valence"], torch.tanh(val), atol=1e-5)
    assert torch.allclose(out["arousal"], torch.tanh(aro), atol=1e-5)


def test_imported_model_saves_and_reloads_with_its_bounding(tmp_path: Path) -> None:
    net = legacy_model("resnet18")
    path = tmp_path / "legacy.pth"
    torch.save(net.state_dict(), path)  # a file in the study's format, read with weights_only=True
    model = import_legacy_state_dict("resnet18", path)
    info = ModelInfo("resnet18", class_names(8), metadata={"source": "original study"})
    save_weights(model, info, tmp_path / "model.safetensors")
    loaded, got = load_weights(tmp_path / "model.safetensors")
    assert got.va_activation == "clamp" and loaded.va_activation == "clamp"
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x)["valence"], loaded(x)["valence"])


def test_import_refuses_incomplete_or_mismatched_checkpoints() -> None:
    plain = torchvision.models.resnet18(weights=None).state_dict()
    with pytest.raises(AffectlabError, match="fc1.*fc2.*fc3"):
        import_legacy_state_dict("resnet18", plain)
    state = legacy_model("resnet18").state_dict()
    with pytest.raises(AffectlabError, match="8 expression classes .*pass num_classes=8"):
        import_legacy_state_dict("resnet18", state, num_classes=7)
    missing_bias = {k: v for k, v in state.items() if k != "fc.fc2.bias"}
    with pytest.raises(AffectlabError, match="arousal.bias"):
        import_legacy_state_dict("resnet18", missing_bias)
    with pytest.raises(AffectlabError, match="does not fit the mobilenet_v2 backbone"):
        import_legacy_state_dict(
            "mobilenet_v2", {k.replace("fc.", "classifier."): v for k, v in state.items()}
        )
