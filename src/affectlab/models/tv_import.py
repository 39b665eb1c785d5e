"""Importing torchvision without loading TorchDynamo: half of `affectlab predict`'s start-up on a run folder.

`torchvision.ops.roi_align` does ``from torch._dynamo.utils import is_compile_supported`` at import time, and
that loads all of TorchDynamo (measured here: as long as ``import torch`` itself), although building a ResNet,
MobileNet or EfficientNet never compiles anything. While torchvision is imported, two stand-in modules answer
that one import with a function that loads the real one on its first call; then they are removed, so
``torch.compile`` and anything else that imports ``torch._dynamo`` later gets the real package. If the import
goes any other way (a torchvision that needs more from TorchDynamo), it is redone the ordinary way.
"""

from __future__ import annotations

import logging
import sys
import types
from typing import Any

log = logging.getLogger(__name__)

_STUBS = ("torch._dynamo", "torch._dynamo.utils")


def _is_compile_supported(device_type: Any) -> Any:
    """torch._dynamo.utils.is_compile_supported, imported on first use."""
    from torch._dynamo.utils import is_compile_supported

    return is_compile_supported(device_type)


def _drop_stubs(stubs: dict[str, types.ModuleType]) -> None:
    import torch

    for name, stub in stubs.items():
        if sys.modules.get(name) is stub:
            del sys.modules[name]
    if torch.__dict__.get("_dynamo") is stubs["torch._dynamo"]:
        del torch.__dict__["_dynamo"]  # torch's lazy __getattr__ then imports the real package


def import_torchvision() -> Any:
    """Return the torchvision module, imported without importing torch._dynamo when it is not loaded yet."""
    if "torchvision" in sys.modules or "torch._dynamo" in sys.modules:
        import torchvision

        return torchvision
    import torch  # noqa: F401  (the real torch first: only TorchDynamo is stood in for)

    package = types.ModuleType("torch._dynamo")
    package.__path__ = []  # a package, so that "torch._dynamo.utils" resolves to the stand-in below
    utils = types.ModuleType("torch._dynamo.utils")
    utils.is_compile_supported = _is_compile_supported  # type: ignore[attr-defined]
    stubs = {"torch._dynamo": package, "torch._dynamo.utils": utils}
    sys.modules.update(stubs)
    try:
        import torchvision
    except Exception as exc:  # any surprise: forget the partial import and do it the ordinary way
        log.debug("torchvision needs more of torch._dynamo (%s); importing it normally", exc)
        _drop_stubs(stubs)
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        import torchvision
    finally:
        _drop_stubs(stubs)
    return torchvision
