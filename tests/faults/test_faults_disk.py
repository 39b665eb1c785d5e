"""Unwritable output folders and full disks: a clear AffectlabError before the long work, not after.

Three kinds of bad output place (fault_helpers): a path under a regular file (fails for root too), a read-only
mount (root) or chmod 0o500 folder (non-root), and a full 1 MiB tmpfs (root only; skipped elsewhere).
"Before the work" is proven by making the work itself (decoding, model loading) fail the test if it starts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fault_helpers import good_image

from affectlab.errors import AffectlabError

BAD_PLACES = ["unwritable_dir", "readonly_dir", "full_disk"]
MESSAGE = r"cannot write the|not enough disk space|No space left"


def _place(request: pytest.FixtureRequest, kind: str) -> Path:
    folder = request.getfixturevalue(kind)
    return folder if kind == "unwritable_dir" else folder / "out"


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    for i in range(4):
        good_image(tmp_path / "ds" / "train" / "happy" / f"{i}.jpg", seed=i)
    good_image(tmp_path / "ds" / "val" / "sad" / "v.jpg", seed=9)
    return tmp_path / "ds"


def _forbid(monkeypatch: pytest.MonkeyPatch, target: object, name: str) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"{name} started although the output cannot be written")

    monkeypatch.setattr(target, name, fail)


@pytest.mark.parametrize("kind", BAD_PLACES)
def test_prepare_refuses_before_decoding(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, dataset: Path, kind: str
) -> None:
    import affectlab.data.store_writer as store

    out = _place(request, kind)
    _forbid(monkeypatch, store, "scan")
    with pytest.raises(AffectlabError, match=MESSAGE) as info:
        store.prepare(dataset, out, 32, workers=0, progress=False)
    assert str(out) in str(info.value)


def test_prepare_refuses_when_the_store_would_not_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dataset: Path
) -> None:
    """The space check uses the store's size (N x S x S x 3 bytes, + 1 MiB), known from the labels
    alone: 5 images at 512 px need 5.0 MB."""
    import shutil
    from collections import namedtuple

    import affectlab.data.store_writer as store

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage(10**9, 10**9 - 50_000, 50_000))
    _forbid(monkeypatch, store, "scan")
    with pytest.raises(
        AffectlabError, match=r"not enough disk space for the store .* needs about 5\.0 MB, 50\.0 kB is free"
    ):
        store.prepare(dataset, tmp_path / "store", 512, workers=0, progress=False)


def test_prepare_disk_full_midway_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dataset: Path
) -> None:
    """Space taken by someone else during the run: a clear error, and the store never looks complete."""
    import errno

    import affectlab.data.store_writer as store

    def full(self: object, record: object, pixels: np.ndarray) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store._SplitWriter, "add", full)
    with pytest.raises(AffectlabError, match=r"writing the store to .* failed: .*No space left.*re-run"):
        store.prepare(dataset, tmp_path / "store", 32, workers=0, progress=False)
    assert not (tmp_path / "store" / "manifest.json").exists()


@pytest.mark.parametrize("option", ["--out", "--summary-json", "--annotate"])
@pytest.mark.parametrize("kind", BAD_PLACES)
def test_predict_refuses_before_loading_the_model(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str, option: str
) -> None:
    from typer.testing import CliRunner

    from affectlab.cli import app
    from affectlab.inference import Predictor

    out = _place(request, kind)
    target = out if option == "--annotate" else out / "results.jsonl"
    _forbid(monkeypatch, Predictor, "load")
    photo = good_image(tmp_path / "photo.jpg")
    result = CliRunner().invoke(
        app, ["predict", str(tmp_path / "model.safetensors"), str(photo), "--no-detect", option, str(target)]
    )
    assert isinstance(result.exception, AffectlabError), result.output
    assert str(out) in str(result.exception)


@pytest.mark.parametrize("kind", BAD_PLACES)
def test_run_predict_api_refuses_before_any_frame(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    from affectlab.inference.runner import run_predict

    class Unused:
        class_names = ("a", "b")

        def predict_frames(self, *args: object, **kwargs: object) -> None:
            raise AssertionError("prediction started although the output cannot be written")

    out = _place(request, kind)
    with pytest.raises(AffectlabError, match=MESSAGE):
        run_predict(Unused(), [good_image(tmp_path / "p.jpg")], out=out / "rows.csv")  # type: ignore[arg-type]


def test_results_disk_full_midway_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from affectlab.inference.results import FaceResult, ResultWriter

    writer = ResultWriter(tmp_path / "rows.jsonl", ["a", "b"])

    class Full:
        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self) -> None:
            pass

    writer._file.close()
    writer._file = Full()  # type: ignore[assignment]
    face = FaceResult("x.jpg", 0, None, 0, (0.0, 0.0, 1.0, 1.0), 1.0, "a", {"a": 0.6, "b": 0.4}, 0.0, 0.0)
    with pytest.raises(AffectlabError, match=r"writing results to .*rows\.jsonl failed after 0 rows"):
        writer.write([face])


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("kind", BAD_PLACES)
def test_export_refuses_unwritable_target(
    request: pytest.FixtureRequest, weights_file: Path, kind: str, fmt: str
) -> None:
    from affectlab.inference.export import export_onnx, export_torchscript

    out = _place(request, kind)
    export = export_onnx if fmt == "onnx" else export_torchscript
    with pytest.raises(AffectlabError, match=MESSAGE):
        export(weights_file, out / f"model.{fmt}", check=False)


@pytest.mark.faults
def test_export_disk_filling_up_leaves_no_partial_file(
    full_disk: Path, weights_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the probe (1 byte fits) the 9 MB model does not: a clear error, no partial or temporary file."""
    import affectlab.io as io
    from affectlab.inference.export import export_onnx

    (full_disk / ".filler").unlink()  # leave ~1 MiB: enough for the probe, not for the model
    monkeypatch.setattr(io, "ensure_writable", lambda folder, what="output": Path(folder))
    with pytest.raises(AffectlabError, match="No space left|failed"):
        export_onnx(weights_file, full_disk / "model.onnx", check=False)
    assert list(full_disk.iterdir()) == []


