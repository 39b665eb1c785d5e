"""Grad-CAM saliency for the expression head and for valence and arousal (Selvaraju et al. 2017, ICCV).

For a target score y and the feature map A (K channels) of one backbone layer, the map is
ReLU(sum_k alpha_k A_k) with alpha_k the spatial mean of dy/dA_k, upsampled (bilinear) to the input size and
scaled to [0, 1] per face. Targets: ``expression`` = the logit of the explained class (the predicted one by
default); ``valence`` / ``arousal`` = sign(prediction) x prediction, the regions that push the value away from
0 in its own direction. The layer: the deepest feature map of the backbone with at least ``MIN_SIDE`` cells a
side at the model's input size (the last block at 224 px; a shallower stage for small inputs), or one named.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError
from affectlab.preprocessing.spec import Preprocess

#: Grad-CAM targets, in the order overlays show them.
TARGETS: tuple[str, ...] = ("expression", "valence", "arousal")
#: A feature map must be at least this many cells on a side to be explained by default.
MIN_SIDE = 6


def _candidates(model: Any) -> list[tuple[str, Any]]:
    """Backbone stages in forward order: its direct children, and the children of a `features` block."""
    out: list[tuple[str, Any]] = []
    for name, child in model.backbone.named_children():
        if name == "features":
            out += [(f"backbone.features.{n}", c) for n, c in child.named_children()]
        else:
            out.append((f"backbone.{name}", child))
    return out


def feature_maps(model: Any, size: int) -> list[tuple[str, tuple[int, ...]]]:
    """(layer name, output shape) of every 4-D backbone stage for one `size` px input, in forward order."""
    import torch

    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [
        module.register_forward_hook(lambda _m, _i, out, n=name: shapes.__setitem__(n, tuple(out.shape)))
        for name, module in _candidates(model)
    ]
    device = next(model.parameters()).device
    try:
        with torch.inference_mode():
            model(torch.zeros(1, 3, size, size, device=device))
    finally:
        for hook in hooks:
            hook.remove()
    return [(n, s) for n, s in shapes.items() if len(s) == 4]


def pick_layer(model: Any, size: int, layer: str = "auto") -> str:
    """The layer to explain: 'auto' (deepest with >= MIN_SIDE cells), 'last' (deepest > 1 cell) or a name."""
    maps = feature_maps(model, size)
    if layer not in ("auto", "last"):
        if layer not in dict(maps):
            names = ", ".join(n for n, _ in maps)
            raise AffectlabError(f"no feature map named {layer!r} in {model.arch}; choose one of {names}")
        return layer
    spatial = [(n, s) for n, s in maps if min(s[2:]) > 1]
    if not spatial:
        raise AffectlabError(f"{model.arch} at {size} px has no feature map larger than 1x1 to explain")
    if layer == "auto":
        wide = [n for n, s in spatial if min(s[2:]) >= MIN_SIDE]
        return wide[-1] if wide else spatial[0][0]
    return spatial[-1][0]


@dataclass
class Explanation:
    """Grad-CAM maps (N, S, S) in [0, 1] per target, and what was explained."""

    maps: dict[str, np.ndarray]
    classes: np.ndarray
    layer: str
    grid: tuple[int, int]


class GradCam:
    """Grad-CAM on one layer of an affectlab model, for uint8 face crops cut by the model's preprocessing."""

    def __init__(self, model: Any, preprocess: Preprocess, layer: str = "auto", device: str = "cpu") -> None:
        import torch

        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.preprocess = preprocess
        self.layer = pick_layer(self.model, preprocess.size, layer)
        self.module = dict(self.model.named_modules())[self.layer]

    def explain(self, crops: np.ndarray, classes: np.ndarray | None = None) -> Explanation:
        """Maps for every target; `classes` = the expression class explained per face (default: predicted)."""
        import torch
        import torch.nn.functional as F

        from affectlab.preprocessing.normalise import normalise_tensor

        pre = self.preprocess
        images = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device)
        x = normalise_tensor(images, pre.mean, pre.std)
        store: dict[str, Any] = {}
        hook = self.module.register_forward_hook(lambda _m, _i, out: store.__setitem__("a", out))
        try:
            with torch.enable_grad():
                out = self.model(x)
                act = store["a"]
                logits = out["expression"]
                cls = logits.argmax(1) if classes is None else torch.as_tensor(classes, device=self.device)
                scores = {
                    "expression": logits.gather(1, cls.view(-1, 1).long()).sum(),
                    "valence": (out["valence"].detach().sign() * out["valence"]).sum(),
                    "arousal": (out["arousal"].detach().sign() * out["arousal"]).sum(),
                }
                maps = {}
                for i, (target, score) in enumerate(scores.items()):
                    (grad,) = torch.autograd.grad(score, act, retain_graph=i < len(scores) - 1)
                    cam = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * act).sum(dim=1, keepdim=True))
                    cam = F.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)[:, 0]
                    peak = cam.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1)
                    maps[target] = (cam / peak).detach().cpu().numpy().astype(np.float32)
        finally:
            hook.remove()
        return Explanation(maps, cls.cpu().numpy(), self.layer, tuple(act.shape[2:]))  # type: ignore[arg-type]


