"""The evaluation report's video part: Aff-Wild2-protocol CCC over all frames and per video, raw and smoothed.

Renders the ``video`` record that :func:`affectlab.evaluation.video.video_scores` puts into metrics.json;
nothing is computed here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from affectlab.reports.document import Figure, Note, Section, Table, fmt

#: Videos listed one by one in the per-video table (all of them are in metrics.json).
MAX_VIDEO_ROWS = 40


#: The pooled table's columns: (key in the video record, header).
_POOLED = (
    ("valence_ccc", "valence CCC"),
    ("arousal_ccc", "arousal CCC"),
    ("va_ccc", "mean (V+A)/2"),
    ("valence_ccc_video_mean", "valence CCC, video mean"),
    ("arousal_ccc_video_mean", "arousal CCC, video mean"),
    ("expression_f1_macro", "expression F1 (macro)"),
)


def _pooled_table(video: dict[str, Any]) -> Table:
    rows = [[name, *(fmt(video[name].get(key)) for key, _ in _POOLED)] for name in ("raw", "smoothed")]
    headers = ["outputs", *(header for _, header in _POOLED)]
    return Table(
        headers, rows, caption="All annotated frames pooled (the challenge's score) and per-video means"
    )


def _per_video_table(video: dict[str, Any]) -> Table:
    raw, smooth = video["raw"], video["smoothed"]
    names = list(raw["valence_ccc_per_video"])
    rows = [
        [
            name,
            fmt(raw["valence_ccc_per_video"][name]),
            fmt(smooth["valence_ccc_per_video"][name]),
            fmt(raw["arousal_ccc_per_video"][name]),
            fmt(smooth["arousal_ccc_per_video"][name]),
        ]
        for name in names[:MAX_VIDEO_ROWS]
    ]
    note = (
        f"first {MAX_VIDEO_ROWS} of {len(names)} videos; all are in metrics.json"
        if len(names) > MAX_VIDEO_ROWS
        else ""
    )
    headers = ["video", "valence CCC", "smoothed", "arousal CCC", "smoothed"]
    return Table(headers, rows, caption="CCC per video ('-': too few frames or no spread)", note=note)


def per_video_figure(video: dict[str, Any]) -> bytes:
    """Per-video CCC of valence and arousal, raw and smoothed, one dot per video (sorted by raw valence)."""
    from affectlab.reports.figures import _plt, _png, color

    plt = _plt()
    raw, smooth = video["raw"], video["smoothed"]
    names = list(raw["valence_ccc_per_video"])
    first = raw["valence_ccc_per_video"]
    order = sorted(names, key=lambda n: -(first[n] if first[n] is not None else -2.0))
    x = np.arange(len(order))
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.2), sharey=True)
    for ax, what in zip(axes, ("valence", "arousal"), strict=True):
        for k, (label, scores) in enumerate((("raw", raw), ("smoothed", smooth))):
            values = [scores[f"{what}_ccc_per_video"][n] for n in order]
            y = np.array([np.nan if v is None else v for v in values], dtype=float)
            ax.plot(x, y, "o" if k == 0 else "x", color=color(k), label=label, markersize=4)
        pooled = raw.get(f"{what}_ccc")
        if pooled is not None:
            ax.axhline(pooled, color="grey", lw=0.8, ls="--", label="all frames, raw")
        ax.set_title(f"{what} CCC per video")
        ax.set_xlabel("video (sorted by raw valence CCC)")
        ax.set_xticks([])
        ax.set_ylim(-1.05, 1.05)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("CCC")
    axes[0].legend(loc="lower left", fontsize=8)
    return bytes(_png(fig))


def video_section(video: dict[str, Any]) -> Section:
    """The report section for a ``video`` record (frames pooled, per video, smoothing stated)."""
    sm = video["smoothing"]
    section = Section("Video scores (Aff-Wild2 protocol)")
    section.add(
        f"{video['frames']} annotated frames in {video['videos']} videos. Smoothed: {sm['method']}, "
        f"time constant {sm['tau_frames']:g} frames (a steady change is followed {sm['ramp_lag_frames']:.1f} "
        f"frames late; a step is half-way after {sm['step_half_frames']} frames).",
        _pooled_table(video),
        _per_video_table(video),
    )
    if video["videos"] > 0:
        caption = "Per-video CCC, raw (o) and smoothed (x); dashed: all frames pooled"
        section.add(Figure("video_ccc.png", per_video_figure(video), caption, wide=True))
    section.add(
        Note("Frames missing from a video are gaps for the smoothing: it never joins distant frames.")
    )
    return section
