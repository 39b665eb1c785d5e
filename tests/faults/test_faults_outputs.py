"""`prepare` writes only into an empty folder or an affectlab store, never onto or around its own source, and
deletes nothing it did not write (every layout, the CLI and the Python API)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fault_helpers import good_image, run_cli

from affectlab.data import is_store, open_store, prepare
from affectlab.errors import AffectlabError


def _folders(root: Path, n: int = 3) -> Path:
    """A class-folders dataset: train/<class>/*.jpg and val/<class>/*.jpg."""
    for split, offset in (("train", 0), ("val", 100)):
        for i in range(n):
            good_image(root / split / ("happy" if i % 2 else "sad") / f"{split}{i}.jpg", seed=offset + i)
    return root


def _repackaged(root: Path, n: int = 3) -> Path:
    import numpy as np

    for split, offset in (("train_set", 0), ("val_set", 100)):
        ann = root / split / "annotations"
        ann.mkdir(parents=True)
        for i in range(n):
            good_image(root / split / "images" / f"{i}.jpg", seed=offset + i)
            for key, value in (("exp", str(i % 8)), ("val", "0.1"), ("aro", "0.2")):
                np.save(ann / f"{i}_{key}.npy", np.array(value))
    return root


def _manifest(root: Path, n: int = 3) -> Path:
    lines = ["path,expression,valence,arousal,split"]
    for i in range(n):
        good_image(root / "img" / f"{i}.jpg", seed=i)
        lines.append(f"img/{i}.jpg,{i % 8},0.1,0.2,{'val' if i == n - 1 else 'train'}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root / "labels.csv"


def _files(root: Path) -> dict[str, bytes]:
    """Every file under root with its bytes (what must survive)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


LAYOUTS = {"folders": _folders, "repackaged": _repackaged, "manifest": _manifest}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_prepare_onto_its_own_source_is_refused(tmp_path: Path, layout: str) -> None:
    """Output = source, a folder inside the source, or a folder that contains the source: refused, nothing
    deleted, nothing written."""
    src = LAYOUTS[layout](tmp_path / "ds")
    root = tmp_path / "ds"
    before = _files(root)
    targets = [root, root / "train", root / "store", tmp_path]
    if layout == "manifest":
        targets = [root, root / "img", tmp_path]
    for out in targets:
        with pytest.raises(AffectlabError, match="source") as info:
            prepare(src, out, 16, workers=0, progress=False)
        assert str(out.resolve()) in str(info.value) or str(out) in str(info.value)
        assert _files(root) == before, f"prepare {src} {out} changed the source"
    assert not (root / "store").exists()


def test_prepare_cli_onto_its_source_is_an_error_line(tmp_path: Path) -> None:
    src = _folders(tmp_path / "ds")
    before = _files(src)
    done = run_cli(["prepare", str(src), str(src), "--size", "16", "--workers", "0"], timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in done.stderr
    assert _files(src) == before


@pytest.mark.parametrize("victim_layout", ["folders", "repackaged"])
def test_prepare_onto_another_dataset_deletes_nothing(tmp_path: Path, victim_layout: str) -> None:
    """`prepare OTHER VICTIM` where VICTIM holds a dataset (train/ and val/, or train_set/): refused."""
    src = _folders(tmp_path / "src")
    victim = LAYOUTS[victim_layout](tmp_path / "victim")
    before = _files(victim)
    with pytest.raises(AffectlabError, match="not empty and not an affectlab store"):
        prepare(src, victim, 16, workers=0, progress=False)
    assert _files(victim) == before


def test_store_like_folders_without_a_manifest_are_not_deleted(tmp_path: Path) -> None:
    """A folder with only train/ and val/ sub-folders (the old rule took it for a store) is someone's data."""
    src = _folders(tmp_path / "src")
    victim = tmp_path / "victim"
    (victim / "train").mkdir(parents=True)
    (victim / "val").mkdir()
    (victim / "train" / "images.npy").write_bytes(b"my own array")
    (victim / "val" / "notes.txt").write_text("mine")
    before = _files(victim)
    with pytest.raises(AffectlabError, match="not empty and not an affectlab store"):
        prepare(src, victim, 16, workers=0, progress=False)
    assert _files(victim) == before


def test_a_store_is_rebuilt_but_foreign_files_in_it_are_kept(tmp_path: Path) -> None:
    src = _folders(tmp_path / "src")
    out = prepare(src, tmp_path / "store", 16, workers=0, progress=False)
    assert is_store(out)
    prepare(src, out, 16, workers=0, progress=False)  # a rebuild over a complete store works
    assert is_store(out)
    (out / "train" / "my_notes.txt").write_text("mine")
    with pytest.raises(AffectlabError, match="my_notes.txt"):
        prepare(src, out, 16, workers=0, progress=False)
    assert (out / "train" / "my_notes.txt").read_text() == "mine"
    assert is_store(out), "a refused rebuild must leave the store as it was"
    (out / "train" / "my_notes.txt").unlink()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(AffectlabError, match="thesis.tex"):
        prepare(src, out, 16, workers=0, progress=False)
    assert (out / "thesis.tex").read_text() == "precious"


def test_a_split_folder_the_manifest_does_not_list_is_not_deleted(tmp_path: Path) -> None:
    """A store of train only, with a val/ folder someone added: that val/ is not affectlab's."""
    src = _folders(tmp_path / "src")
    out = prepare(src, tmp_path / "store", 16, workers=0, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["splits"]["val"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    before = _files(out / "val")
    with pytest.raises(AffectlabError, match="val"):
        prepare(src, out, 16, workers=0, progress=False)
    assert _files(out / "val") == before


def test_a_foreign_manifest_does_not_make_a_store(tmp_path: Path) -> None:
    """A manifest.json that does not say "format": "affectlab-store" (a web app's, say) is not ours."""
    src = _folders(tmp_path / "src")
    victim = tmp_path / "webapp"
    (victim / "train").mkdir(parents=True)
    (victim / "train" / "model.bin").write_bytes(b"weights")
    (victim / "manifest.json").write_text('{"name": "my app", "splits": {"train": {}}}')
    before = _files(victim)
    with pytest.raises(AffectlabError, match="not empty and not an affectlab store"):
        prepare(src, victim, 16, workers=0, progress=False)
    assert _files(victim) == before


def test_an_interrupted_prepare_can_be_rerun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Into a new folder: the marker written before the first split lets a re-run finish the store."""
    from affectlab.data.store_writer import _SplitWriter

    src = _folders(tmp_path / "src", n=6)
    out = tmp_path / "store"

    def crash(self: object, record: object, pixels: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_SplitWriter, "add", crash)
    with pytest.raises(KeyboardInterrupt):
        prepare(src, out, 16, workers=0, progress=False)
    assert not is_store(out)
    monkeypatch.undo()
    prepare(src, out, 16, workers=0, progress=False)
    assert len(open_store(out).split("train")) == 6
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "train",
        "val",
        "validation_report.json",
    ]


def test_an_empty_folder_or_a_new_one_is_fine(tmp_path: Path) -> None:
    src = _folders(tmp_path / "src")
    (tmp_path / "empty").mkdir()
    assert is_store(prepare(src, tmp_path / "empty", 16, workers=0, progress=False))
    assert is_store(prepare(src, tmp_path / "new" / "deeper", 16, workers=0, progress=False))


def test_an_output_that_is_a_symlink_to_the_source_is_refused(tmp_path: Path) -> None:
    src = _folders(tmp_path / "ds")
    link = tmp_path / "link"
    link.symlink_to(src, target_is_directory=True)
    before = _files(src)
    with pytest.raises(AffectlabError, match="source"):
        prepare(src, link, 16, workers=0, progress=False)
    with pytest.raises(AffectlabError, match="source"):
        prepare(link, src, 16, workers=0, progress=False)
    assert _files(src) == before


def test_manifest_images_inside_the_output_are_refused(tmp_path: Path) -> None:
    """A manifest CSV (any folder) whose images lie inside the output folder: refused before writing."""
    out = tmp_path / "out"
    good_image(out / "a.jpg", seed=1)
    (out / "x").mkdir()
    csv = tmp_path / "lists" / "labels.csv"
    csv.parent.mkdir()
    csv.write_text(f"path,expression,valence,arousal\n{out / 'a.jpg'},1,0.1,0.1\n")
    before = _files(out)
    with pytest.raises(AffectlabError, match="source|not empty"):
        prepare(csv, out, 16, workers=0, progress=False)
    assert _files(out) == before


def test_a_deeply_nested_manifest_is_a_clear_error(tmp_path: Path) -> None:
    """The store's manifest.json nested 100000 deep: one error naming it (was a RecursionError)."""
    src = _folders(tmp_path / "src")
    out = tmp_path / "store"
    out.mkdir()
    (out / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(AffectlabError, match=r"manifest\.json: unreadable JSON"):
        prepare(src, out, 16, workers=0, progress=False)
    with pytest.raises(AffectlabError, match=r"manifest\.json: unreadable JSON"):
        open_store(out)


def test_synth_overwrite_keeps_files_it_did_not_write(tmp_path: Path) -> None:
    """`synth --overwrite` replaced the whole folder; now only what synth wrote; a foreign file stops it."""
    from affectlab.data.synth import generate

    small = {"train": 8, "val": 8, "size": 32, "workers": 1, "progress": False}
    out = generate(tmp_path / "ds", seed=0, **small)
    (out / "my_labels.csv").write_text("precious")
    with pytest.raises(AffectlabError, match="my_labels.csv"):
        generate(out, seed=1, overwrite=True, **small)
    assert (out / "my_labels.csv").read_text() == "precious"
    (out / "my_labels.csv").unlink()
    generate(out, seed=1, overwrite=True, layout="folders", **small)  # another layout over the old one
    assert sorted(p.name for p in out.iterdir()) == ["synth.json", "train", "val"]
