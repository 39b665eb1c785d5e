"""Third-party JPEG decoders side by side (`affectlab bench` data section).

Not part of the library: affectlab decodes with affectlab.preprocessing (Pillow) only; this measures what the
others would give on the same bytes, one thread each.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def _decoders() -> dict[str, Callable[[bytes], np.ndarray]]:
    """The JPEG decoders installed here, each bytes -> RGB uint8 (H, W, 3)."""
    from PIL import Image

    out: dict[str, Callable[[bytes], np.ndarray]] = {
        "pil": lambda data: np.asarray(Image.open(io.BytesIO(data)).convert("RGB")),
    }
    try:
        import cv2

        def _cv2(data: bytes) -> np.ndarray:
            bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

        out["cv2"] = _cv2
    except ImportError:
        pass
    try:
        import simplejpeg

        out["simplejpeg"] = lambda data: simplejpeg.decode_jpeg(data, colorspace="RGB")
    except ImportError:
        pass
    try:
        from turbojpeg import TJPF_RGB, TurboJPEG

        tj = TurboJPEG()
        out["pyturbojpeg"] = lambda data: tj.decode(data, pixel_format=TJPF_RGB)
    except (ImportError, RuntimeError, OSError):  # the module or its shared library is missing
        pass
    return out


def bench_decoders(files: list[Path], seconds: float = 1.0) -> dict[str, Any]:
    """Decode the same JPEG bytes with every available decoder (one thread); images/s each and the fastest."""
    if not files:
        raise ValueError("no JPEG files to decode")
    blobs = [f.read_bytes() for f in files]
    try:
        import cv2

        threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
    except ImportError:
        threads = None
    rates: dict[str, float] = {}
    try:
        for name, decode in _decoders().items():
            decode(blobs[0])
            count, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds or count < len(blobs):
                decode(blobs[count % len(blobs)])
                count += 1
            rates[name] = count / (time.perf_counter() - started)
    finally:
        if threads is not None:
            cv2.setNumThreads(threads)
    fastest = max(rates, key=lambda k: rates[k])
    return {
        "images_per_s": rates,
        "fastest": fastest,
        "speedup_vs_pil": rates[fastest] / rates["pil"],
        "used_by_data_layer": "pil",
    }
