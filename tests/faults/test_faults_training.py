"""Training under faults, end to end through `affectlab train` in child processes (tiny: 32 px, 200 images):

- SIGKILL mid-epoch, then --resume: the run finishes, and on CPU with a fixed seed its final metrics equal an
  uninterrupted run's. Granularity: Lightning checkpoints at epoch ends (last.ckpt), so a SIGKILL loses
  the epoch in progress; --resume restarts that epoch from its beginning with the saved model, optimizer,
  scheduler and RNG states, which is why the result is exact.
- SIGTERM: a checkpoint at the current step, a clean exit (status 1, no traceback) saying how to resume.
- A resumed run is checked against what it resumes: other dataset manifest, class list or architecture.

In-process equivalents with in-memory data are in tests/training/test_training_run.py.
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from fault_helpers import CLI, child_env, run_cli

from affectlab.errors import AffectlabError

pytestmark = pytest.mark.faults

KEYS = (
    "expression_accuracy",
    "expression_f1_macro",
    "valence_ccc",
    "arousal_ccc",
    "valence_rmse",
    "arousal_rmse",
    "score",
    "best_score",
    "epochs_trained",
    "global_step",
)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A synthetic dataset (160 train + 40 val at 32 px), raw and prepared three ways."""
    from affectlab.data import prepare
    from affectlab.data.synth import generate

    root = tmp_path_factory.mktemp("data")
    raw = generate(root / "raw", train=160, val=40, size=32, seed=0, workers=1, progress=False)
    return {
        "raw": raw,
        "8": prepare(raw, root / "store8", 32, workers=0, progress=False),
        "8_margin": prepare(raw, root / "store8m", 32, margin=0.3, workers=0, progress=False),
        "7": prepare(raw, root / "store7", 32, num_classes=7, workers=0, progress=False),
    }


def _args(store: Path, out: Path, epochs: int, *extra: str) -> list[str]:
    return [
        "train",
        "--data",
        str(store),
        "--arch",
        "mobilenet_v2",
        "--out",
        str(out),
        "--epochs",
        str(epochs),
        "--batch-size",
        "16",
        "--seed",
        "0",
        "--accelerator",
        "cpu",
        "--devices",
        "1",
        "--set",
        "trainer.progress_bar=none",
        "--set",
        "data.num_workers=0",
        *extra,
    ]


def _start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env()
    )


def _wait_for(path: Path, child: subprocess.Popen[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if child.poll() is not None:
            _, err = child.communicate()
            pytest.fail(
                f"training ended before {path.name} appeared (status {child.returncode}): {err[-3000:]}"
            )
        if time.monotonic() > deadline:
            child.kill()
            pytest.fail(f"{path} did not appear within {timeout} s")
        time.sleep(0.05)


def _metrics(run: Path) -> dict[str, object]:
    record = json.loads((run / "metrics.json").read_text())
    data = {**record["training"], **record["metrics"]}
    return {k: data[k] for k in KEYS}


def test_resume_after_sigkill_mid_epoch_equals_uninterrupted(tmp_path: Path, stores: dict[str, Path]) -> None:
    reference = tmp_path / "reference"
    done = run_cli(_args(stores["8"], reference, 3), timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]

    run = tmp_path / "killed"
    child = _start(_args(stores["8"], run, 3))
    try:
        _wait_for(run / "checkpoints" / "last.ckpt", child, timeout=400)  # epoch 0 done and saved
        time.sleep(0.5)  # into epoch 1
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    assert not (run / "metrics.json").exists()  # it really was cut short

    resumed = run_cli(_args(stores["8"], run, 3, "--resume"), timeout=400)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _metrics(run) == _metrics(reference)


def test_sigterm_saves_exits_cleanly_and_says_how_to_resume(tmp_path: Path, stores: dict[str, Path]) -> None:
    import torch

    run = tmp_path / "term"
    child = _start(_args(stores["8"], run, 50))
    try:
        _wait_for(run / "checkpoints" / "last.ckpt", child, timeout=400)
        first = (run / "checkpoints" / "last.ckpt").stat().st_mtime_ns
        time.sleep(0.7)
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=120)  # bounded: a clean stop, not a hang
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 1, err[-3000:]
    assert "Traceback" not in err
    assert "SIGTERM" in err and f"affectlab train --resume --out {run}" in err
    ckpt_path = run / "checkpoints" / "last.ckpt"
    assert ckpt_path.stat().st_mtime_ns > first  # written at the signal, not only at the last epoch end
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)  # our own run's file
    epochs = int(ckpt["epoch"]) + 2
    resumed = run_cli(["train", "--resume", "--out", str(run), "--epochs", str(epochs)], timeout=400)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((run / "metrics.json").read_text())["training"]["epochs_trained"] == epochs


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_resume_refuses_other_data_classes_or_architecture(tmp_path: Path, stores: dict[str, Path]) -> None:
    from affectlab.data import prepare
    from affectlab.training import train

    store = prepare(stores["raw"], tmp_path / "store", 32, workers=0, progress=False)
    run = tmp_path / "run"
    base = {
        "out": str(run),
        "seed": 0,
        "data": {"path": str(store), "batch_size": 16, "num_workers": 0},
        "model": {"arch": "mobilenet_v2"},
        "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "progress_bar": "none"},
    }
    train(base)
    last = run / "checkpoints" / "last.ckpt"
    before = _sha(last)
    cases = {
        "other store": (["resume=true", f"data.path={stores['8']}"], r"dataset path was"),
        "other crop margin": (
            ["resume=true", f"data.path={stores['8_margin']}"],
            r"preprocess was \{.*'crop_margin': 0\.1.*\} \(run\.json\), now \{.*'crop_margin': 0\.3",
        ),
        "7 vs 8 classes": (
            ["resume=true", f"data.path={stores['7']}", "data.num_classes=7"],
            r"class_names was \[.*'contempt'\] \(run\.json\), now \[(?!.*contempt)",
        ),
        "architecture": (
            ["resume=true", "model.arch=resnet18"],
            r"arch was 'mobilenet_v2' \(run\.json\), now 'resnet18'",
        ),
    }
    for name, (overrides, pattern) in cases.items():
        with pytest.raises(AffectlabError, match=rf"cannot resume {run}: {pattern}"):
            train(base, overrides)
        assert _sha(last) == before, f"{name}: the checkpoint changed"
    # The same folder re-prepared from other faces: same path, settings and sizes, another manifest.
    from affectlab.data.synth import generate

    other = generate(tmp_path / "raw2", train=160, val=40, size=32, seed=1, workers=1, progress=False)
    prepare(other, store, 32, workers=0, progress=False)
    with pytest.raises(AffectlabError, match=rf"cannot resume {run}: dataset manifest_sha256 was"):
        train(base, ["resume=true"])
    assert _sha(last) == before
