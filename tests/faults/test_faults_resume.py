"""`--resume` and the checkpoints of a run: every load is weights_only (a planted pickle never runs, wherever
it is loaded), a broken checkpoint is one clear error naming it, a run is checked against its checkpoint's own
record when run.json is gone, the checkpoints' disk space is checked before the first epoch, and temp files of
killed saves are cleaned. In-process runs on in-memory data (seconds); the CLI case is marked `faults`."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fault_helpers import evil_pickle

from affectlab.errors import AffectlabError
from affectlab.training import train
from helpers.doubles import ArraySplit, TinyNet


def _config(out: Path, epochs: int, **extra: object) -> dict:
    return {
        "out": str(out),
        "seed": 0,
        "data": {"batch_size": 16},
        "model": {"arch": "resnet18"},
        "trainer": {
            "max_epochs": epochs,
            "accelerator": "cpu",
            "devices": 1,
            "progress_bar": "none",
            "log_every_n_steps": 1,
        },
        **extra,
    }


def _run(out: Path, epochs: int = 1, resume: bool = False, n_train: int = 48) -> Path:
    torch.manual_seed(0)
    return train(
        _config(out, epochs),
        ["resume=true"] if resume else None,
        train_split=ArraySplit(n_train, 32, 0),
        val_split=ArraySplit(16, 32, 1),
        model=TinyNet(),
    )


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 1-epoch run (copied per test)."""
    return _run(tmp_path_factory.mktemp("runs") / "r")


@pytest.fixture
def run(finished: Path, tmp_path: Path) -> Path:
    import shutil

    copy = Path(shutil.copytree(finished, tmp_path / "r"))
    # as if killed after its last epoch, before the final export: --resume completes such a run from its
    # checkpoints (a finished one, with metrics.json, is refused before any checkpoint is read)
    (copy / "metrics.json").unlink()
    return copy


def test_checkpoints_record_their_run_and_load_weights_only(run: Path) -> None:
    for name in ("last.ckpt", "best.ckpt"):
        ckpt = torch.load(run / "checkpoints" / name, weights_only=True)
        stamp = ckpt["affectlab_run"]
        assert stamp["arch"] == "resnet18" and len(stamp["class_names"]) == 8
        assert stamp["dataset"]["sizes"] == json.loads((run / "run.json").read_text())["dataset"]["sizes"]


@pytest.mark.parametrize("name", ["best.ckpt", "last.ckpt"])
def test_planted_pickle_checkpoint_never_runs(run: Path, tmp_path: Path, name: str) -> None:
    """best.ckpt was loaded with weights_only=False when the best weights were exported: a planted pickle
    ran. Resuming a finished run exports best.ckpt again without training, so the planted file is loaded."""
    marker = tmp_path / "pwned"
    evil_pickle(run / "checkpoints" / name, marker)
    with pytest.raises(AffectlabError) as info:
        _run(run, resume=True)
    message = str(info.value)
    assert name in message and "never loads" in message, message
    assert "weights_only=False" not in message
    assert not marker.exists(), "a planted checkpoint ran code"


def test_lightning_resume_itself_loads_weights_only(run: Path, tmp_path: Path) -> None:
    """Lightning's own resume (trainer.fit(ckpt_path=...)) goes through AtomicCheckpointIO.load_checkpoint,
    which forces weights_only=True even when asked for False."""
    from affectlab.training.checkpoint_io import AtomicCheckpointIO

    marker = tmp_path / "pwned"
    path = evil_pickle(tmp_path / "evil.ckpt", marker)
    for weights_only in (None, False, True):
        with pytest.raises(AffectlabError, match="never loads"):
            AtomicCheckpointIO().load_checkpoint(path, weights_only=weights_only)
    assert not marker.exists()
    loaded = AtomicCheckpointIO().load_checkpoint(run / "checkpoints" / "last.ckpt", weights_only=False)
    assert loaded["epoch"] == 0


