"""The prepared store: round trip against the raw layout, interrupted prepare, checks on open, and the CLI."""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from affectlab.cli import data_cmd
from affectlab.data import open_split, open_store, prepare
from affectlab.data.store_writer import _SplitWriter
from affectlab.errors import AffectlabError

HEADER = [
    "subDirectory_filePath", "face_x", "face_y", "face_width", "face_height",
    "facial_landmarks", "expression", "valence", "arousal",
]  # fmt: skip


def make_official(root: Path, n_train: int = 12, n_val: int = 4, bad: bool = True) -> Path:
    """An official-layout dataset of PNG faces (sizes and boxes vary), optionally with a truncated file."""
    rng = np.random.default_rng(0)
    for split, name, n in (("train", "training.csv", n_train), ("val", "validation.csv", n_val)):
        rows = []
        for i in range(n):
            w, h = int(rng.integers(36, 49)), int(rng.integers(36, 49))
            rel = f"{split}/{i}.png"
            path = root / "Manually_Annotated_Images" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
            x, y = int(rng.integers(0, 8)), int(rng.integers(0, 8))
            lnd = ";".join(str(v) for v in rng.uniform(0, 30, 136).round(2))
            rows.append([rel, x, y, 24, 28, lnd, i % 8, round(rng.uniform(-1, 1), 3), -2 if i == 1 else 0.25])
        if bad and split == "train":
            path = root / "Manually_Annotated_Images" / "train" / "bad.png"
            path.write_bytes((root / "Manually_Annotated_Images" / rows[0][0]).read_bytes()[:-40])
            rows.append(["train/bad.png", 0, 0, 20, 20, "", 1, 0.1, 0.1])
        lists = root / "Manually_Annotated_file_lists"
        lists.mkdir(parents=True, exist_ok=True)
        with (lists / name).open("w", newline="") as handle:
            csv.writer(handle).writerows([HEADER, *rows])
    return root


