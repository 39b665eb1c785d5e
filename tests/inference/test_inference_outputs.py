"""A predict run over folders and videos: JSONL/CSV columns, corrupt files, no-face counts, annotations."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from affectlab.errors import AffectlabError
from affectlab.inference import Predictor, result_columns
from affectlab.inference.annotate import Timeline, draw_faces
from affectlab.inference.runner import run_predict
from affectlab.inference.sources import collect_inputs
from affectlab.labels import AFFECTNET_CLASSES

COLUMNS = [
    "source",
    "frame",
    "time_s",
    "face",
    "track",
    "box_x",
    "box_y",
    "box_w",
    "box_h",
    "score",
    "expression",
    *(f"prob_{c}" for c in AFFECTNET_CLASSES),
    "valence",
    "arousal",
    "uncertain",
]


def test_documented_columns() -> None:
    assert result_columns(AFFECTNET_CLASSES) == COLUMNS


def test_collect_inputs_recurses_by_suffix(photo_folder: Path) -> None:
    names = [p.name for p in collect_inputs([photo_folder])]
    assert names == ["astronaut.png", "coffee.png", "broken.jpg"]
    with pytest.raises(AffectlabError, match="nowhere"):
        collect_inputs([photo_folder / "nowhere"])


def test_folder_with_corrupt_image_reports_it_and_goes_on(
    standin_predictor: Predictor, photo_folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "results.jsonl"
    summary = run_predict(standin_predictor, collect_inputs([photo_folder]), out=out)
    assert summary.files == 3 and summary.frames == 2 and summary.faces == 1 and summary.no_face == 1
    assert len(summary.errors) == 1 and summary.errors[0][0].endswith("broken.jpg")
    assert "broken.jpg" in caplog.text
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 1 and list(rows[0]) == COLUMNS
    assert rows[0]["source"].endswith("astronaut.png") and rows[0]["time_s"] is None
    assert sum(rows[0][f"prob_{c}"] for c in AFFECTNET_CLASSES) == pytest.approx(1.0, abs=1e-5)
    assert summary.to_dict()["errors"][0]["source"].endswith("broken.jpg")


def test_csv_rows_for_images_and_video(
    standin_predictor: Predictor, photo_folder: Path, sample_video: Path, tmp_path: Path
) -> None:
    out = tmp_path / "results.csv"
    summary = run_predict(
        standin_predictor, [photo_folder / "astronaut.png", sample_video], out=out, stride=2
    )
    assert summary.videos == 1 and summary.frames == 4 and summary.faces == 4
    with out.open(newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == COLUMNS
    video_rows = [r for r in rows if r["source"].endswith("clip.avi")]
    assert [int(r["frame"]) for r in video_rows] == [0, 2, 4]
    assert [float(r["time_s"]) for r in video_rows] == pytest.approx([0.0, 0.2, 0.4])
    assert rows[0]["time_s"] == ""  # still images have no time
    for r in rows:
        assert r["expression"] in AFFECTNET_CLASSES
        assert -1 <= float(r["valence"]) <= 1 and float(r["box_w"]) > 0


def test_unknown_output_suffix(standin_predictor: Predictor, photo_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(AffectlabError, match=r"results\.txt"):
        run_predict(standin_predictor, [photo_folder / "astronaut.png"], out=tmp_path / "results.txt")


def test_annotate_writes_images_video_and_timeline(
    standin_predictor: Predictor, photo_folder: Path, sample_video: Path, tmp_path: Path
) -> None:
    import cv2

    ann = tmp_path / "annotated"
    paths = [*collect_inputs([photo_folder]), sample_video]
    summary = run_predict(standin_predictor, paths, annotate_dir=ann)
    assert len(summary.errors) == 1
    drawn = cv2.imread(str(next(ann.rglob("astronaut.png"))))
    assert drawn is not None and drawn.shape == (512, 512, 3)
    assert (next(ann.rglob("coffee.png"))).is_file()
    video = next(ann.rglob("clip.mp4"))
    cap = cv2.VideoCapture(str(video))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    cap.release()
    timeline = next(ann.rglob("clip_timeline.png"))
    assert cv2.imread(str(timeline)).shape[1] == 1100  # the per-track timeline (tracking is on)
    tracks = json.loads(next(ann.rglob("clip_tracks.json")).read_text())
    assert tracks["frames"] == 6 and [t["track"] for t in tracks["tracks"]] == [1]
    assert tracks["tracks"][0]["frames_seen"] == 6
    assert cv2.imread(str(next(ann.rglob("clip_va.png")))) is not None
    assert [t["track"] for t in summary.tracks[str(sample_video)]] == [1]


def test_draw_faces_changes_pixels_inside_the_box(standin_predictor: Predictor, astronaut) -> None:
    faces = standin_predictor.predict_image(astronaut)
    drawn = draw_faces(astronaut, faces)
    assert drawn.shape == astronaut.shape and not np.array_equal(drawn, astronaut)
    assert np.array_equal(drawn[400:, :100], astronaut[400:, :100])  # far from the face: untouched


def test_timeline_handles_frames_without_faces(tmp_path: Path) -> None:
    from affectlab.inference.results import FrameResult

    timeline = Timeline(AFFECTNET_CLASSES)
    timeline.add(FrameResult("v.mp4", 0, 0.0, []))
    assert timeline.save(tmp_path / "t.png").stat().st_size > 0
