"""`predict` on a folder accounts for every file: predicted, an error naming it, skipped with its reason, or
used with a note (an animated image's first frame); and a bad `--out` is refused before the model loads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fault_helpers import good_image, gradient, run_cli
from PIL import Image

from affectlab.errors import AffectlabError


def _zero_frame_video(path: Path) -> Path:
    """An AVI (MJPG) with a header and no frame: OpenCV opens it and reads nothing."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 32))
    writer.release()
    return path


def _animated_gif(path: Path) -> Path:
    frames = [Image.fromarray(np.roll(gradient(), 8 * i, axis=1)) for i in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "inputs"
    good_image(folder / "a.jpg", seed=1)
    good_image(folder / "sub" / "b.JPEG", seed=2)
    (folder / "c.jfif").write_bytes((folder / "a.jpg").read_bytes())
    _animated_gif(folder / "anim.gif")
    (folder / "photo.heic").write_bytes(b"\0\0\0\x18ftypheic" + bytes(64))
    _zero_frame_video(folder / "empty.avi")
    (folder / "notes.txt").write_text("not a picture\n")
    (folder / "README").write_text("no suffix\n")
    (folder / ".DS_Store").write_bytes(b"\0\0")
    return folder


#: How each file of mixed_folder must come out of predict.
EXPECTED = {
    "a.jpg": "predicted",
    "sub/b.JPEG": "predicted",
    "c.jfif": "predicted",
    "anim.gif": "predicted",
    "photo.heic": "error",
    "empty.avi": "error",
    "notes.txt": "skipped",
    "README": "skipped",
    ".DS_Store": "skipped",
}


def test_predict_folder_accounts_for_every_file(
    mixed_folder: Path, weights_file: Path, tmp_path: Path
) -> None:
    out, summary_path = tmp_path / "faces.jsonl", tmp_path / "summary.json"
    args = ["predict", str(weights_file), str(mixed_folder), "--no-detect", "--quiet"]
    done = run_cli([*args, "--out", str(out), "--summary-json", str(summary_path)], timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(summary_path.read_text())
    rel = lambda s: str(Path(s).relative_to(mixed_folder))  # noqa: E731
    fate: dict[str, str] = {}
    for row in map(json.loads, out.read_text().splitlines()):
        fate[rel(row["source"])] = "predicted"
    for item in summary["errors"]:
        assert rel(item["source"]) not in fate
        fate[rel(item["source"])] = "error"
    for item in summary["skipped"]:
        assert rel(item["source"]) not in fate
        fate[rel(item["source"])] = "skipped"
    assert fate == EXPECTED  # every file once: 0 silent drops
    assert ("anim.gif", "first_frame_only") in [(rel(n["source"]), n["note"]) for n in summary["notes"]]
    errors = {rel(e["source"]): e["error"] for e in summary["errors"]}
    assert "HEIC" in errors["photo.heic"].upper() and "no video frame could be decoded" in errors["empty.avi"]
    assert summary["files"] == 6 and summary["frames"] == 4
    assert "skipped 3 file(s)" in done.stdout
    assert "note: first_frame_only: " in done.stderr and "anim.gif" in done.stderr
    assert "skipped: " in done.stderr and "notes.txt" in done.stderr


def test_zero_frame_video_is_an_error_in_the_api(tmp_path: Path, weights_file: Path) -> None:
    from affectlab.inference import Predictor
    from affectlab.inference.runner import run_predict

    video = _zero_frame_video(tmp_path / "empty.avi")
    predictor = Predictor.load(weights_file, detector="none")
    summary = run_predict(predictor, [video], detect=False)
    assert summary.frames == 0 and len(summary.errors) == 1
    assert "no video frame could be decoded" in summary.errors[0][1]
    with pytest.raises(AffectlabError, match="no video frame could be decoded"):
        list(predictor.predict_video(video))


@pytest.mark.parametrize("name", ["faces.txt", "faces", "faces.JSON"])
def test_unknown_out_suffix_is_refused_before_the_model_loads(tmp_path: Path, name: str) -> None:
    """The model path does not exist: the --out error must come first (it used to come after loading)."""
    good_image(tmp_path / "a.jpg")
    done = run_cli(["predict", str(tmp_path / "missing.safetensors"), str(tmp_path / "a.jpg"), "--out",
                    str(tmp_path / name)], timeout=120)  # fmt: skip
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: --out") and ".jsonl or .csv" in last, done.stderr[-1000:]
    assert not (tmp_path / name).exists()


def test_scan_inputs_reports_what_it_leaves_out(mixed_folder: Path) -> None:
    from affectlab.inference.sources import scan_inputs

    scan = scan_inputs([mixed_folder])
    names = {str(p.relative_to(mixed_folder)) for p in scan.files}
    assert names == {k for k, v in EXPECTED.items() if v != "skipped"}
    reasons = {Path(s).name: r for s, r in scan.skipped}
    assert reasons == {
        "notes.txt": "not an image or video by its suffix .txt",
        "README": "not an image or video by its suffix (no suffix)",
        ".DS_Store": "hidden file",
    }
