"""The preprocessing a model was trained with: it travels in every weights file and ONNX file.

A model's :class:`Preprocess` is written by ``train()`` from the data it was trained on (a store's manifest or
the raw layout's settings) and read back by predict, evaluate, export and serve. It is validated when it is
built, so a file that declares an impossible value (``size: 60000``, ``std: 0``) is refused at load time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from affectlab.errors import AffectlabError

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
#: Smallest and largest input side a model file may declare (pixels).
MIN_SIZE, MAX_SIZE = 8, 1024
#: Default crop margin (prepare, raw layouts).
DEFAULT_MARGIN = 0.1
#: Largest crop margin (a fraction of the face box's larger side, added on every side).
MAX_MARGIN = 1.0
#: Version of the pixel rules (decode, alpha, crop, resize); stores record it so old ones are re-prepared.
PIXEL_RULES_VERSION = 2


def _floats3(value: Any, name: str) -> tuple[float, float, float]:
    try:
        items = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise AffectlabError(f"preprocess {name} must be three numbers (R, G, B), got {value!r}") from None
    if len(items) != 3 or not all(math.isfinite(v) for v in items):
        raise AffectlabError(f"preprocess {name} must be three finite numbers (R, G, B), got {value!r}")
    return items  # type: ignore[return-value]


@dataclass(frozen=True)
class Preprocess:
    """Input side, crop margin, eye alignment and normalisation of a model (RGB in [0, 1] before mean/std)."""

    size: int = 112
    #: Per-channel (R, G, B) mean and std, stored as tuples of three floats.
    mean: Sequence[float] = field(default=IMAGENET_MEAN)
    std: Sequence[float] = field(default=IMAGENET_STD)
    #: Border added on every side of a face box, as a fraction of the box's larger side, before squaring.
    crop_margin: float = DEFAULT_MARGIN
    #: Rotate each face so its eyes are level before cropping (needs landmarks).
    align: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise AffectlabError(f"preprocess size must be an integer number of pixels, got {self.size!r}")
        if not MIN_SIZE <= self.size <= MAX_SIZE:
            raise AffectlabError(
                f"preprocess size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {self.size}"
            )
        object.__setattr__(self, "mean", _floats3(self.mean, "mean"))
        std = _floats3(self.std, "std")
        if not all(s > 0 for s in std):
            raise AffectlabError(f"preprocess std must be three numbers above 0, got {list(std)}")
        object.__setattr__(self, "std", std)
        margin = float(self.crop_margin)
        if not 0.0 <= margin <= MAX_MARGIN:
            raise AffectlabError(
                f"preprocess crop_margin must be in [0, {MAX_MARGIN:g}], got {self.crop_margin!r}"
            )
        object.__setattr__(self, "crop_margin", margin)
        if not isinstance(self.align, bool):
            raise AffectlabError(f"preprocess align must be true or false, got {self.align!r}")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        data = asdict(self)
        data["mean"], data["std"] = list(self.mean), list(self.std)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Preprocess:
        """Build from a dict written by :meth:`to_dict`; every field but ``align`` must be present."""
        if not isinstance(data, dict):
            raise AffectlabError(f"preprocess must be a mapping, got {type(data).__name__}")
        missing = [k for k in ("size", "mean", "std", "crop_margin") if k not in data]
        if missing:
            raise AffectlabError(f"preprocess lacks {', '.join(missing)} (found {', '.join(sorted(data))})")
        size = data["size"]
        if isinstance(size, float) and size.is_integer():
            size = int(size)
        try:
            margin = float(data["crop_margin"])
        except (TypeError, ValueError):
            raise AffectlabError(
                f"preprocess crop_margin must be a number, got {data['crop_margin']!r}"
            ) from None
        return cls(
            size=size,
            mean=data["mean"],
            std=data["std"],
            crop_margin=margin,
            # Files written before alignment was recorded were made from unaligned crops.
            align=data.get("align", False),
        )

    def same_pixels(self, other: Preprocess) -> bool:
        """True when both give a model the same uint8 crops (size, margin, alignment)."""
        return (self.size, self.crop_margin, self.align) == (other.size, other.crop_margin, other.align)
