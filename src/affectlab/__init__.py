"""affectlab: train, compare and run multi-task facial affect models."""

from __future__ import annotations

from affectlab.errors import AffectlabError
from affectlab.labels import AFFECTNET_CLASSES, class_names

__version__ = "0.1.0"

__all__ = ["AFFECTNET_CLASSES", "AffectlabError", "__version__", "class_names"]
