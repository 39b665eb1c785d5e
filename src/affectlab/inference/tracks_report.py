"""Per-track outputs of a video: a summary per face track, a timeline per track, a valence-arousal trajectory.

A :class:`TrackBook` collects the rows of one video (or camera) stream as they are predicted. Every processed
frame is on the time axis, so a track that was not seen is a gap (never a line drawn across), and frames where
no face at all was found are shaded and labelled as such.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.inference.results import FaceResult, FrameResult

#: Most tracks drawn in one figure (the longest ones; the summary lists all).
MAX_PLOTTED = 8


@dataclass
class _Track:
    rows: list[int] = field(default_factory=list)  # positions on the stream's frame axis
    valence: list[float] = field(default_factory=list)
    arousal: list[float] = field(default_factory=list)
    expression: list[str] = field(default_factory=list)
    smooth_valence: list[float] = field(default_factory=list)
    smooth_arousal: list[float] = field(default_factory=list)
    smooth_expression: list[str] = field(default_factory=list)


class TrackBook:
    """The faces of one stream by track, on the axis of all its processed frames."""

    def __init__(self, source: str, class_names: Sequence[str]) -> None:
        self.source = source
        self.class_names = list(class_names)
        self.frames: list[int] = []
        self.times: list[float] = []
        self.no_face: list[bool] = []
        self.tracks: dict[int, _Track] = {}
        self.smoothed = False

    def add(self, result: FrameResult) -> None:
        """Record one processed frame (its faces with a track id; a frame with an error is skipped)."""
        if result.error is not None:
            return
        pos = len(self.frames)
        self.frames.append(result.frame)
        self.times.append(result.time_s if result.time_s is not None else float(result.frame))
        self.no_face.append(not result.faces)
        for face in result.faces:
            if face.track is not None:
                self._add_face(pos, face)

    def _add_face(self, pos: int, face: FaceResult) -> None:
        track = self.tracks.setdefault(int(face.track), _Track())  # type: ignore[arg-type]
        track.rows.append(pos)
        track.valence.append(face.valence)
        track.arousal.append(face.arousal)
        track.expression.append(face.expression)
        if face.smoothed is not None:
            self.smoothed = True
            track.smooth_valence.append(face.smoothed.valence)
            track.smooth_arousal.append(face.smoothed.arousal)
            track.smooth_expression.append(face.smoothed.expression)

    def _step(self) -> float:
        """Typical time between processed frames (for durations)."""
        return float(np.median(np.diff(self.times))) if len(self.times) > 1 else 0.0

    def _shares(self, labels: Sequence[str]) -> dict[str, float]:
        n = max(len(labels), 1)
        return {c: round(sum(lab == c for lab in labels) / n, 4) for c in self.class_names}

    def summaries(self) -> list[dict[str, Any]]:
        """Per track: time span, frames seen, expression shares, mean and spread of valence and arousal."""
        out = []
        step = self._step()
        for tid, track in sorted(self.tracks.items()):
            first, last = track.rows[0], track.rows[-1]
            entry: dict[str, Any] = {
                "track": tid,
                "first_frame": self.frames[first],
                "last_frame": self.frames[last],
                "start_s": round(self.times[first], 3),
                "end_s": round(self.times[last], 3),
                "duration_s": round(self.times[last] - self.times[first] + step, 3),
                "frames_seen": len(track.rows),
                "frames_in_span": last - first + 1,
                "expression_shares": self._shares(track.expression),
            }
            for what in ("valence", "arousal"):
                values = np.asarray(getattr(track, what), dtype=np.float64)
                entry[f"{what}_mean"] = round(float(values.mean()), 4)
                entry[f"{what}_std"] = round(float(values.std()), 4)
            if track.smooth_expression:
                entry["smooth_expression_shares"] = self._shares(track.smooth_expression)
            out.append(entry)
        return out

    def series(self, tid: int, what: str) -> np.ndarray:
        """One track's values on the full frame axis, NaN where the track was not seen."""
        track = self.tracks[tid]
        out = np.full(len(self.frames), np.nan)
        out[track.rows] = getattr(track, what)
        return out

    def plotted(self) -> list[int]:
        """The tracks drawn (the MAX_PLOTTED longest), in id order."""
        longest = sorted(self.tracks, key=lambda t: -len(self.tracks[t].rows))[:MAX_PLOTTED]
        return sorted(longest)