class _Split:
    """A tiny in-memory FaceSplit (one grey per sample); the data are not what these tests are about."""

    def __init__(self, n: int) -> None:
        from affectlab.labels import class_names

        self.class_names, self.image_size, self.n = class_names(8), 32, n
        self.crop_margin, self.align = 0.0, False  # how the faces were cut: the model records it

    def __len__(self) -> int:
        return self.n

    def labels(self) -> dict[str, np.ndarray]:
        return self.get_batch(np.arange(self.n))

    def get_batch(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        idx = np.asarray(idx, np.int64)
        n = len(idx)
        zeros = np.zeros(n, np.float32)
        return {
            # one distinct grey per sample: the selection split holds out by content, so no two may match
            "image": np.broadcast_to(
                (idx % 256).astype(np.uint8)[:, None, None, None], (n, 32, 32, 3)
            ).copy(),
            "expression": idx % 8,
            "valence": zeros,
            "arousal": zeros,
            "index": idx,
        }


@pytest.mark.faults
@pytest.mark.parametrize("kind", ["unwritable_dir", "readonly_dir"])
def test_train_refuses_unwritable_run_folder_first(request: pytest.FixtureRequest, kind: str) -> None:
    from affectlab.training import train

    out = _place(request, kind)
    config = {
        "out": str(out / "run"),
        "seed": 0,
        "data": {"batch_size": 8},
        "model": {"arch": "mobilenet_v2"},
        "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "progress_bar": "none"},
    }
    with pytest.raises(AffectlabError, match=MESSAGE):
        train(config, train_split=_Split(16), val_split=_Split(8))
