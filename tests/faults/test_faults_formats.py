"""The other dataset formats get the same guarantees as the AffectNet lists: a FER2013 / FER+ CSV with a
non-UTF-8 byte or an enormous cell is counted or refused naming file:line (never a traceback), and ExpW /
RAF-DB image names that lead outside the image folder are refused without being opened."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_helpers import good_image, run_cli

from affectlab.data import validate_dataset
from affectlab.data.synth_formats import generate_format
from affectlab.errors import AffectlabError

PIXELS = " ".join(str(i % 251) for i in range(48 * 48))
VOTES = ["0", "10", "0", "0", "0", "0", "0", "0", "0", "0"]  # every FER+ row: a clear happiness majority
PLUS_COLUMNS = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"]


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _fer(root: Path, plus: bool) -> Path:
    """fer2013.csv (and fer2013new.csv for FER+) with 4 good Training rows, lines 2-5."""
    root.mkdir(parents=True)
    pixels = [PIXELS.replace("0", str(i), 1) for i in range(1, 5)]  # distinct faces: no duplicate notes
    _write(root / "fer2013.csv", ["emotion", "pixels", "Usage"], [["3", p, "Training"] for p in pixels])
    if plus:
        header = ["Usage", "Image name", *PLUS_COLUMNS, "unknown", "NF"]
        _write(root / "fer2013new.csv", header, [["Training", f"fer{i:07d}.png", *VOTES] for i in range(4)])
    return root


#: (layout, the CSV that gets the fault)
FER_FILES = [("fer2013", "fer2013.csv"), ("ferplus", "fer2013new.csv"), ("ferplus", "fer2013.csv")]


@pytest.mark.parametrize(("layout", "name"), FER_FILES)
def test_fer_non_utf8_byte_is_counted_with_its_line(tmp_path: Path, layout: str, name: str) -> None:
    """Was: a raw UnicodeDecodeError traceback from `affectlab validate`."""
    root = _fer(tmp_path / "ds", layout == "ferplus")
    lines = (root / name).read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b"Training", b"Train\xffing")  # line 3
    (root / name).write_bytes(b"".join(lines))
    report = validate_dataset(root, workers=0)
    assert {k: v.count for k, v in report.rejected.items()} == {"bad_encoding": 1}, report.rejected
    assert report.rejected["bad_encoding"].examples[0].startswith(f"{root / name}:3: ")
    assert "0xff" in report.rejected["bad_encoding"].examples[0]
    assert report.total("train") == 3  # the rest is read
    with pytest.raises(AffectlabError, match=rf"{name}:3: .*UTF-8"):
        validate_dataset(root, strict=True, workers=0)


@pytest.mark.parametrize(("layout", "name"), FER_FILES)
def test_fer_huge_cell_is_one_error_naming_the_line(tmp_path: Path, layout: str, name: str) -> None:
    """Was: a raw `_csv.Error: field larger than field limit` traceback (a 50 MB cell)."""
    root = _fer(tmp_path / "ds", layout == "ferplus")
    with (root / name).open("ab") as handle:
        handle.write(b"3," + b"7" * 50_000_000 + b",Training\r\n")  # line 6
    with pytest.raises(AffectlabError, match=rf"{name}:6: .*longer than"):
        validate_dataset(root, workers=0)


def test_fer2013_faults_through_the_cli(tmp_path: Path) -> None:
    """`affectlab validate` itself: the bad byte is a counted line, the huge cell one `error:` line."""
    root = _fer(tmp_path / "ds", plus=False)
    csv_path = root / "fer2013.csv"
    csv_path.write_bytes(csv_path.read_bytes().replace(b"Training", b"Train\xffing", 1))
    done = run_cli(["validate", str(root), "--workers", "0"], timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "bad_encoding" in done.stdout + done.stderr and "fer2013.csv:2" in done.stdout + done.stderr
    with csv_path.open("ab") as handle:
        handle.write(b"3," + b"7" * 50_000_000 + b",Training\r\n")
    done = run_cli(["validate", str(root), "--workers", "0"], timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: {csv_path}:6: ")


# ------------------------------------------------------------------------------------ image paths
@pytest.fixture
def opened() -> Iterator[list[str]]:
    """The image files the validation opens (a spy on affectlab.data.validation.load_face)."""
    import affectlab.data.validation as validation

    paths: list[str] = []
    original = validation.load_face

    def spy(p: Path, *a: object, **k: object) -> object:
        paths.append(str(p))
        return original(p, *a, **k)

    validation.load_face = spy  # type: ignore[assignment]
    try:
        yield paths
    finally:
        validation.load_face = original


def test_expw_paths_outside_the_image_root_are_refused(tmp_path: Path, opened: list[str]) -> None:
    """Was: `../../../outside.jpg` and absolute names were opened (0 rejected)."""
    root = generate_format(tmp_path / "expw", "expw", per_split=2, size=64)
    outside = good_image(tmp_path / "outside.jpg", seed=99, size=120)
    label = root / "label" / "label.lst"
    good = len(label.read_text().splitlines())
    with label.open("a") as handle:
        for name in ("../../../outside.jpg", str(outside)):
            handle.write(f"{name} 0 10 10 60 60 30.0 3\n")
    report = validate_dataset(root, workers=0)
    assert {k: v.count for k, v in report.rejected.items()} == {"path_outside_root": 2}, report.rejected
    assert f"label.lst:{good + 1}: " in report.rejected["path_outside_root"].examples[0]
    assert sum(report.total(s) for s in ("train", "val", "test")) == good
    assert opened and not any(p.endswith("outside.jpg") for p in opened), opened
    with pytest.raises(AffectlabError, match=rf"label\.lst:{good + 1}: .*outside"):
        validate_dataset(root, strict=True, workers=0)


def test_rafdb_names_outside_the_image_root_are_refused(tmp_path: Path, opened: list[str]) -> None:
    """A `train_` name can still climb out of Image/original through a folder of that prefix."""
    root = generate_format(tmp_path / "raf", "rafdb-original", per_split=2, size=64)
    base = root / "basic"
    (base / "Image" / "original" / "train_x").mkdir()
    good_image(base / "outside.jpg", seed=99, size=64)
    (base / "Annotation" / "boundingbox" / "outside_boundingbox.txt").write_text("0 0 40 40\n")
    label = base / "EmoLabel" / "list_patition_label.txt"
    good = len(label.read_text().splitlines())
    with label.open("a") as handle:
        handle.write("train_x/../../../outside.jpg 4\n")
    report = validate_dataset(root, workers=0)
    assert {k: v.count for k, v in report.rejected.items()} == {"path_outside_root": 1}, report.rejected
    assert report.total("train") + report.total("test") == good
    assert opened and not any(p.endswith("outside.jpg") for p in opened), opened
