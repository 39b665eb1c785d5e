"""Per-face results, per-frame groups, the run summary, and the JSON Lines / CSV writers."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np

from affectlab.errors import AffectlabError
from affectlab.inference.smoothing import Smoothed, smooth_columns, smooth_row

#: Output columns before the per-class probabilities (`prob_<class>`, in the model's class order).
LEADING_COLUMNS: tuple[str, ...] = (
    "source",
    "frame",
    "time_s",
    "face",
    "track",
    "box_x",
    "box_y",
    "box_w",
    "box_h",
    "score",
    "expression",
)
#: Results file formats, by suffix.
RESULT_SUFFIXES: tuple[str, ...] = (".jsonl", ".csv")
#: The results "file" that means JSON Lines on standard output.
STDOUT = "-"
#: Output columns after the probabilities.
TRAILING_COLUMNS: tuple[str, ...] = ("valence", "arousal", "uncertain")
#: The `expression` of a face whose top probability is below the abstention threshold.
UNCERTAIN = "uncertain"


def result_columns(class_names: Sequence[str], logits: bool = False, smoothed: bool = False) -> list[str]:
    """Return the documented output columns for a model's class names (`logit_<class>` when kept, then
    the smoothed ones)."""
    extra = [f"logit_{name}" for name in class_names] if logits else []
    columns = [*LEADING_COLUMNS, *(f"prob_{name}" for name in class_names), *TRAILING_COLUMNS, *extra]
    return columns + (smooth_columns(class_names) if smoothed else [])


@dataclass(frozen=True)
class FaceResult:
    """What the model says about one face in one image or video frame."""

    source: str
    frame: int
    time_s: float | None
    face: int
    box: tuple[float, float, float, float]
    score: float
    expression: str
    probabilities: dict[str, float]
    valence: float
    arousal: float
    #: True when the top probability is below the abstention threshold (`expression` is then "uncertain").
    uncertain: bool = False
    #: Raw, uncalibrated expression logits {class: z}, when the predictor keeps them.
    logits: dict[str, float] | None = None

    #: Track id (1, 2, ...) of the face within its video or camera stream; None for still images.
    track: int | None = None
    #: The per-track smoothed values (predict --smooth), beside the raw ones above.
    smoothed: Smoothed | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (box as [x, y, w, h], probabilities as {class: p})."""
        extra = {"logits": dict(self.logits)} if self.logits is not None else {}
        out = {
            "source": self.source,
            "frame": self.frame,
            "time_s": self.time_s,
            "face": self.face,
            "track": self.track,
            "box": [round(float(v), 2) for v in self.box],
            "score": self.score,
            "expression": self.expression,
            "probabilities": dict(self.probabilities),
            "valence": self.valence,
            "arousal": self.arousal,
            "uncertain": self.uncertain,
            **extra,
        }
        if self.smoothed is not None:
            out["smoothed"] = asdict(self.smoothed)
        return out

    def to_row(self) -> dict[str, Any]:
        """Return the flat output row (the documented columns)."""
        x, y, w, h = (round(float(v), 2) for v in self.box)
        row: dict[str, Any] = {
            "source": self.source,
            "frame": self.frame,
            "time_s": None if self.time_s is None else round(self.time_s, 4),
            "face": self.face,
            "track": self.track,
            "box_x": x,
            "box_y": y,
            "box_w": w,
            "box_h": h,
            "score": round(self.score, 5),
            "expression": self.expression,
        }
        row.update({f"prob_{name}": round(p, 6) for name, p in self.probabilities.items()})
        row["valence"] = round(self.valence, 6)
        row["arousal"] = round(self.arousal, 6)
        row["uncertain"] = self.uncertain
        if self.logits is not None:
            row.update({f"logit_{name}": round(z, 6) for name, z in self.logits.items()})
        return row


