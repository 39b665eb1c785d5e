"""Annotated videos play in Chromium (Debian's, driven by Playwright): H.264 in MP4 decodes and runs."""

from __future__ import annotations

import contextlib
import functools
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from affectlab.inference.video import VideoWriter

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required", "--no-first-run"]

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    sync_playwright = None

pytestmark = [
    pytest.mark.skipif(sync_playwright is None, reason="the Python 'playwright' package is not installed"),
    pytest.mark.skipif(CHROMIUM is None, reason="no system Chromium on PATH (`make browser` installs it)"),
]

PAGE = """<!doctype html><meta charset="utf-8"><body>
<video id="v" src="__NAME__" muted playsinline></video><canvas id="c"></canvas>
<script>
const v = document.getElementById('v');
window.outcome = null;
v.addEventListener('error', () => { window.outcome = {error: v.error ? v.error.code : -1}; });
v.addEventListener('loadeddata', async () => {
  await v.play();
  await new Promise(r => setTimeout(r, 600));
  const c = document.getElementById('c');
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d'); g.drawImage(v, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let red = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 150 && d[i+1] < 90) red++;
  window.outcome = {w: v.videoWidth, h: v.videoHeight, t: v.currentTime, red: red / (d.length / 4)};
});
</script>"""


def _frames(n: int = 40, size: tuple[int, int] = (121, 161)) -> list[np.ndarray]:
    """A red square moving over grey (odd sizes on purpose: H.264 4:2:0 needs even ones)."""
    out = []
    for i in range(n):
        img = np.full((*size, 3), 90, np.uint8)
        img[20:70, 10 + 2 * i : 60 + 2 * i] = (230, 30, 30)
        out.append(img)
    return out


@contextlib.contextmanager
def _http(folder: Path) -> Iterator[str]:
    """Serve `folder` on loopback (a file:// page may not read its own video's pixels back)."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _play(folder: Path, name: str) -> dict[str, Any]:
    (folder / f"{name}.html").write_text(PAGE.replace("__NAME__", name))
    with _http(folder) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(f"{base}/{name}.html")
            page.wait_for_function("window.outcome !== null", timeout=30_000)
            outcome: dict[str, Any] = page.evaluate("window.outcome")
            can_play = page.evaluate(
                "document.createElement('video').canPlayType('video/mp4; codecs=\"avc1.64001f\"')"
            )
        finally:
            browser.close()
    return {**outcome, "can_play_h264": can_play}


def test_annotated_video_plays_in_chromium(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "clip.mp4", fps=20) as writer:
        for frame in _frames():
            writer.write(frame)
    got = _play(tmp_path, "clip.mp4")
    assert got.get("error") is None, got
    assert got["can_play_h264"] in ("probably", "maybe"), got
    assert (got["w"], got["h"]) == (162, 122)  # padded to even sides, nothing cropped
    assert got["t"] > 0.2, got  # it played, not only loaded
    assert 0.03 < got["red"] < 0.3, got  # the decoded picture is the drawn one (the square), not black


def test_the_old_mpeg4_part2_output_does_not_play(tmp_path: Path) -> None:
    """The control: what OpenCV wrote before (mp4v) fails in the same page, so the test above can fail."""
    import cv2

    path = tmp_path / "old.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 20, (160, 120))
    for frame in _frames(size=(120, 160)):
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    got = _play(tmp_path, "old.mp4")
    assert got.get("error") is not None, got
