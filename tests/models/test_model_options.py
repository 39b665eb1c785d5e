"""Model options of the recipes: zero-init residual blocks, drop-path, BN momentum, dropout, head activation;
face-pretrained backbones from local files, their keys mapped (tested on constructed state dicts)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from affectlab.errors import AffectlabError
from affectlab.models import build_model
from affectlab.models.pretrained import map_backbone_keys


@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v2", "efficientnet_b1"])
def test_zero_init_makes_every_residual_block_the_identity(arch: str) -> None:
    torch.manual_seed(0)
    model = build_model(arch, zero_init_residual=True).eval()
    blocks = [m for m in model.modules() if getattr(m, "use_res_connect", False) or hasattr(m, "bn2")]
    assert blocks
    checked = 0
    for block in blocks:
        if hasattr(block, "bn2") and getattr(block, "downsample", None) is not None:
            continue  # a projection shortcut is not the identity
        channels = next(c for c in block.modules() if isinstance(c, nn.Conv2d)).in_channels
        x = torch.randn(2, channels, 6, 6)
        out = block(x)
        expected = torch.relu(x) if hasattr(block, "bn2") else x  # ResNet blocks end in a ReLU
        assert torch.allclose(out, expected, atol=1e-6), type(block).__name__
        checked += 1
    assert checked >= 3
    plain = build_model(arch).eval()
    assert any(
        m.weight.abs().sum() > 0
        for m in plain.modules()
        if isinstance(m, nn.BatchNorm2d) and m.weight is not None
    )


def test_zero_init_leaves_pretrained_blocks_alone(tmp_path: Path) -> None:
    source = build_model("resnet18")
    path = tmp_path / "backbone.pth"
    torch.save(source.backbone.state_dict(), path)
    model = build_model("resnet18", pretrained=path, zero_init_residual=True)
    assert torch.equal(model.backbone.layer1[0].bn2.weight, source.backbone.layer1[0].bn2.weight)


def test_stochastic_depth_ramps_to_the_maximum() -> None:
    from torchvision.ops import StochasticDepth

    model = build_model("efficientnet_b1", stochastic_depth=0.3)
    ps = [m.p for m in model.modules() if isinstance(m, StochasticDepth)]
    assert ps[0] == 0.0 and max(ps) == pytest.approx(0.3 * (len(ps) - 1) / len(ps))
    assert ps == sorted(ps)
    assert all(
        m.p == 0
        for m in build_model("efficientnet_b1", stochastic_depth=0.0).modules()
        if isinstance(m, StochasticDepth)
    )
    with pytest.raises(AffectlabError, match="no stochastic-depth"):
        build_model("resnet18", stochastic_depth=0.1)


def test_bn_momentum_and_dropout_and_heads() -> None:
    model = build_model("mobilenet_v2", bn_momentum=0.01, dropout="original", va_activation="linear")
    assert {m.momentum for m in model.modules() if isinstance(m, nn.BatchNorm2d)} == {0.01}
    assert model.dropout.p == pytest.approx(0.2)  # torchvision's classifier dropout
    assert build_model("resnet18", dropout="original").dropout.p == 0.0  # ResNets have none
    assert build_model("efficientnet_b1", dropout=0.35).dropout.p == pytest.approx(0.35)
    with pytest.raises(AffectlabError, match="dropout"):
        build_model("resnet18", dropout="some")


def _ms1m_style(source: nn.Module) -> dict:
    """An MS-Celeb-1M ResNet-18 checkpoint as face code saves it: DataParallel names, extra heads."""
    state = {
        f"module.{k}": v.clone() for k, v in source.state_dict().items() if "num_batches_tracked" not in k
    }
    state["module.fc.weight"] = torch.randn(12, 512)
    state["module.fc.bias"] = torch.randn(12)
    state["module.feature.weight"] = torch.randn(256, 512)
    state["module.feature.bias"] = torch.randn(256)
    return {"state_dict": state, "epoch": 30, "arch": "resnet18"}


def test_face_pretrained_resnet18_from_a_local_file(tmp_path: Path) -> None:
    torch.manual_seed(1)
    source = build_model("resnet18").backbone
    path = tmp_path / "Resnet18_MS1M_pytorch.pth.tar"
    torch.save(_ms1m_style(source), path)
    model = build_model("resnet18", pretrained=path)
    for key, value in source.state_dict().items():
        if "num_batches_tracked" not in key:
            assert torch.equal(model.backbone.state_dict()[key], value), key


def test_sequential_children_numbering_is_mapped() -> None:
    torch.manual_seed(2)
    tv = build_model("resnet18").backbone
    seq = nn.Sequential(*list(tv.children())[:-1])  # how many FER codebases wrap a ResNet
    target = build_model("resnet18").backbone
    mapped, notes = map_backbone_keys(seq.state_dict(), target, "fc")
    assert "children numbering" in notes[0]
    assert torch.equal(mapped["layer4.1.conv2.weight"], tv.layer4[1].conv2.weight)
    target.load_state_dict(mapped)


def test_a_deeper_network_or_wrong_shapes_are_refused(tmp_path: Path) -> None:
    import torchvision

    deeper = torchvision.models.resnet34().state_dict()
    path = tmp_path / "r34.pth"
    torch.save(deeper, path)
    with pytest.raises(AffectlabError, match="do not fit the resnet18 backbone"):
        build_model("resnet18", pretrained=path)  # its extra layer1.2.* keys are inside the backbone
    wide = build_model("resnet18").backbone.state_dict()
    wide["conv1.weight"] = torch.randn(64, 3, 5, 5)
    torch.save(wide, tmp_path / "wide.pth")
    with pytest.raises(AffectlabError, match="conv1.weight has shape"):
        build_model("resnet18", pretrained=tmp_path / "wide.pth")


def test_missing_batch_counters_are_filled() -> None:
    source = build_model("mobilenet_v2").backbone
    state = {k: v for k, v in source.state_dict().items() if "num_batches_tracked" not in k}
    mapped, notes = map_backbone_keys(state, build_model("mobilenet_v2").backbone, "classifier")
    assert any("num_batches_tracked" in n for n in notes) and set(mapped) == set(source.state_dict())