@dataclass
class FrameResult:
    """All faces of one image or video frame; `error` is set (and faces empty) when it could not be read."""

    source: str
    frame: int
    time_s: float | None
    faces: list[FaceResult]
    image: np.ndarray | None = None
    error: str | None = None
    #: Decode notes (first_frame_only for an animated image, ...).
    notes: tuple[str, ...] = ()
    #: Each face's model-input crop (uint8 S x S x 3), when the predictor was asked to keep them.
    crops: list[np.ndarray] | None = None


def error_text(source: str, error: str) -> str:
    """One skipped input's message, naming the file once."""
    return error if source in error else f"{source}: {error}"


@dataclass
class Summary:
    """Counts for one predict run."""

    files: int = 0
    videos: int = 0
    frames: int = 0
    faces: int = 0
    no_face: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    #: Files of the scanned folders that were not read, with the reason (not an image or video, hidden).
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: (source, note) for inputs used with an adjustment, such as first_frame_only of an animated GIF.
    notes: list[tuple[str, str]] = field(default_factory=list)
    #: Per video: one summary per face track (affectlab.inference.tracks_report.track_summaries).
    tracks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: Seconds per stage (decode, detect, track, crop, model, write).
    stages: dict[str, float] = field(default_factory=dict)

    def add(self, result: FrameResult) -> None:
        """Count one processed image/frame."""
        for note in result.notes:
            self.notes.append((result.source, note))
        if result.error is not None:
            self.errors.append((result.source, result.error))
            return
        self.frames += 1
        self.faces += len(result.faces)
        self.no_face += not result.faces

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "files": self.files,
            "videos": self.videos,
            "frames": self.frames,
            "faces": self.faces,
            "no_face": self.no_face,
            "errors": [{"source": s, "error": e} for s, e in self.errors],
            "skipped": [{"source": s, "reason": r} for s, r in self.skipped],
            "notes": [{"source": s, "note": n} for s, n in self.notes],
            "seconds": round(self.seconds, 3),
            "faces_per_s": round(self.faces / self.seconds, 2) if self.seconds > 0 else None,
            **({"stages_s": self.stages} if self.stages else {}),
            **({"tracks": self.tracks} if self.tracks else {}),
        }


class ResultWriter:
    """Stream rows to a .jsonl (one object per face) or .csv file, by the file's suffix; "-" is stdout."""

    def __init__(
        self, path: str | Path, class_names: Sequence[str], logits: bool = False, smoothed: bool = False
    ) -> None:
        self.path = Path(path)
        self.columns = result_columns(class_names, logits, smoothed)
        self.class_names = list(class_names)
        self.smoothed = smoothed
        self.rows = 0
        self._csv: Any = None
        self._own_file = str(path) != STDOUT
        if not self._own_file:  # JSON Lines on stdout, for pipes
            self.format = "jsonl"
            self._file: IO[str] = sys.stdout
            return
        suffix = self.path.suffix.lower()
        if suffix not in RESULT_SUFFIXES:
            raise AffectlabError(f"output file {self.path} must end in .jsonl or .csv (or - for stdout)")
        self.format = suffix[1:]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", newline="" if self.format == "csv" else None)
        except OSError as exc:
            raise AffectlabError(f"cannot write results to {self.path}: {exc}") from exc
        if self.format == "csv":
            self._csv = csv.DictWriter(self._file, fieldnames=self.columns)
            self._csv.writeheader()

    def write(self, faces: Sequence[FaceResult]) -> None:
        """Append one row per face."""
        for face in faces:
            row = face.to_row()
            if self.smoothed:
                row.update(smooth_row(face, self.class_names))
            if list(row) != self.columns:
                raise AffectlabError(f"result columns {list(row)} differ from the header {self.columns}")
            try:
                if self._csv is not None:
                    self._csv.writerow({k: "" if v is None else v for k, v in row.items()})
                else:
                    self._file.write(json.dumps(row) + "\n")
            except OSError as exc:  # disk full while streaming results
                raise AffectlabError(
                    f"writing results to {self.path} failed after {self.rows} rows: {exc}"
                ) from exc
            self.rows += 1

    def close(self) -> None:
        """Flush and close the file (stdout is flushed, not closed)."""
        if self._own_file:
            self._file.close()
        else:
            self._file.flush()

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