def test_round_trip_equals_raw_layout(tmp_path: Path) -> None:
    src = make_official(tmp_path / "src")
    out = prepare(src, tmp_path / "store", 24, margin=0.2, workers=0, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["splits"]["train"]["count"] == 12 and manifest["splits"]["val"]["count"] == 4
    assert manifest["rejected"] == {"truncated": 1} and manifest["source"]["layout"] == "official"
    assert manifest["image_size"] == 24 and manifest["class_names"][6] == "anger"
    assert (out / "validation_report.json").is_file()
    for split in ("train", "val"):
        stored = open_split(out, split)
        raw = open_split(src, split, size=24, margin=0.2, workers=0)
        assert len(stored) == len(raw) and stored.image_size == 24 and stored.class_names == raw.class_names
        order = np.array([3, 0, len(raw) - 1, 3, 1])  # unsorted, repeated
        a, b = stored.get_batch(order), raw.get_batch(order)
        for key in ("image", "expression", "index"):
            assert np.array_equal(a[key], b[key]), key
        for key in ("valence", "arousal"):
            np.testing.assert_array_equal(a[key], b[key])
        assert stored.ids() == raw.ids()  # type: ignore[attr-defined]
    train = open_split(out, "train")
    assert np.isnan(train.labels()["arousal"][1]) and train.landmarks().shape == (12, 68, 2)
    clone = pickle.loads(pickle.dumps(train))
    assert len(pickle.dumps(train)) < 20_000  # images are not pickled, only re-mapped
    assert np.array_equal(clone.get_batch(np.array([2]))["image"], train.get_batch(np.array([2]))["image"])
    assert train[5]["image"].shape == (24, 24, 3)


def test_pool_matches_in_process(tmp_path: Path) -> None:
    src = make_official(tmp_path / "src", n_train=80, n_val=3, bad=False)
    one = prepare(src, tmp_path / "one", 16, workers=0, progress=False)
    two = prepare(src, tmp_path / "two", 16, workers=2, progress=False)
    for split in ("train", "val"):
        assert (one / split / "images.npy").read_bytes() == (two / split / "images.npy").read_bytes()


def test_interrupted_prepare_never_looks_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_official(tmp_path / "src")
    out = prepare(src, tmp_path / "store", 16, workers=0, progress=False)
    calls = {"n": 0}
    original = _SplitWriter.add

    def crash_after_five(self: _SplitWriter, record: object, pixels: np.ndarray) -> None:
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt  # what Ctrl-C or a kill mid-run looks like to the writer
        original(self, record, pixels)  # type: ignore[arg-type]

    monkeypatch.setattr(_SplitWriter, "add", crash_after_five)
    with pytest.raises(KeyboardInterrupt):
        prepare(src, out, 16, workers=0, progress=False)  # a rebuild over a complete store
    assert not (out / "manifest.json").exists()
    with pytest.raises(AffectlabError, match="incomplete store"):
        open_store(out)
    with pytest.raises(AffectlabError, match="incomplete"):
        open_split(out, "train")
    monkeypatch.setattr(_SplitWriter, "add", original)
    prepare(src, out, 16, workers=0, progress=False)
    assert len(open_store(out).split("train")) == 12


def test_store_checks_on_open(tmp_path: Path) -> None:
    src = make_official(tmp_path / "src")
    out = prepare(src, tmp_path / "store", 16, num_classes=7, workers=0, progress=False)
    assert open_store(out).class_names[-1] == "anger"
    assert open_store(out).report().rejected["contempt_dropped"].count == 1
    with pytest.raises(AffectlabError, match="prepared with 7 classes"):
        open_split(out, "train", num_classes=8)
    with pytest.raises(AffectlabError, match="images are 16 px"):
        open_split(out, "train", size=32, num_classes=7)
    with pytest.raises(AffectlabError, match="no 'test' split"):
        open_split(out, "test", num_classes=7)
    labels = out / "train" / "labels.npz"
    labels.write_bytes(labels.read_bytes() + b"x")
    with pytest.raises(AffectlabError, match=r"labels\.npz: checksum differs"):
        open_store(out)


def _digest_by_hand(images: np.ndarray) -> str:
    """The store's image checksum from an in-memory array: its shape, then 64 evenly spaced rows."""
    import hashlib

    digest = hashlib.sha256(repr(images.shape).encode())
    for row in sorted({int(v) for v in np.linspace(0, len(images) - 1, min(len(images), 64))}):
        digest.update(images[row].tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize("count", [0, 1, 5, 300])
def test_image_checksum_reads_the_rows_it_covers(tmp_path: Path, count: int) -> None:
    from affectlab.data.store import file_sample_digest

    images = np.random.default_rng(count).integers(0, 256, (count, 4, 4, 3), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    assert file_sample_digest(tmp_path / "images.npy") == (
        (count, 4, 4, 3),
        np.uint8,
        _digest_by_hand(images),
    )


def test_store_images_checked_on_open_without_a_memory_map(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = make_official(tmp_path / "src", bad=False)
    out = prepare(src, tmp_path / "store", 16, workers=0, progress=False)
    images = out / "train" / "images.npy"
    pristine = images.read_bytes()
    expected = np.load(images)

    def no_map(*args: object, **kwargs: object) -> None:
        raise AssertionError("the store was memory-mapped")

    # opening, verifying and reading a store maps nothing: the OS may map whole 2 MiB folios per touch
    monkeypatch.setattr(np.memmap, "__new__", no_map)
    np.testing.assert_array_equal(open_store(out).split("train").get_batch(np.arange(12))["image"], expected)
    images.write_bytes(pristine[:-1])  # one byte short
    with pytest.raises(AffectlabError, match=r"images\.npy: unreadable .*re-run `affectlab prepare`"):
        open_store(out)
    flipped = bytearray(pristine)
    flipped[-1] ^= 1  # the last row is always in the sample
    images.write_bytes(bytes(flipped))
    with pytest.raises(AffectlabError, match=r"images\.npy: image checksum differs"):
        open_store(out)
    np.save(images, expected[:, :8])
    with pytest.raises(AffectlabError, match=r"shape \(12, 8, 16, 3\) uint8, expected \(12, 16, 16, 3\)"):
        open_store(out)
    images.write_bytes(b"not an array")
    with pytest.raises(AffectlabError, match=r"images\.npy: unreadable"):
        open_store(out)


def test_prepare_refuses_foreign_folder_and_bad_size(tmp_path: Path) -> None:
    src = make_official(tmp_path / "src", n_train=2, n_val=1, bad=False)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.tex").write_text("precious")
    with pytest.raises(AffectlabError, match="not an affectlab store"):
        prepare(src, tmp_path / "busy", 16, workers=0, progress=False)
    with pytest.raises(AffectlabError, match="--size"):
        prepare(src, tmp_path / "x", 2, workers=0, progress=False)


def test_cli_validate_and_prepare(tmp_path: Path) -> None:
    src = make_official(tmp_path / "src", n_train=4, n_val=2)
    app = typer.Typer()
    data_cmd.register(app)
    runner = CliRunner()
    report = tmp_path / "report.json"
    result = runner.invoke(app, ["validate", str(src), "--report", str(report), "--workers", "0"])
    assert result.exit_code == 0, result.output
    assert "truncated" in result.output and "happy" in result.output
    assert json.loads(report.read_text())["rejected"]["truncated"]["count"] == 1
    result = runner.invoke(app, ["prepare", str(src), str(tmp_path / "st"), "--size", "16", "--workers", "0"])
    assert result.exit_code == 0, result.output
    assert "store written to" in result.output and len(open_split(tmp_path / "st", "val")) == 2
    result = runner.invoke(app, ["validate", str(src), "--strict", "--workers", "0"])
    assert isinstance(result.exception, AffectlabError) and "bad.png" in str(result.exception)