def _cut(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


BROKEN = {
    "truncated": _cut,
    "empty": lambda p: p.write_bytes(b""),
    "random_bytes": lambda p: p.write_bytes(bytes(range(256)) * 64),
    "not_a_checkpoint": lambda p: torch.save({"weights": torch.zeros(2)}, p),
    "plain_pickle": lambda p: p.write_bytes(pickle.dumps({"state_dict": {"x": 1}, "epoch": 0}, protocol=2)),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
@pytest.mark.parametrize("name", ["last.ckpt", "best.ckpt"])
def test_broken_checkpoint_is_a_clear_error(run: Path, case: str, name: str) -> None:
    BROKEN[case](run / "checkpoints" / name)
    with pytest.raises(AffectlabError) as info:
        _run(run, resume=True)
    message = str(info.value)
    assert name in message and (
        "corrupt" in message or "empty" in message or "not a Lightning" in message or "never loads" in message
    ), message
    assert "Traceback" not in message and len(message.splitlines()) == 1


@pytest.mark.parametrize("case", ["planted_pickle", "truncated", "empty", "random_bytes", "not_a_checkpoint"])
def test_weights_from_lightning_ckpt_uses_the_one_loader(run: Path, tmp_path: Path, case: str) -> None:
    """Was: its own torch.load; a planted pickle gave a 6-line error advising weights_only=False."""
    from affectlab.models import weights_from_lightning_ckpt
    from affectlab.training.checkpoint_io import load_checkpoint_file

    ckpt, marker, out = run / "checkpoints" / "last.ckpt", tmp_path / "pwned", tmp_path / "w.safetensors"
    evil_pickle(ckpt, marker) if case == "planted_pickle" else BROKEN[case](ckpt)
    with pytest.raises(AffectlabError) as info:
        weights_from_lightning_ckpt(ckpt, out)
    with pytest.raises(AffectlabError) as same:
        load_checkpoint_file(ckpt)
    message = str(info.value)
    assert message == str(same.value) and message.startswith(f"{ckpt}: "), message
    assert len(message.splitlines()) == 1 and "weights_only=False" not in message
    assert not marker.exists() and not out.exists()


def test_resume_without_run_json_checks_the_checkpoint(run: Path) -> None:
    (run / "run.json").unlink()
    with pytest.raises(AffectlabError, match=r"dataset sizes was .*last\.ckpt"):
        _run(run, epochs=2, resume=True, n_train=32)  # other data
    assert not (run / "run.json").exists() or json.loads((run / "run.json").read_text())
    _run(run, epochs=2, resume=True)  # the same data: resumes and finishes
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 1


def test_resume_without_any_record_is_refused(run: Path) -> None:
    """An old checkpoint without its run record and no run.json: what it resumes cannot be checked."""
    last = run / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, weights_only=True)
    del ckpt["affectlab_run"]
    torch.save(ckpt, last)
    (run / "run.json").unlink()
    with pytest.raises(AffectlabError, match="cannot be checked"):
        _run(run, epochs=2, resume=True)


def test_run_json_and_checkpoint_both_checked(run: Path) -> None:
    """run.json edited to match other data does not get past the checkpoint's own record."""
    info = json.loads((run / "run.json").read_text())
    sizes = info["dataset"]["sizes"]
    sizes["train"] = 32 - sizes.get("selection", 0)  # what 32 training samples give, selection held out
    (run / "run.json").write_text(json.dumps(info))
    with pytest.raises(AffectlabError, match=r"last\.ckpt"):
        _run(run, epochs=2, resume=True, n_train=32)


def test_train_checks_checkpoint_space_before_the_first_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    import affectlab.io as io_mod

    real = shutil.disk_usage
    monkeypatch.setattr(
        io_mod.shutil,
        "disk_usage",
        lambda p: real(p)._replace(free=200_000),  # 200 kB free
    )
    out = tmp_path / "r"
    with pytest.raises(AffectlabError, match=r"not enough disk space for the checkpoints.*needs about"):
        _run(out)
    assert not (out / "checkpoints" / "last.ckpt").exists()
    assert not (out / "logs" / "metrics.csv").exists(), "an epoch ran before the check"


def test_checkpoint_size_estimate_is_close(run: Path) -> None:
    """The budget's estimate (weights + Adam's two moments) against a real checkpoint of the same model."""
    from affectlab.training.checkpoint_io import checkpoint_bytes

    real = (run / "checkpoints" / "last.ckpt").stat().st_size
    estimate = checkpoint_bytes(TinyNet())
    assert real <= estimate <= real + (2 << 20), (real, estimate)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temp_files_of_killed_saves_are_removed(run: Path) -> None:
    import os

    dead, alive = _dead_pid(), os.getppid()
    stale = [run / "checkpoints" / f".last.ckpt.tmp-{dead}", run / f".model.safetensors.tmp-{dead}"]
    live = run / "checkpoints" / f".best.ckpt.tmp-{alive}"
    other = run / "checkpoints" / "notes.tmp-12"
    for path in [*stale, live, other]:
        path.write_bytes(b"partial")
    _run(run, epochs=2, resume=True)
    assert not any(p.exists() for p in stale)
    assert live.exists() and other.exists(), "only temp files of processes that are gone are removed"


@pytest.mark.faults
def test_cli_resume_with_planted_or_cut_checkpoint_is_one_error_line(tmp_path: Path) -> None:
    from fault_helpers import run_cli

    from affectlab.data import prepare
    from affectlab.data.synth import generate

    raw = generate(tmp_path / "raw", train=32, val=16, size=32, seed=0, workers=1, progress=False)
    store = prepare(raw, tmp_path / "store", 32, workers=0, progress=False)
    out = tmp_path / "run"
    args = ["train", "--data", str(store), "--arch", "mobilenet_v2", "--out", str(out), "--epochs", "1",
            "--batch-size", "16", "--accelerator", "cpu", "--devices", "1",
            "--set", "trainer.progress_bar=none"]  # fmt: skip
    done = run_cli(args, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    (out / "metrics.json").unlink()  # killed before its final export: --resume reads the checkpoints
    marker = tmp_path / "pwned"
    for name, spoil in (("last.ckpt", lambda p: evil_pickle(p, marker)), ("best.ckpt", _cut)):
        backup = (out / "checkpoints" / name).read_bytes()
        spoil(out / "checkpoints" / name)
        done = run_cli([*args, "--resume"], timeout=600)
        assert done.returncode == 1
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and name in last, done.stderr[-2000:]
        assert "Traceback" not in done.stderr and "weights_only=False" not in done.stderr
        (out / "checkpoints" / name).write_bytes(backup)
    assert not marker.exists()


def test_a_moved_run_exports_its_own_best_checkpoint(tmp_path: Path) -> None:
    """Lightning keeps best_model_path absolute: after the run folder moved, the export read the old place."""
    import shutil

    original = _run(tmp_path / "before")
    moved = Path(shutil.move(original, tmp_path / "after"))
    (moved / "metrics.json").unlink()  # killed before its final export: resuming exports best.ckpt
    _run(moved, resume=True)  # from the moved folder
    assert (moved / "model.safetensors").is_file() and not original.exists()


def test_a_deeply_nested_run_json_is_a_clear_error(run: Path) -> None:
    (run / "run.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(AffectlabError, match=r"run\.json is unreadable"):
        _run(run, epochs=2, resume=True)
