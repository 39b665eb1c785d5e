"""What a predict run checks and assembles before it starts: the device, writable outputs, the predictor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from affectlab.errors import AffectlabError
from affectlab.inference.detect import DEFAULT_DETECTOR, create_detector
from affectlab.inference.predictor import Predictor
from affectlab.inference.results import STDOUT


def check_device(device: str) -> None:
    """Refuse a device other than cpu, cuda or cuda:N."""
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise AffectlabError(f"--device must be cpu or cuda, got {device!r}")


def check_outputs(out: Path | None, summary: Path | None = None, annotate: Path | None = None) -> None:
    """Refuse, before any work, a results file, summary or annotation folder that cannot be written."""
    from affectlab.inference.results import RESULT_SUFFIXES
    from affectlab.io import ensure_writable

    if out is not None and str(out) != "-" and out.suffix.lower() not in RESULT_SUFFIXES:
        raise AffectlabError(
            f"--out {out}: unknown results format {out.suffix or '(no suffix)'!r}; expected a file ending in "
            f"{' or '.join(RESULT_SUFFIXES)}"
        )
    for target, what in ((out, "results file"), (summary, "summary")):
        if target is not None and str(target) != STDOUT:
            ensure_writable(target.parent, what)
    if annotate is not None:
        ensure_writable(annotate, "annotated images")


def make_predictor(
    model: str | Path,
    *,
    device: str = "cpu",
    threads: int | None = None,
    batch_size: int = 32,
    detector: str = DEFAULT_DETECTOR,
    detector_model: Path | None = None,
    threshold: float | None = None,
    max_side: int | None = None,
    calibrated: bool = True,
    uncertain_below: float | None = None,
    keep_logits: bool = False,
) -> Predictor:
    """Build the detector (options left None keep its defaults) and load the model with it.

    Crop size, margin and eye alignment come from the model file: they are how it was trained; so are its
    calibration and abstention threshold (``calibrated=False`` / ``uncertain_below`` override them).
    `threads` (default: the physical cores) is what the model *and* the detector use.
    """
    from affectlab.threads import resolve_threads, set_opencv_threads

    threads = resolve_threads(threads)
    options: dict[str, Any] = {"device": device, "threads": threads}
    for key, value in (
        ("model_path", detector_model),
        ("score_threshold", threshold),
        ("max_side", max_side),
        ("threads", threads),  # the detector's ONNX Runtime session too, not only the model's
    ):
        if value is not None:
            options[key] = value
    det = create_detector(detector, **options)
    set_opencv_threads(threads)
    return Predictor.load(
        model,
        device=device,
        threads=threads,
        detector=det,
        batch_size=batch_size,
        calibrated=calibrated,
        uncertain_below=uncertain_below,
        keep_logits=keep_logits,
    )
