"""One predict run over many inputs: results file, annotated copies, timelines and the summary."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from affectlab.inference.annotate import Timeline, draw_faces, save_image
from affectlab.inference.predictor import Predictor
from affectlab.inference.results import STDOUT, FrameResult, ResultWriter, Summary, error_text
from affectlab.inference.sources import is_video, iter_frames
from affectlab.inference.tracks_report import TrackBooks
from affectlab.inference.video import VideoWriter
from affectlab.preprocessing.video import video_info
from affectlab.workers import refuse_worker_import

log = logging.getLogger(__name__)


def _relative_names(paths: Sequence[Path]) -> dict[str, Path]:
    """Map each source to a path relative to the inputs' common folder (for annotated outputs)."""
    parents = [str(p.resolve().parent) for p in paths]
    root = Path(os.path.commonpath(parents)) if parents else Path(".")
    return {str(p): p.resolve().relative_to(root) for p in paths}


class _Annotator:
    """Writes annotated images, annotated videos and per-video timelines under one folder."""

    def __init__(
        self,
        folder: Path,
        paths: Sequence[Path],
        class_names: Sequence[str],
        stride: int,
        books: TrackBooks | None = None,
    ) -> None:
        self.folder = folder
        self.books = books
        self.names = _relative_names(paths)
        self.class_names = class_names
        self.stride = stride
        self.source: str | None = None
        self.video: VideoWriter | None = None
        self.timeline: Timeline | None = None
        self.written: list[Path] = []

    def add(self, result: FrameResult) -> None:
        """Draw one frame and route it to its image file or its video."""
        if result.source != self.source:
            self.finish()
            self.source = result.source
            if is_video(result.source) and result.error is None:
                fps = video_info(result.source).fps / self.stride
                target = (self.folder / self.names[result.source]).with_suffix(".mp4")
                self.video = VideoWriter(target, fps)
                self.timeline = Timeline(self.class_names)
        if result.image is None:
            return
        drawn = draw_faces(result.image, result.faces)
        if self.video is not None and self.timeline is not None:
            self.video.write(drawn)
            self.timeline.add(result)
        else:
            self.written.append(save_image(self.folder / self.names[result.source], drawn))

    def finish(self) -> None:
        """Close the current video and write its timeline PNG."""
        if self.video is not None and self.timeline is not None and self.source is not None:
            self.video.close()
            self.written.append(self.video.path)
            stem = self.folder / self.names[self.source]
            if self.books is not None:  # tracked: per-track summary, timeline and trajectory
                self.written.extend(self.books.write(self.source, stem))
            else:
                plot = stem.with_name(stem.stem + "_timeline.png")
                self.written.append(self.timeline.save(plot, title=Path(self.source).name))
        self.video, self.timeline = None, None


def _outputs(
    predictor: Predictor,
    paths: Sequence[Path],
    out: Path | None,
    annotate_dir: Path | None,
    explain_dir: Path | None,
    detect: bool,
    stride: int,
) -> tuple[ResultWriter | None, TrackBooks | None, _Annotator | None, Any]:
    """What a predict run writes to: results file, track books, annotated copies, Grad-CAM panels."""
    from affectlab.io import ensure_writable

    smoothed = predictor.smoothing is not None
    writer = (
        ResultWriter(out, predictor.class_names, predictor.keep_logits, smoothed) if out is not None else None
    )
    books = TrackBooks(predictor.class_names) if predictor.tracking is not None and detect else None
    annotator = (
        _Annotator(annotate_dir, paths, predictor.class_names, stride, books) if annotate_dir else None
    )
    explainer = None
    if explain_dir is not None:
        from affectlab.inference.saliency import ExplanationWriter

        ensure_writable(explain_dir, "explanations")
        explainer = ExplanationWriter(explain_dir, _relative_names(paths), predictor)
    return writer, books, annotator, explainer


def run_predict(
    predictor: Predictor,
    paths: Sequence[Path],
    out: Path | None = None,
    annotate_dir: Path | None = None,
    detect: bool = True,
    stride: int = 1,
    on_result: Callable[[FrameResult], None] | None = None,
    skipped: Sequence[tuple[str, str]] = (),
    explain_dir: Path | None = None,
) -> Summary:
    """Predict every image and video frame of `paths`, writing rows and annotations; return the counts.

    `out` is a .jsonl or .csv file, or "-" for JSON Lines on stdout. ``explain_dir``: also write a
    Grad-CAM panel per face there (affectlab.inference.saliency).
    """
    refuse_worker_import("run_predict")
    from affectlab.io import ensure_writable

    if out is not None and str(out) != STDOUT:
        ensure_writable(Path(out).parent, "results file")
    if annotate_dir is not None:
        ensure_writable(annotate_dir, "annotated images")
    summary = Summary(files=len(paths), videos=sum(is_video(p) for p in paths), skipped=list(skipped))
    writer, books, annotator, explainer = _outputs(
        predictor, paths, out, annotate_dir, explain_dir, detect, stride
    )
    times = predictor.times
    times.reset()
    start = time.perf_counter()
    try:
        frames = times.timed(iter_frames(paths, stride), "decode")
        keep = {"keep_images": annotator is not None, "keep_crops": explainer is not None}
        for result in predictor.predict_frames(frames, detect=detect, **keep):
            summary.add(result)
            if result.error is not None:
                log.warning("skipped %s", error_text(result.source, result.error))
            if books is not None:
                books.add(result)
            with times.stage("write"):
                if writer is not None:
                    writer.write(result.faces)
                if annotator is not None:
                    annotator.add(result)
                if explainer is not None:
                    explainer.add(result)
            if on_result is not None:
                on_result(result)
        if annotator is not None:
            with times.stage("write"):
                annotator.finish()
        if books is not None:
            summary.tracks = books.summaries()
        summary.stages = times.to_dict()
    finally:
        if writer is not None:
            writer.close()
        summary.seconds = time.perf_counter() - start
    return summary
