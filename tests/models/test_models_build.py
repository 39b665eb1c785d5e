"""Architectures and the registry: three named outputs, bounded valence/arousal, channels_last, compile."""

from __future__ import annotations

import pytest
import torch

from affectlab.errors import AffectlabError
from affectlab.models import AffectModel, build_model, list_models, register_model, torchvision_backbone
from affectlab.models import registry as registry_module

ARCHS = ["resnet18", "mobilenet_v2", "efficientnet_b1"]


@pytest.mark.parametrize("arch", ARCHS)
def test_each_arch_gives_three_bounded_outputs(arch: str) -> None:
    for num_classes in (8, 7):
        model = build_model(arch, num_classes=num_classes).eval()
        assert isinstance(model, AffectModel) and model.arch == arch and model.num_classes == num_classes
        assert isinstance(model.backbone, torch.nn.Module)
        with torch.no_grad():
            model.valence.bias.fill_(50.0)  # drive the pre-activation far out of range
            model.arousal.bias.fill_(-50.0)
            out = model(torch.randn(3, 3, 32, 32) * 5)
        assert set(out) == {"expression", "valence", "arousal"}
        assert out["expression"].shape == (3, num_classes)
        assert out["valence"].shape == (3,) and out["arousal"].shape == (3,)
        assert out["valence"].max() <= 1.0 and out["arousal"].min() >= -1.0
        assert torch.isfinite(out["expression"]).all()


def test_heads_are_named_linear_layers_on_one_backbone() -> None:
    model = build_model("resnet18", dropout=0.3)
    names = {n.split(".")[0] for n, _ in model.named_parameters()}
    assert names == {"backbone", "expression", "valence", "arousal"}
    assert model.expression.in_features == model.valence.in_features == 512
    assert model.dropout.p == 0.3


def test_registry_lists_and_rejects_unknown() -> None:
    assert set(ARCHS) <= set(list_models())
    with pytest.raises(
        AffectlabError, match=r"unknown architecture 'vgg11'; available: .*mobilenet_v2.*resnet18"
    ):
        build_model("vgg11")
    with pytest.raises(AffectlabError, match="num_classes"):
        build_model("resnet18", num_classes=1)
    with pytest.raises(AffectlabError, match="dropout"):
        build_model("resnet18", dropout=1.5)


def test_adding_an_architecture_takes_a_few_lines() -> None:
    try:

        @register_model("shufflenet_v2_x0_5", imagenet_weights="ShuffleNet_V2_X0_5_Weights")
        def _shufflenet():
            return torchvision_backbone("shufflenet_v2_x0_5", "fc")

        model = build_model("shufflenet_v2_x0_5", num_classes=7).eval()
        with torch.no_grad():
            out = model(torch.randn(2, 3, 32, 32))
        assert out["expression"].shape == (2, 7) and "shufflenet_v2_x0_5" in list_models()
    finally:
        registry_module._REGISTRY.pop("shufflenet_v2_x0_5", None)


def test_channels_last_and_compile_give_the_same_outputs() -> None:
    torch.manual_seed(0)
    model = build_model("resnet18").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = model(x)
        cl = model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
        compiled = torch.compile(model, backend="eager", fullgraph=True)(x)  # fullgraph: no graph breaks
    for key in ref:
        assert torch.allclose(ref[key], cl[key], atol=1e-5)
        assert torch.allclose(ref[key], compiled[key], atol=1e-5)
