"""Broken and hostile annotation files in every layout: each one counted with its reason, or one `error:` line
naming the file (and CSV line) and what was expected; never a traceback, a MemoryError or a silent drop."""

from __future__ import annotations

import ast
import struct
from pathlib import Path

import numpy as np
import pytest
from fault_helpers import good_image, run_cli
from test_faults_labels import GOOD, OFFICIAL_HEADER, _csv, make_layout

from affectlab.data import prepare, validate_dataset
from affectlab.errors import AffectlabError


def _npy_with_header(header: dict[str, object], data: bytes = b"") -> bytes:
    """A .npy file (version 1.0) with a hand-written header dict and the given data bytes."""
    text = repr(header).encode("latin1")
    pad = 64 - (10 + len(text) + 1) % 64
    text += b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + data


def _pickled_npy(payload: object = None) -> bytes:
    """An object-dtype .npy (its data is a pickle); with an Exploit payload, loading it would run code."""
    import io

    buf = io.BytesIO()
    arr = np.empty(1, dtype=object)
    arr[0] = {"x": 1} if payload is None else payload
    np.lib.format.write_array(buf, arr, allow_pickle=True)
    return buf.getvalue()


#: name -> bytes of a broken annotation .npy, and the words its reason must contain.
BAD_NPY: dict[str, tuple[bytes, str]] = {
    "zero_bytes": (b"", "empty"),
    "not_npy": (b"just some text\n", "not a .npy"),
    "huge_shape": (
        _npy_with_header({"descr": "<f8", "fortran_order": False, "shape": (100_000_000_000,)}),
        "declares",
    ),
    "huge_string": (
        _npy_with_header({"descr": "<U200000000", "fortran_order": False, "shape": ()}),
        "declares",
    ),
    "truncated_data": (
        _npy_with_header({"descr": "<f8", "fortran_order": False, "shape": (136,)}, b"\0" * 80),
        "truncated",
    ),
    "object_pickle": (_pickled_npy(), "object"),
    "bad_header": (b"\x93NUMPY\x01\x00" + struct.pack("<H", 6) + b"{oops\n", "header"),
}


@pytest.mark.parametrize("case", sorted(BAD_NPY))
@pytest.mark.parametrize("field", ["exp", "val"])
def test_broken_annotation_npy_is_counted_or_a_strict_error(tmp_path: Path, case: str, field: str) -> None:
    data, words = BAD_NPY[case]
    root, _ = make_layout("repackaged", tmp_path / "ds", GOOD)
    target = root / "train_set" / "annotations" / f"1_{field}.npy"
    target.write_bytes(data)
    report = validate_dataset(root, workers=0)
    assert {k: v.count for k, v in report.rejected.items()} == {"bad_annotation": 1}
    assert words in report.rejected["bad_annotation"].examples[0], report.rejected["bad_annotation"].examples
    assert report.total("train") == 2
    with pytest.raises(AffectlabError, match=rf"1_{field}\.npy.*{words}"):
        validate_dataset(root, strict=True, workers=0)


def test_pickled_npy_never_runs(tmp_path: Path) -> None:
    from fault_helpers import Exploit

    marker = tmp_path / "pwned"
    root, _ = make_layout("repackaged", tmp_path / "ds", GOOD)
    for name in ("1_exp.npy", "2_lnd.npy"):
        (root / "train_set" / "annotations" / name).write_bytes(_pickled_npy(Exploit(str(marker))))
    validate_dataset(root, workers=0)
    prepare(root, tmp_path / "store", 16, workers=0, progress=False)
    assert not marker.exists()


@pytest.mark.parametrize("case", ["zero_bytes", "huge_shape", "object_pickle"])
def test_broken_landmarks_npy_is_noted_and_the_image_kept(tmp_path: Path, case: str) -> None:
    root, _ = make_layout("repackaged", tmp_path / "ds", GOOD)
    (root / "train_set" / "annotations" / "0_lnd.npy").write_bytes(BAD_NPY[case][0])
    report = validate_dataset(root, workers=0)
    assert report.total("train") == 3 and report.notes["bad_landmarks"].count == 1
    with pytest.raises(AffectlabError, match=r"0_lnd\.npy"):
        validate_dataset(root, strict=True, workers=0)


@pytest.mark.parametrize("command", ["validate", "prepare"])
def test_zero_byte_npy_through_the_cli(tmp_path: Path, command: str) -> None:
    """Was a bare "Aborted." (numpy's EOFError reached click); now a counted skip, or one error line."""
    root, _ = make_layout("repackaged", tmp_path / "ds", GOOD)
    (root / "train_set" / "annotations" / "1_exp.npy").write_bytes(b"")
    extra = [str(tmp_path / "store"), "--size", "16"] if command == "prepare" else []
    done = run_cli([command, str(root), *extra, "--workers", "0"], timeout=120)
    assert done.returncode == 0, done.stderr
    assert "bad_annotation" in done.stdout and "Aborted" not in done.stdout + done.stderr
    done = run_cli([command, str(root), *extra, "--workers", "0", "--strict"], timeout=120)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "1_exp.npy" in last and "empty" in last, done.stderr


