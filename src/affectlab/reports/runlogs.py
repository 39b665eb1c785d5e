"""Read a run folder's Lightning CSV logs (training curves) and its timing."""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Column names that, if logged, hold the seconds an epoch took.
EPOCH_TIME_KEYS = ("train/epoch_time", "train/epoch_seconds", "epoch_time", "time/epoch")


@dataclass
class Curves:
    """Per-epoch values of every epoch-level metric in a run's CSV logs."""

    files: list[Path]
    epochs: list[int] = field(default_factory=list)
    series: dict[str, list[float]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.epochs and self.series)


def _csv_order(path: Path) -> tuple[int, str]:
    """metrics.1.csv, metrics.2.csv ... (older, kept on resume) before metrics.csv."""
    m = re.fullmatch(r"metrics\.(\d+)\.csv", path.name)
    return (int(m.group(1)) if m else 1 << 30, str(path))


def find_metric_csvs(run_dir: Path) -> list[Path]:
    """Return the run's Lightning CSVLogger files (logs/**/metrics*.csv), oldest first."""
    logs = run_dir / "logs"
    if not logs.is_dir():
        return []
    found = [p for p in logs.rglob("metrics*.csv") if "tensorboard" not in p.parts]
    return sorted(found, key=lambda p: (str(p.parent), _csv_order(p)))


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_curves(run_dir: str | Path) -> Curves:
    """Return epoch-level curves (last value logged in each epoch, step-level columns dropped)."""
    files = find_metric_csvs(Path(run_dir))
    per_epoch: dict[int, dict[str, float]] = {}
    for path in files:
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                epoch = _float(row.get("epoch") or "")
                if epoch is None:
                    continue
                slot = per_epoch.setdefault(int(epoch), {})
                for key, text in row.items():
                    if (
                        key in ("epoch", "step")
                        or key is None
                        or key.endswith("_step")
                        or key.startswith("lr-")
                    ):
                        continue
                    value = _float(text or "")
                    if value is not None:
                        slot[key.removesuffix("_epoch")] = value
    curves = Curves(files=files)
    curves.epochs = sorted(per_epoch)
    keys = sorted({k for values in per_epoch.values() for k in values})
    for key in keys:
        curves.series[key] = [per_epoch[e].get(key, math.nan) for e in curves.epochs]
    return curves


def epoch_seconds(run_dir: str | Path, curves: Curves | None = None) -> tuple[float | None, str]:
    """Return (seconds per training epoch, how it was measured) from a run's logs, or (None, why not)."""
    run = Path(run_dir)
    curves = read_curves(run) if curves is None else curves
    for key in EPOCH_TIME_KEYS:
        values = [v for v in curves.series.get(key, []) if math.isfinite(v)]
        if values:
            return sum(values) / len(values), f"mean of logged {key}"
    timing = run / "timing.json"
    if timing.is_file():
        data = json.loads(timing.read_text(encoding="utf-8"))
        if data.get("seconds_per_epoch"):
            return float(data["seconds_per_epoch"]), str(data.get("how", "measured around train()"))
    start, end = run / "run.json", run / "model.safetensors"
    epochs = _epochs_trained(run, curves)
    if start.is_file() and end.is_file() and epochs:
        span = end.stat().st_mtime - start.stat().st_mtime
        if span > 0:
            return (
                span / epochs,
                "approx.: run.json to model.safetensors wall time / epochs (incl. validation)",
            )
    return None, "no per-epoch timing in the run's logs"


def _epochs_trained(run: Path, curves: Curves) -> int | None:
    metrics = run / "metrics.json"
    if metrics.is_file():
        try:
            data: dict[str, Any] = json.loads(metrics.read_text(encoding="utf-8"))
        except ValueError:
            data = {}
        if data.get("epochs_trained"):
            return int(data["epochs_trained"])
    return len(curves.epochs) or None
