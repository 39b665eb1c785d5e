"""Grad-CAM (affectlab.inference.saliency): maps of the input's size, that move when the face moves."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from affectlab.errors import AffectlabError
from affectlab.inference.saliency import TARGETS, GradCam, overlay, panel, pick_layer
from affectlab.models import build_model
from affectlab.preprocessing import Preprocess
from helpers import overconfident as oc

SIZE = 64


def _face(astronaut: np.ndarray, side: int = 28) -> np.ndarray:
    """Eileen Collins' face from scikit-image's photo, `side` px."""
    from PIL import Image

    return np.asarray(Image.fromarray(astronaut[40:200, 160:300]).resize((side, side)))


def _centre(cam: np.ndarray) -> np.ndarray:
    ys, xs = np.mgrid[0 : cam.shape[0], 0 : cam.shape[1]]
    total = cam.sum()
    return np.array([(ys * cam).sum() / total, (xs * cam).sum() / total])


@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v2", "efficientnet_b1"])
def test_maps_have_the_input_size_for_every_target(arch: str) -> None:
    torch.manual_seed(0)
    cam = GradCam(build_model(arch).eval(), Preprocess(size=SIZE))
    crops = np.random.default_rng(0).integers(0, 255, size=(3, SIZE, SIZE, 3), dtype=np.uint8)
    out = cam.explain(crops)
    assert set(out.maps) == set(TARGETS) and out.classes.shape == (3,)
    for target, maps in out.maps.items():
        assert maps.shape == (3, SIZE, SIZE) and maps.dtype == np.float32, target
        assert np.all(maps >= 0) and np.all(maps <= 1 + 1e-6), target
    assert min(out.grid) >= 6  # the 'auto' layer is at least 6 cells a side
    assert out.layer.startswith("backbone.")


def _bright_detector() -> torch.nn.Module:
    """The tiny architecture with weights set by hand: one channel = ReLU(brightness), every head reads it.

    A model whose right answer is known: the evidence for its class, valence and arousal is exactly where
    the face's bright pixels are (a black background normalises below 0 and is cut by the ReLU).
    """
    model = build_model(oc.TINY_ARCH).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        first, second = model.backbone.features[0], model.backbone.features[3]
        first.weight[0] = 1.0 / 27.0
        second.weight[0, 0, 1, 1] = 1.0
        for bn in (model.backbone.features[1], model.backbone.features[4]):
            bn.weight.fill_(1.0)
            bn.reset_running_stats()
        model.expression.weight[1, 0] = 1.0
        model.valence.weight[0, 0] = 1.0
        model.arousal.weight[0, 0] = -1.0  # negative arousal: its target is -arousal
    return model


def test_maps_move_when_the_face_moves(astronaut: np.ndarray) -> None:
    with oc.tiny_arch():
        cam = GradCam(_bright_detector(), oc.info().preprocess)
        face = _face(astronaut, side=14)
        images = np.zeros((2, 32, 32, 3), np.uint8)
        images[0, 1:15, 17:31] = face  # top right
        images[1, 17:31, 1:15] = face  # bottom left: not a transposition of the first
        out = cam.explain(images)
    assert out.classes.tolist() == [1, 1]
    for target in TARGETS:
        a, b = (_centre(out.maps[target][k]) for k in (0, 1))
        assert np.all(np.abs(b - a - np.array([16, -16])) < 1.5), (target, a, b)  # moved 16 px down, left
        assert np.all(np.abs(a - np.array([7.5, 23.5])) < 2.5), (target, a)  # and the map sits on it
        row, col = np.unravel_index(out.maps[target][1].argmax(), (32, 32))
        assert row >= 15 and col <= 16, (target, row, col)


def test_layer_choice() -> None:
    model = build_model("resnet18").eval()
    assert pick_layer(model, 224) == "backbone.layer4"  # 7x7: the last block at full size
    assert pick_layer(model, 64) == "backbone.layer2"  # 8x8; layer3 is 4x4
    assert pick_layer(model, 64, "last") == "backbone.layer4"
    assert pick_layer(model, 64, "backbone.layer3") == "backbone.layer3"
    with pytest.raises(AffectlabError, match="no feature map named"):
        pick_layer(model, 64, "backbone.nope")
    assert pick_layer(build_model("mobilenet_v2").eval(), 224).startswith("backbone.features.")


def test_overlay_and_panel_images() -> None:
    crop = np.full((SIZE, SIZE, 3), 128, np.uint8)
    cam = np.zeros((SIZE, SIZE), np.float32)
    cam[:8, :8] = 1.0
    over = overlay(crop, cam)
    assert over.shape == crop.shape and over.dtype == np.uint8
    assert not np.array_equal(over[0, 0], over[-1, -1])  # the hot corner is coloured differently
    image = panel(crop, {t: cam for t in TARGETS}, {"expression": "happy 0.90"}, side=100)
    assert image.shape == (118, 400, 3)
