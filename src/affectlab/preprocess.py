"""The preprocessing a model was trained with; it travels with every checkpoint and ONNX file."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    """Input size, normalisation and face-crop margin of a model (RGB, values scaled to [0, 1] first)."""

    size: int = 112
    mean: tuple[float, float, float] = field(default=IMAGENET_MEAN)
    std: tuple[float, float, float] = field(default=IMAGENET_STD)
    #: Extra border around a detected/annotated face box, as a fraction of the box side, before squaring.
    crop_margin: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocess:
        """Build from a dict written by :meth:`to_dict`."""
        return cls(
            size=int(data["size"]),
            mean=tuple(float(v) for v in data["mean"]),  # type: ignore[arg-type]
            std=tuple(float(v) for v in data["std"]),  # type: ignore[arg-type]
            crop_margin=float(data.get("crop_margin", 0.1)),
        )