def describe_track(entry: dict[str, Any]) -> str:
    """One line for a track summary: id, time span, frames, main expressions, valence/arousal."""
    shares = entry.get("smooth_expression_shares") or entry["expression_shares"]
    top = sorted(shares.items(), key=lambda kv: -kv[1])[:2]
    main = ", ".join(f"{name} {share:.0%}" for name, share in top if share > 0)
    return (
        f"track {entry['track']}: {entry['start_s']:.2f}-{entry['end_s']:.2f} s, "
        f"{entry['frames_seen']}/{entry['frames_in_span']} frames; {main}; "
        f"valence {entry['valence_mean']:+.2f} (sd {entry['valence_std']:.2f}), "
        f"arousal {entry['arousal_mean']:+.2f} (sd {entry['arousal_std']:.2f})"
    )


def _rgb(colour: tuple[int, int, int]) -> tuple[float, float, float]:
    return (colour[0] / 255.0, colour[1] / 255.0, colour[2] / 255.0)


def _spans(mask: Sequence[bool], t: np.ndarray, step: float) -> list[tuple[float, float]]:
    """Time spans [start, end) of runs of True in mask."""
    spans, start = [], None
    for i, flag in enumerate([*mask, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            spans.append((float(t[start]) - step / 2, float(t[i - 1]) + step / 2))
            start = None
    return spans


def save_timeline(book: TrackBook, path: str | Path, title: str = "") -> Path:
    """Valence and arousal over time, one panel per track, with its expression as a coloured strip."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from affectlab.inference.annotate import PALETTE

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tracks = book.plotted()
    t = np.asarray(book.times)
    step = book._step() or 1.0
    rows = max(1, len(tracks))
    fig = Figure(figsize=(11, 1.0 + 2.1 * rows), layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    colours = {c: _rgb(PALETTE[i % len(PALETTE)]) for i, c in enumerate(book.class_names)}
    no_face = _spans(book.no_face, t, step)
    for ax, tid in zip(axes, tracks, strict=False):
        _track_panel(ax, book, tid, t, step, colours)
    for ax in axes:
        for a, b in no_face:  # hatched, so it is not read as the neutral colour
            ax.axvspan(a, b, facecolor="none", edgecolor="0.35", hatch="///", linewidth=0)
        ax.set_ylim(-1.45, 1.05)
        ax.axhline(0.0, color="grey", linewidth=0.5)
    if not tracks:
        axes[0].text(0.5, 0.5, "no face was found in this video", ha="center", transform=axes[0].transAxes)
    axes[-1].set_xlabel("time (s)")
    handles = [Patch(facecolor="none", edgecolor="0.35", hatch="///", label="no face found in the frame")]
    handles += [Patch(color=colours[c], label=c) for c in book.class_names]
    fig.legend(handles=handles, loc="outside right upper", fontsize=8)
    fig.suptitle(title or "face tracks")
    fig.savefig(target, dpi=100)
    return target


def _track_panel(ax: Any, book: TrackBook, tid: int, t: np.ndarray, step: float, colours: dict) -> None:
    smooth = bool(book.tracks[tid].smooth_valence)
    for what, colour in (("valence", "tab:blue"), ("arousal", "tab:red")):
        raw = book.series(tid, what)
        ax.plot(t, raw, color=colour, linewidth=0.8, alpha=0.45 if smooth else 1.0, label=what)
        if smooth:
            ax.plot(
                t, book.series(tid, f"smooth_{what}"), color=colour, linewidth=1.8, label=f"{what} (smoothed)"
            )
    labels = book.tracks[tid].smooth_expression or book.tracks[tid].expression
    for pos, label in zip(book.tracks[tid].rows, labels, strict=True):
        ax.axvspan(
            t[pos] - step / 2, t[pos] + step / 2, ymin=0.0, ymax=0.1, color=colours[label], linewidth=0
        )
    seen = len(book.tracks[tid].rows)
    ax.set_ylabel(f"track {tid}")
    ax.set_title(f"track {tid}: seen in {seen} of {len(t)} frames", fontsize=9, loc="left")
    ax.legend(loc="upper right", fontsize=7, ncol=4)


def save_trajectories(book: TrackBook, path: str | Path, title: str = "") -> Path:
    """Each track's path on the valence-arousal plane, coloured by time (gaps are not joined)."""
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tracks = book.plotted()
    cols = min(4, max(1, len(tracks)))
    nrows = -(-max(1, len(tracks)) // cols)
    fig = Figure(figsize=(3.3 * cols + 0.8, 3.4 * nrows), layout="constrained")
    axes = fig.subplots(nrows, cols, squeeze=False).ravel()
    t = np.asarray(book.times)
    norm = (
        (float(t.min()), float(t.max()) if t.max() > t.min() else float(t.min()) + 1.0) if len(t) else (0, 1)
    )
    mappable = None
    for ax, tid in zip(axes, tracks, strict=False):
        key = "smooth_" if book.tracks[tid].smooth_valence else ""
        v, a = book.series(tid, f"{key}valence"), book.series(tid, f"{key}arousal")
        points = np.stack([v, a], axis=1)
        segments = np.stack([points[:-1], points[1:]], axis=1)
        ok = np.isfinite(segments).all(axis=(1, 2))  # a segment touching a gap is not drawn
        lc = LineCollection(segments[ok], cmap="viridis", linewidth=1.6)
        lc.set_array(t[:-1][ok])
        lc.set_clim(*norm)
        ax.add_collection(lc)
        mappable = lc
        seen = np.isfinite(v)
        ax.scatter(v[seen], a[seen], c=t[seen], cmap="viridis", vmin=norm[0], vmax=norm[1], s=6)
        first, last = np.flatnonzero(seen)[[0, -1]]
        ax.plot(v[first], a[first], "o", mfc="none", mec="black", ms=8, label="start")
        ax.plot(v[last], a[last], "s", mfc="none", mec="black", ms=8, label="end")
        ax.set_title(f"track {tid}" + (" (smoothed)" if key else ""), fontsize=9)
    for ax in axes:
        ax.set_xlim(-1, 1)
        ax.set_ylim(-1, 1)
        ax.set_aspect("equal")
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.axvline(0, color="grey", linewidth=0.5)
        ax.set_xlabel("valence")
        ax.set_ylabel("arousal")
    if tracks:
        axes[0].legend(loc="lower right", fontsize=7)
    else:
        axes[0].text(0, 0, "no face was found", ha="center")
    if mappable is not None:
        fig.colorbar(mappable, ax=list(axes), label="time (s)", shrink=0.8)
    fig.suptitle(title or "valence-arousal trajectory per track")
    fig.savefig(target, dpi=100)
    return target


class TrackBooks:
    """A TrackBook per video of a run (still images are not tracked and are left out)."""

    def __init__(self, class_names: Sequence[str]) -> None:
        self.class_names = list(class_names)
        self.books: dict[str, TrackBook] = {}

    def add(self, result: FrameResult) -> None:
        """Route one frame's result to its video's book (frames without a time are still images)."""
        if result.time_s is None and result.source not in self.books:
            return
        book = self.books.setdefault(result.source, TrackBook(result.source, self.class_names))
        book.add(result)

    def summaries(self) -> dict[str, list[dict[str, Any]]]:
        """Per video: the track summaries."""
        return {source: book.summaries() for source, book in self.books.items() if book.frames}

    def write(self, source: str, stem: Path) -> list[Path]:
        """Write STEM_tracks.json, STEM_timeline.png and STEM_va.png for one video."""
        import json

        book = self.books.get(source)
        if book is None or not book.frames:
            return []
        name = Path(source).name
        data = {"source": source, "frames": len(book.frames), "no_face_frames": int(sum(book.no_face))}
        data["tracks"] = book.summaries()
        js = stem.with_name(stem.stem + "_tracks.json")
        js.parent.mkdir(parents=True, exist_ok=True)
        js.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        return [
            js,
            save_timeline(book, stem.with_name(stem.stem + "_timeline.png"), title=f"{name}: face tracks"),
            save_trajectories(book, stem.with_name(stem.stem + "_va.png"), title=f"{name}: valence-arousal"),
        ]
