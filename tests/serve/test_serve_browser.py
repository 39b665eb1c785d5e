"""End to end in headless Chromium (Debian's browser driven by Playwright): upload a photo, see the result."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DOCS_IMAGE = Path(__file__).resolve().parents[2] / "docs" / "img" / "serve.png"

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    sync_playwright = None

pytestmark = [
    pytest.mark.skipif(
        sync_playwright is None,
        reason="the Python 'playwright' package is not installed (pip install playwright)",
    ),
    pytest.mark.skipif(
        CHROMIUM is None, reason="no system Chromium on PATH (Debian: apt-get install -y chromium)"
    ),
]


def _canvas_has_colour(page: Any, selector: str) -> bool:
    """True when the canvas holds saturated (non-grey) pixels, i.e. something was drawn in colour."""
    return bool(
        page.evaluate(
            """(sel) => {
                const c = document.querySelector(sel);
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0;
                for (let i = 0; i < d.length; i += 4) {
                    const mx = Math.max(d[i], d[i+1], d[i+2]), mn = Math.min(d[i], d[i+1], d[i+2]);
                    if (mx - mn > 120) n++;
                }
                return n > 50;
            }""",
            selector,
        )
    )


def test_upload_photo_in_chromium(
    served_app: Any, serve_live: Any, astronaut_jpeg: bytes, tmp_path: Path
) -> None:
    base = serve_live(served_app)
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(astronaut_jpeg)
    text_file = tmp_path / "notes.jpg"
    text_file.write_text("not an image\n" * 10)
    foreign: list[str] = []
    console_errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 820}, device_scale_factor=1)
            page.on(
                "request",
                lambda req: None if req.url.startswith((base, "data:", "blob:")) else foreign.append(req.url),
            )
            page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
            page.goto(base + "/")
            page.wait_for_function(
                "document.getElementById('model-badge').textContent.indexOf('loading') < 0"
            )

            # A bad file first: the page shows the service's message, and keeps working.
            page.set_input_files("#file-input", str(text_file))
            page.wait_for_selector("body[data-result=error]", timeout=15_000)
            assert "not a recognised image" in page.inner_text("#status")

            page.set_input_files("#file-input", str(photo))
            page.wait_for_selector("body[data-result=ready]", timeout=60_000)
            cards = page.locator(".face-card")
            assert cards.count() >= 1
            assert int(page.get_attribute("body", "data-faces") or 0) >= 1
            first = cards.first.inner_text()
            assert "valence" in first and "arousal" in first and "%" in first
            assert page.locator(".face-card .bar-track").count() >= 8
            assert _canvas_has_colour(page, "#stage"), "no face box drawn on the picture"
            assert _canvas_has_colour(page, "#circumplex"), "no face point on the circumplex"
            shot = tmp_path / "serve.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 20_000
    assert not foreign, f"the page fetched from other origins: {foreign}"
    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors
    if os.environ.get("AFFECTLAB_DOCS_SCREENSHOT") == "1":
        DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_IMAGE)


def test_webcam_mode_posts_frames(served_app: Any, serve_live: Any) -> None:
    """With Chromium's fake camera, webcam mode captures frames, posts them one by one and shows results."""
    base = serve_live(served_app)
    posts: list[str] = []
    fake_camera = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS + fake_camera, headless=True
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 820})
            context.grant_permissions(["camera"], origin=base)
            page = context.new_page()
            page.on("request", lambda req: posts.append(req.url) if req.method == "POST" else None)
            page.goto(base + "/")
            page.click("#webcam-button")
            page.wait_for_function(
                "() => document.getElementById('status').textContent.startsWith('Webcam live')"
            )
            page.wait_for_timeout(1500)
            assert page.inner_text("#webcam-button") == "Stop webcam"
            assert page.get_attribute("body", "data-result") == "ready"
            page.click("#webcam-button")
            assert page.inner_text("#webcam-button") == "Use webcam"
        finally:
            browser.close()
    assert len(posts) >= 2 and all(url.endswith("/v1/predict") for url in posts)
