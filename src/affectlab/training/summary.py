"""What a finished run reached, read from its metrics.json: the end-of-run table, and the finished-run check
that `--resume` makes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from affectlab.errors import AffectlabError

#: Rows of the end-of-run table: (label, metrics key, format).
ROWS: tuple[tuple[str, str, str], ...] = (
    ("expression accuracy", "expression_accuracy", "pct"),
    ("expression macro-F1", "expression_f1_macro", "num"),
    ("valence CCC", "valence_ccc", "num"),
    ("valence RMSE", "valence_rmse", "num"),
    ("arousal CCC", "arousal_ccc", "num"),
    ("arousal RMSE", "arousal_rmse", "num"),
)


def _read(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "metrics.json"
    if not path.is_file():
        raise AffectlabError(f"{run_dir} has no metrics.json: the run has not finished")
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AffectlabError(f"cannot read {path}: {exc}") from exc
    return data


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


@dataclass(frozen=True)
class RunSummary:
    """The figures a run ends with: validation metrics of the exported (best) weights and how it got there."""

    run_dir: Path
    arch: str
    split: str
    samples: int | None
    metrics: dict[str, float | None]
    intervals: dict[str, tuple[float, float]]
    best_epoch: int | None
    epochs_trained: int | None
    monitor: str
    best_score: float | None
    seconds: float | None

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs, values formatted, 95% intervals where the run has them."""
        out = []
        for label, key, kind in ROWS:
            value = self.metrics.get(key)
            if value is None:
                out.append((label, "-"))
                continue
            fmt = (lambda v: f"{100 * v:.1f}%") if kind == "pct" else (lambda v: f"{v:.3f}")
            low_high = self.intervals.get(key)
            ci = f"  (95% CI {fmt(low_high[0])} to {fmt(low_high[1])})" if low_high else ""
            out.append((label, fmt(value) + ci))
        epoch = "-" if self.best_epoch is None else f"{self.best_epoch} of {self.epochs_trained}"
        score = "-" if self.best_score is None else f"{self.best_score:.4f}"
        out += [
            (f"best epoch ({self.monitor})", f"{epoch}  ({self.monitor} {score})"),
            ("training time", _duration(self.seconds)),
            ("run folder", str(self.run_dir)),
        ]
        return out

    def render(self) -> Any:
        """A rich Table of `rows()`, titled with the architecture and the split it was scored on."""
        from rich.table import Table

        n = "" if self.samples is None else f", {self.samples} images"
        table = Table(title=f"{self.arch}: best weights on {self.split}{n}", title_justify="left")
        table.add_column("", no_wrap=True)
        table.add_column("", overflow="fold")
        table.show_header = False
        for label, value in self.rows():
            table.add_row(label, value)
        return table


def summarize_run(run_dir: str | Path) -> RunSummary:
    """Read a finished run folder's metrics.json into a RunSummary."""
    folder = Path(run_dir)
    data = _read(folder)
    metrics, training = data.get("metrics", {}), data.get("training") or {}
    ci = data.get("ci") or {}
    intervals = {
        key: (float(ci[key]["low"]), float(ci[key]["high"]))
        for _, key, _ in ROWS
        if isinstance(ci.get(key), dict) and ci[key].get("low") is not None
    }
    return RunSummary(
        run_dir=folder.resolve(),
        arch=str(data.get("model", {}).get("arch", "?")),
        split=str(data.get("data", {}).get("split", "val")),
        samples=data.get("data", {}).get("num_samples"),
        metrics={key: metrics.get(key) for _, key, _ in ROWS},
        intervals=intervals,
        best_epoch=training.get("best_epoch"),
        epochs_trained=training.get("epochs_trained"),
        monitor=str(training.get("monitor", "val/score")),
        best_score=training.get("best_score"),
        seconds=training.get("train_seconds"),
    )


def check_not_finished(run_dir: str | Path, max_epochs: int) -> None:
    """Refuse `--resume` of a run that already trained `max_epochs` epochs, saying how to extend it."""
    folder = Path(run_dir)
    if not (folder / "metrics.json").is_file():
        return  # not finished (or killed before its final export): resuming completes it
    done = (_read(folder).get("training") or {}).get("epochs_trained")
    if isinstance(done, int) and done >= max_epochs:
        raise AffectlabError(
            f"{folder} already finished: it trained {done} epoch{'s' if done != 1 else ''} and "
            f"trainer.max_epochs is {max_epochs}. To train it longer, resume with more epochs, e.g. "
            f"`affectlab train --resume --out {folder} --epochs {2 * done}`"
        )
