"""Checkpoints are written atomically: a process killed during a save leaves the previous file loadable.

- `save_weights` (model.safetensors, what predict/evaluate/export/serve load): temp file in the same folder,
  then os.replace.
- Lightning checkpoints (`checkpoints/last.ckpt`, `best.ckpt`, for --resume): whatever CheckpointIO the
  training run uses must also end in a same-filesystem rename.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fault_helpers import IS_ROOT, child_env

SAVE_LOOP = r"""
import sys, torch
from affectlab.labels import class_names
from affectlab.models import ModelInfo, build_model, save_weights
from affectlab.preprocessing import Preprocess
path = sys.argv[1]
model = build_model("resnet18")
info = ModelInfo("resnet18", class_names(8), Preprocess(size=32))
n = 0
while True:
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)
    save_weights(model, info, path)
    n += 1
    print("saved", n, flush=True)
"""

LIGHTNING_LOOP = r"""
import sys, torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
io = TorchCheckpointIO()
path = sys.argv[1]
n = 0
while True:
    n += 1
    io.save_checkpoint({"n": n, "state_dict": {"w": torch.full((12_000_000,), float(n))}}, path)
    print("saved", n, flush=True)
"""


def _kill_during_saves(script: str, path: Path, rounds: int, seed: int) -> list[int]:
    """Start a child saving to `path` in a loop; SIGKILL it at a random moment after its first save."""
    rng = random.Random(seed)
    counts = []
    for _ in range(rounds):
        child = subprocess.Popen(
            [sys.executable, "-c", script, str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        try:
            assert child.stdout is not None
            deadline = time.monotonic() + 120
            line = child.stdout.readline()
            while not line.startswith("saved") and time.monotonic() < deadline:
                if child.poll() is not None:
                    pytest.fail(f"saver died: {child.stderr.read() if child.stderr else ''}")
                line = child.stdout.readline()
            time.sleep(rng.uniform(0.0, 1.0))  # somewhere inside a later save (each takes ~0.1-0.5 s)
            child.send_signal(signal.SIGKILL)
            out, _ = child.communicate(timeout=30)
            counts.append(1 + out.count("saved"))
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=30)
    return counts


@pytest.mark.faults
def test_save_weights_survives_sigkill(tmp_path: Path) -> None:
    from affectlab.models import load_weights

    path = tmp_path / "model.safetensors"
    counts = _kill_during_saves(SAVE_LOOP, path, rounds=4, seed=0)
    model, info = load_weights(path)  # the last complete save, whatever moment the kill hit
    assert info.arch == "resnet18" and sum(counts) >= 4
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "model.safetensors"]
    # hidden and unused: ours, or the one safetensors itself writes before its own rename (Rust's tempfile
    # crate names it .tmpXXXXXX) when the kill lands inside save_file
    ours = (".model.safetensors.tmp-", ".tmp")
    assert all(name.startswith(ours) for name in leftovers), leftovers


def test_save_weights_replaces_from_the_same_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The temp file is a sibling of the target (a rename within one filesystem is atomic)."""
    from fault_helpers import save_small_weights

    import affectlab.models.weights as weights

    seen: list[tuple[str, str]] = []
    real = os.replace

    def spy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        seen.append((str(src), str(dst)))
        real(src, dst)

    monkeypatch.setattr(weights.os, "replace", spy)
    path = save_small_weights(tmp_path / "model.safetensors")
    assert len(seen) == 1 and Path(seen[0][1]) == path and Path(seen[0][0]).parent == path.parent
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


def test_failed_save_weights_keeps_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write error mid-save (disk full): AffectlabError, the previous weights intact, no temp file left."""
    import errno

    import safetensors.torch
    from fault_helpers import save_small_weights

    from affectlab.errors import AffectlabError
    from affectlab.models import load_weights

    path = save_small_weights(tmp_path / "model.safetensors")
    before = path.read_bytes()

    def full(state: object, filename: str, metadata: object = None) -> None:
        Path(filename).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    with pytest.raises(AffectlabError, match="could not write weights"):
        save_small_weights(path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
    load_weights(path)


@pytest.mark.faults
def test_lightning_checkpoint_survives_sigkill(tmp_path: Path) -> None:
    """Lightning's own save (buffer, then fsspec transaction: temp file + move) under repeated SIGKILL."""
    import torch

    path = tmp_path / "last.ckpt"
    counts = _kill_during_saves(LIGHTNING_LOOP, path, rounds=3, seed=1)
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    assert ckpt["state_dict"]["w"].shape == (12_000_000,)
    assert float(ckpt["state_dict"]["w"][0]) == ckpt["n"] == float(ckpt["state_dict"]["w"][-1])
    assert sum(counts) >= 3


@pytest.mark.faults
def test_training_checkpoints_are_renamed_not_copied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real tiny training run with $TMPDIR on another filesystem: every checkpoint write must be a rename
    within the run folder (a copy across filesystems is not atomic)."""
    import tempfile

    from test_faults_disk import _Split

    from affectlab.training import train

    if not IS_ROOT or shutil.which("mount") is None:
        pytest.skip("needs root to mount a tmpfs as $TMPDIR")
    tmpdir = tmp_path / "tmpfs"
    tmpdir.mkdir()
    if (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(tmpdir)], capture_output=True, timeout=20
        ).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs")
    moves: list[tuple[str, str]] = []
    real_move = shutil.move

    def spy(src: str, dst: str, *args: object, **kwargs: object) -> object:
        moves.append((str(src), str(dst)))
        return real_move(src, dst, *args, **kwargs)

    try:
        monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
        monkeypatch.setattr(shutil, "move", spy)
        out = tmp_path / "run"
        config = {
            "out": str(out),
            "seed": 0,
            "data": {"batch_size": 8},
            "model": {"arch": "mobilenet_v2"},
            "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "progress_bar": "none"},
        }
        train(config, train_split=_Split(16), val_split=_Split(8))
    finally:
        subprocess.run(["umount", "-l", str(tmpdir)], capture_output=True, timeout=20)
    assert (out / "checkpoints" / "last.ckpt").is_file()
    across = [(s, d) for s, d in moves if Path(s).parent != Path(d).parent and "checkpoints" in d]
    assert across == [], f"checkpoints copied across filesystems: {across}"
