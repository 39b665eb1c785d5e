"""Live camera: predict every frame and show it in an OpenCV window with the overlay (q quits)."""

from __future__ import annotations

import contextlib
import time

from affectlab.errors import AffectlabError
from affectlab.inference.annotate import draw_faces
from affectlab.inference.predictor import Predictor
from affectlab.inference.results import Summary
from affectlab.inference.sources import Frame
from affectlab.preprocessing.video import iter_camera


def _show(window: str, rgb: object) -> bool:
    """Show one frame; return True when the user asked to quit (q, Esc, or the window closed)."""
    import cv2

    try:
        cv2.imshow(window, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))  # type: ignore[call-overload]
        key = cv2.waitKey(1) & 0xFF
        closed = cv2.getWindowProperty(window, cv2.WND_PROP_VISIBLE) < 1
    except cv2.error as exc:
        raise AffectlabError(
            "this OpenCV build cannot open windows (opencv-python-headless?); install opencv-python "
            f"for --webcam: {exc}"
        ) from exc
    return key in (ord("q"), 27) or closed


def run_webcam(
    predictor: Predictor, camera: int = 0, mirror: bool = True, window: str = "affectlab"
) -> Summary:
    """Show camera `camera` with predictions drawn until q (or Esc) is pressed; return the counts and,
    when faces are tracked, a summary per track (as for a video)."""
    import cv2

    from affectlab.inference.tracks_report import TrackBooks

    summary = Summary(files=0)
    books = TrackBooks(predictor.class_names) if predictor.tracking is not None else None
    start = last = time.perf_counter()
    try:
        for index, time_s, rgb in iter_camera(camera, mirror):
            frame = Frame(f"camera:{camera}", index, time_s, rgb)
            result = next(iter(predictor.predict_frames([frame])))
            summary.add(result)
            if books is not None:
                books.add(result)
            shown = draw_faces(rgb, result.faces)
            now = time.perf_counter()
            fps, last = 1.0 / max(now - last, 1e-6), now
            cv2.putText(shown, f"{fps:.1f} fps", (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
            if _show(window, shown):
                break
    finally:
        with contextlib.suppress(cv2.error):
            cv2.destroyWindow(window)
        summary.seconds = time.perf_counter() - start
        if books is not None:
            summary.tracks = books.summaries()
    return summary