def for_predictor(predictor: Any, layer: str = "auto") -> GradCam:
    """A GradCam on a Predictor's PyTorch model (ONNX models have no gradients here)."""
    model = getattr(predictor.backend, "model", None)
    if model is None or not hasattr(model, "backbone"):
        raise AffectlabError(
            "--explain needs the PyTorch model: give the run folder or model.safetensors, not an ONNX export"
        )
    return GradCam(model, predictor.preprocess, layer, str(getattr(predictor.backend, "device", "cpu")))


def overlay(crop: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """A uint8 RGB image: the face with the map drawn over it in the 'jet' colour map."""
    from matplotlib import colormaps

    heat = colormaps["jet"](np.clip(cam, 0.0, 1.0))[..., :3] * 255.0
    return np.clip((1 - alpha) * crop.astype(np.float64) + alpha * heat, 0, 255).astype(np.uint8)


def panel(
    crop: np.ndarray, maps: dict[str, np.ndarray], labels: dict[str, str], side: int = 160
) -> np.ndarray:
    """One face and its overlays side by side, each `side` px, labelled underneath; uint8 RGB."""
    from PIL import Image, ImageDraw

    tiles = [("face", crop), *((t, overlay(crop, maps[t])) for t in TARGETS if t in maps)]
    canvas = Image.new("RGB", (side * len(tiles), side + 18), "white")
    draw = ImageDraw.Draw(canvas)
    for k, (name, tile) in enumerate(tiles):
        canvas.paste(Image.fromarray(tile).resize((side, side), Image.Resampling.BILINEAR), (k * side, 0))
        draw.text((k * side + 4, side + 3), labels.get(name, name), fill="black")
    return np.asarray(canvas)


def save_panel(path: Path, image: np.ndarray) -> Path:
    """Write a panel as PNG (folders created)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path


class ExplanationWriter:
    """Writes one Grad-CAM panel per predicted face (face, expression, valence, arousal) under a folder."""

    def __init__(self, folder: Path, names: dict[str, Path], predictor: Any, layer: str = "auto") -> None:
        self.folder = folder
        self.names = names
        self.cam = for_predictor(predictor, layer)
        self.written: list[Path] = []

    def add(self, result: Any) -> None:
        """Explain every face of one image or video frame (a FrameResult kept with its crops)."""
        if not result.faces or result.crops is None:
            return
        crops = np.stack(result.crops)
        classes = np.array([int(np.argmax(list(f.probabilities.values()))) for f in result.faces])
        explained = self.cam.explain(crops, classes)
        stem = self.folder / self.names[result.source]
        video = result.time_s is not None
        for j, face in enumerate(result.faces):
            maps = {t: m[j] for t, m in explained.maps.items()}
            top = list(face.probabilities)[classes[j]]
            labels = {
                "expression": f"{top} {face.probabilities[top]:.2f}",
                "valence": f"valence {face.valence:+.2f}",
                "arousal": f"arousal {face.arousal:+.2f}",
            }
            suffix = f"_frame{result.frame:06d}_face{j}.png" if video else f"_face{j}.png"
            target = stem.with_name(stem.stem + suffix)
            self.written.append(save_panel(target, panel(crops[j], maps, labels)))


def explain_fn(model: Any, preprocess: Preprocess, device: str = "cpu") -> Any:
    """explain(images, classes) -> {target: maps} for a report, or None when the model cannot be explained."""
    if model is None or not hasattr(model, "backbone"):
        return None
    cam = GradCam(model, preprocess, device=device)
    return lambda images, classes: cam.explain(images, classes).maps
