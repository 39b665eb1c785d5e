"""Truncated and fake videos: a clear error, or partial results with a warning, in bounded time.

Decoding runs in a child process with a timeout, so a hang fails the test instead of stalling the suite and a
decoder crash shows up as a signal exit status. (The service does not accept videos at all: see
tests/serve/test_serve_uploads.py, "unsupported_format".)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fault_helpers import good_image, run_cli, run_python


def _write_video(path: Path, codec: str, frames: int = 40) -> Path:
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*codec), 10.0, (64, 64))
    assert writer.isOpened()
    for i in range(frames):
        frame = np.zeros((64, 64, 3), np.uint8)
        frame[:, (3 * i) % 64] = 255
        frame[10:50, 10:50, 1] = 5 * i
        writer.write(frame)
    writer.release()
    return path


def _cut_in_half(path: Path, name: str) -> Path:
    data = path.read_bytes()
    out = path.with_name(name)
    out.write_bytes(data[: len(data) // 2])
    return out


@pytest.fixture
def videos(tmp_path: Path) -> dict[str, Path]:
    full_mp4 = _write_video(tmp_path / "full.mp4", "mp4v")
    full_avi = _write_video(tmp_path / "full.avi", "MJPG")
    text = tmp_path / "notes.mp4"
    text.write_text("this is a text file with a video name\n")
    random = tmp_path / "noise.mkv"
    random.write_bytes(np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    return {
        "full_mp4": full_mp4,
        "truncated_mp4": _cut_in_half(full_mp4, "half.mp4"),  # mp4v writes its index (moov) last
        "truncated_avi": _cut_in_half(full_avi, "half.avi"),  # AVI frames decode without the index
        "text_named_mp4": text,
        "random_bytes_mkv": random,
    }


DECODE = """
import json, logging, sys
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
from affectlab.errors import AffectlabError
from affectlab.preprocessing.video import iter_video
out = {}
for path in %r:
    try:
        out[path] = {"frames": sum(1 for _ in iter_video(path))}
    except AffectlabError as exc:
        out[path] = {"error": str(exc)}
print(json.dumps(out))
"""


def test_decoding_bad_videos_is_bounded_and_clear(videos: dict[str, Path]) -> None:
    paths = [str(p) for p in videos.values()]
    done = run_python(DECODE % (paths,), timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    got = {Path(k).name: v for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}
    assert got["full.mp4"] == {"frames": 40}
    for name in ("half.mp4", "notes.mp4", "noise.mkv"):
        assert "could not open" in got[name]["error"] and name in got[name]["error"]
    assert 0 < got["half.avi"]["frames"] < 40  # partial results ...
    assert "half.avi: decoding stopped after" in done.stderr  # ... with a warning


@pytest.mark.faults
def test_predict_cli_reports_bad_videos_and_finishes(
    tmp_path: Path, videos: dict[str, Path], weights_file: Path
) -> None:
    """`affectlab predict` over good and bad inputs: exit 0, every bad file named, good ones predicted."""
    photo = good_image(tmp_path / "photo.jpg")
    inputs = [
        photo,
        videos["truncated_mp4"],
        videos["text_named_mp4"],
        videos["truncated_avi"],
        videos["random_bytes_mkv"],
        videos["full_mp4"],
    ]
    out, summary = tmp_path / "rows.jsonl", tmp_path / "summary.json"
    done = run_cli(
        [
            "predict",
            str(weights_file),
            *map(str, inputs),
            "--no-detect",
            "--out",
            str(out),
            "--summary-json",
            str(summary),
            "--quiet",
        ],
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(summary.read_text())
    errors = {Path(e["source"]).name: e["error"] for e in data["errors"]}
    assert set(errors) == {"half.mp4", "notes.mp4", "noise.mkv"}
    assert all("could not open" in e for e in errors.values())
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    per_source: dict[str, int] = {}
    for row in rows:
        per_source[Path(row["source"]).name] = per_source.get(Path(row["source"]).name, 0) + 1
    assert per_source["photo.jpg"] == 1 and per_source["full.mp4"] == 40
    assert 0 < per_source["half.avi"] < 40
    assert "half.avi: decoding stopped after" in done.stderr
    assert "error: " in done.stderr and "half.mp4" in done.stderr  # named again at the end


def test_predict_video_api_raises_clear_error(videos: dict[str, Path]) -> None:
    """Predictor.predict_video on a file that is not a video raises AffectlabError (in a bounded child)."""
    code = f"""
import numpy as np
from affectlab.errors import AffectlabError
from affectlab.inference import Predictor
from affectlab.labels import AFFECTNET_CLASSES
from affectlab.preprocessing import Preprocess
class B:
    def run(self, x):
        n = len(x); return np.zeros((n, 8), np.float32), np.zeros(n, np.float32), np.zeros(n, np.float32)
p = Predictor(B(), AFFECTNET_CLASSES, Preprocess(size=32), detector="none")
print(sum(1 for _ in p.predict_video({str(videos["truncated_avi"])!r}, detect=False)))
try:
    list(p.predict_video({str(videos["truncated_mp4"])!r}, detect=False))
except AffectlabError as exc:
    print("refused:", exc)
"""
    done = run_python(code, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert 0 < int(lines[-2]) < 40
    assert lines[-1].startswith("refused:") and "half.mp4" in lines[-1]