# ------------------------------------------------------------------------------------------- CSV lists
def _official(root: Path) -> Path:
    root, _ = make_layout("official", root, GOOD)
    return root / "Manually_Annotated_file_lists" / "training.csv"


def _manifest(root: Path) -> Path:
    root, _ = make_layout("manifest", root, GOOD)
    return root / "train.csv"


CSVS = {"official": _official, "manifest": _manifest}


def _replace_line(csv_path: Path, line: int, text: bytes) -> None:
    lines = csv_path.read_bytes().splitlines(keepends=True)
    lines[line - 1] = text + b"\r\n"
    csv_path.write_bytes(b"".join(lines))


@pytest.mark.parametrize("kind", sorted(CSVS))
def test_non_utf8_byte_names_the_line(tmp_path: Path, kind: str) -> None:
    csv_path = CSVS[kind](tmp_path / kind)
    line = csv_path.read_bytes().splitlines()[2]  # the second data row, line 3
    _replace_line(csv_path, 3, line.replace(b"1.jpg", b"1\xe9.jpg"))
    report = validate_dataset(csv_path.parent if kind == "manifest" else tmp_path / kind, workers=0)
    assert {k: v.count for k, v in report.rejected.items()} == {"bad_encoding": 1}
    assert f"{csv_path.name}:3" in report.rejected["bad_encoding"].examples[0]
    assert report.total("train") == 2
    with pytest.raises(AffectlabError, match=rf"{csv_path.name}:3: .*UTF-8"):
        validate_dataset(tmp_path / kind, strict=True, workers=0)


@pytest.mark.parametrize("kind", sorted(CSVS))
def test_huge_cell_is_a_clear_error_with_the_line(tmp_path: Path, kind: str) -> None:
    """A 50 MB cell: one error naming file and line, read in bounded memory (no csv.Error traceback)."""
    csv_path = CSVS[kind](tmp_path / kind)
    with csv_path.open("ab") as fh:
        fh.write(b"img/9.jpg," + b"7" * 50_000_000 + b",0.1,0.1\r\n")
    for strict in (False, True):
        with pytest.raises(AffectlabError, match=rf"{csv_path.name}:5: .*longer than"):
            validate_dataset(tmp_path / kind, strict=strict, workers=0)


def test_huge_quoted_cell_across_lines_is_a_clear_error(tmp_path: Path) -> None:
    """The sibling: a quoted cell that spans many short lines goes past csv's field limit instead."""
    csv_path = _manifest(tmp_path / "m")
    with csv_path.open("a") as fh:
        fh.write('img/9.jpg,"' + "7\n" * 200_000 + '",0.1,0.1\n')
    with pytest.raises(AffectlabError, match=rf"{csv_path.name}:\d+: .*field"):
        validate_dataset(tmp_path / "m", workers=0)


@pytest.mark.parametrize("kind", sorted(CSVS))
def test_short_and_long_rows_are_counted_as_such(tmp_path: Path, kind: str) -> None:
    """Was reported as a bad box (official) or read with missing labels (manifest)."""
    csv_path = CSVS[kind](tmp_path / kind)
    lines = csv_path.read_bytes().splitlines()
    _replace_line(csv_path, 2, b",".join(lines[1].split(b",")[:3]))
    _replace_line(csv_path, 4, lines[3] + b",extra,cells")
    report = validate_dataset(tmp_path / kind, workers=0)
    assert {k: v.count for k, v in report.rejected.items()} == {"bad_row": 2}, report.rejected
    examples = " ".join(report.rejected["bad_row"].examples)
    assert "3 of the" in examples and "more cells than" in examples
    with pytest.raises(AffectlabError, match=rf"{csv_path.name}:2: .*3 of the \d+ columns"):
        validate_dataset(tmp_path / kind, strict=True, workers=0)


@pytest.mark.parametrize("path", ["../outside.jpg", "1/../../outside.jpg", "/etc/passwd", "ABSOLUTE"])
def test_official_paths_outside_the_image_root_are_refused(tmp_path: Path, path: str) -> None:
    root, _ = make_layout("official", tmp_path / "ds", GOOD)
    outside = good_image(tmp_path / "ds" / "outside.jpg", seed=99)
    if path == "ABSOLUTE":
        path = str(outside)
    csv_path = root / "Manually_Annotated_file_lists" / "training.csv"
    with csv_path.open("a") as fh:
        fh.write(f"{path},0,0,48,48,,1,0.1,0.1\n")
    opened: list[str] = []
    import affectlab.data.validation as validation

    original = validation.load_face

    def spy(p: Path, *a: object, **k: object) -> object:
        opened.append(str(p))
        return original(p, *a, **k)

    validation.load_face = spy  # type: ignore[assignment]
    try:
        report = validate_dataset(root, workers=0)
    finally:
        validation.load_face = original
    assert {k: v.count for k, v in report.rejected.items()} == {"path_outside_root": 1}
    assert report.total("train") == 3
    assert not any(p.endswith(("outside.jpg", "passwd")) for p in opened), opened
    with pytest.raises(AffectlabError, match=r"training\.csv:5: .*outside"):
        validate_dataset(root, strict=True, workers=0)


