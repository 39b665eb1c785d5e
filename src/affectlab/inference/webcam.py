"""Live camera: predict every frame and show it in an OpenCV window with the overlay (q quits)."""

from __future__ import annotations

import contextlib
import time

from affectlab.errors import AffectlabError
from affectlab.inference.annotate import draw_faces
from affectlab.inference.predictor import Predictor
from affectlab.inference.results import Summary
from affectlab.inference.sources import Frame


def run_webcam(
    predictor: Predictor, camera: int = 0, mirror: bool = True, window: str = "affectlab"
) -> Summary:
    """Show camera `camera` with predictions drawn until q (or Esc) is pressed; return the counts."""
    import cv2

    cap = cv2.VideoCapture(camera)
    if not cap.isOpened():
        raise AffectlabError(
            f"could not open camera {camera} (no such device, or it is in use); try --webcam 1"
        )
    summary = Summary(files=0)
    start = last = time.perf_counter()
    index = 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                raise AffectlabError(f"camera {camera} stopped delivering frames")
            if mirror:
                bgr = cv2.flip(bgr, 1)
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            now = time.perf_counter()
            frame = Frame(f"camera:{camera}", index, now - start, rgb)
            result = next(iter(predictor.predict_frames([frame])))
            summary.add(result)
            shown = draw_faces(rgb, result.faces)
            fps = 1.0 / max(now - last, 1e-6)
            last = now
            cv2.putText(shown, f"{fps:.1f} fps", (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
            try:
                cv2.imshow(window, cv2.cvtColor(shown, cv2.COLOR_RGB2BGR))
                key = cv2.waitKey(1) & 0xFF
                closed = cv2.getWindowProperty(window, cv2.WND_PROP_VISIBLE) < 1
            except cv2.error as exc:
                raise AffectlabError(
                    "this OpenCV build cannot open windows (opencv-python-headless?); install opencv-python "
                    f"for --webcam: {exc}"
                ) from exc
            if key in (ord("q"), 27) or closed:
                break
            index += 1
    finally:
        cap.release()
        with contextlib.suppress(cv2.error):
            cv2.destroyWindow(window)
        summary.seconds = time.perf_counter() - start
    return summary