def test_header_only_list_warns_that_the_split_is_empty(tmp_path: Path) -> None:
    root, _ = make_layout("official", tmp_path / "ds", GOOD)
    _csv(root / "Manually_Annotated_file_lists" / "validation.csv", OFFICIAL_HEADER, [])
    report = validate_dataset(root, workers=0)
    assert any("val split has no usable sample" in w for w in report.warnings), report.warnings
    out = prepare(root, tmp_path / "store", 16, workers=0, progress=False)
    import json

    assert any("val split" in w for w in json.loads((out / "validation_report.json").read_text())["warnings"])
    with pytest.raises(AffectlabError, match=r"val split has no usable sample"):
        validate_dataset(root, strict=True, workers=0)
    done = run_cli(["validate", str(root), "--workers", "0"], timeout=120)
    assert done.returncode == 0 and "val split has no usable sample" in done.stdout + done.stderr


def test_prepare_with_no_decodable_image_is_an_error(tmp_path: Path) -> None:
    root, _ = make_layout("official", tmp_path / "ds", GOOD)
    for image in (root / "Manually_Annotated_Images" / "1").iterdir():
        image.write_bytes(b"not an image")
    with pytest.raises(AffectlabError, match=r"no image could be used.*not_an_image 3"):
        prepare(root, tmp_path / "store", 16, workers=0, progress=False)
    from affectlab.data import is_store

    assert not is_store(tmp_path / "store")
    done = run_cli(["prepare", str(root), str(tmp_path / "store2"), "--size", "16", "--workers", "0"], 120)
    assert done.returncode == 1 and done.stderr.strip().splitlines()[-1].startswith("error: ")


# ------------------------------------------------------------------------------------------ class folders
def _class_folders(root: Path) -> Path:
    for i, name in enumerate(["happy", "sad", "happy"]):
        good_image(root / "train" / name / f"{i}.jpg", seed=i)
    good_image(root / "val" / "sad" / "v.jpg", seed=50)
    return root


def test_same_file_name_in_two_class_folders_is_not_a_duplicate(tmp_path: Path) -> None:
    root = _class_folders(tmp_path / "ds")
    good_image(root / "train" / "sad" / "0.jpg", seed=7)  # a different image, same name as happy/0.jpg
    report = validate_dataset(root, workers=0)
    assert "duplicate_id" not in report.rejected
    assert report.total("train") == 4
    assert report.counts["train"]["sad"] == 2 and report.counts["train"]["happy"] == 2


def test_files_outside_class_folders_are_counted(tmp_path: Path) -> None:
    root = _class_folders(tmp_path / "ds")
    good_image(root / "train" / "loose.jpg", seed=20)  # directly under train/
    good_image(root / "train" / "happy" / "subject1" / "n.jpg", seed=21)  # nested: class from happy/
    (root / "train" / "happy" / ".DS_Store").write_bytes(b"\0\0")
    report = validate_dataset(root, workers=0)
    assert report.rejected["no_class_folder"].count == 1
    assert "loose.jpg" in report.rejected["no_class_folder"].examples[0]
    assert report.rejected["hidden_file"].count == 1
    assert report.notes["nested_file"].count == 1
    assert report.counts["train"]["happy"] == 3  # the nested image is kept, in its top-level class
    with pytest.raises(AffectlabError, match=r"loose\.jpg.*class folder"):
        validate_dataset(root, strict=True, workers=0)


def test_source_ids_of_class_folders_are_relative_paths(tmp_path: Path) -> None:
    root = _class_folders(tmp_path / "ds")
    good_image(root / "train" / "sad" / "0.jpg", seed=7)
    out = prepare(root, tmp_path / "store", 16, workers=0, progress=False)
    ids = (out / "train" / "ids.txt").read_text().split()
    assert sorted(ids) == ["happy/0.jpg", "happy/2.jpg", "sad/0.jpg", "sad/1.jpg"]
    assert len(set(ids)) == len(ids)


def test_npy_header_helper_matches_numpy_for_real_files(tmp_path: Path) -> None:
    """The header check reads what numpy writes (strings, numbers, landmarks) exactly as numpy does."""
    from affectlab.data.readers.repackaged import _load_npy

    for value in (np.array("3"), np.array(0.25), np.arange(136, dtype=np.float32), np.array(["1"])):
        np.save(tmp_path / "a.npy", value)
        loaded = _load_npy(tmp_path / "a.npy")
        assert loaded.dtype == value.dtype and np.array_equal(loaded, value)
    header = ast.literal_eval(BAD_NPY["huge_shape"][0][10:].decode("latin1").strip())
    assert header["shape"] == (100_000_000_000,)
