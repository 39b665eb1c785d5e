"""The README's code runs as printed: every command and the Python snippet, in README order, on tiny sizes.

How the README stays readable: it prints the real sizes; this file holds the one table of substitutions that
shrinks them (`TINY`), applied to every command and to the Python block, and nothing else is changed. Each
command the README shows must be listed in `PLAN` (run in `make test`, run in `make slow`, or not run here
with the reason), so a new or changed command fails `test_every_readme_command_is_planned` until it is.
The Python block runs as a file in a subprocess (`python snippet.py`), which is how the issue was found:
saved as a script, it used to re-run itself in every worker process.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

#: The README's sizes -> tiny ones (regex, replacement). The only edits made to what the README prints.
TINY: tuple[tuple[str, str], ...] = (
    (r"--resume --out runs/r18 --epochs \d+", "--resume --out runs/r18 --epochs=2"),  # one more epoch
    (r"--train \d+", "--train 160"),
    (r"\btrain=\d+", "train=160"),
    (r"--val \d+", "--val 64"),
    (r"\bval=\d+", "val=64"),
    (r"(synth \S+ .*)--size \d+", r"\1--size 48"),  # generated faces at 48 px (the store is cut at 48 too)
    (r"\bsize=96\b", "size=48"),
    (r"--epochs \d+", "--epochs 1"),
    (r"trainer\.max_epochs=\d+", "trainer.max_epochs=1"),
    (r"--batch-size 256", "--batch-size 32"),
    (r'("out=py/r18")\]', r'\1, "trainer.max_epochs=1"]'),  # the Python block's run: one epoch
)


@dataclass(frozen=True)
class Step:
    """How one README command is checked: `when` is fast (make test), slow (make slow) or skip."""

    when: str
    reason: str = ""
    error: str = ""  # the command is expected to fail with this in its message
    pending: str = ""  # known to fail until this is done elsewhere: run, and the test is xfail if it does
    shows: tuple[str, ...] = ()  # text its output must contain


FAST, SLOW = "fast", "slow"
PLAN: dict[str, Step] = {
    # The first hour
    "python docs/examples/sample_media.py .": Step(FAST),
    "affectlab synth data/raw --train 3000 --val 600 --size 96": Step(
        FAST, shows=("train: ", " images (neutral ")
    ),
    "affectlab validate data/raw": Step(FAST, shows=("samples per class",)),
    "affectlab prepare data/raw data/store --size 48": Step(FAST, shows=("store written to",)),
    "affectlab train --config configs/default.yaml --data data/store --arch resnet18 --out runs/r18 "
    "--epochs 6": Step(
        FAST, shows=("expression accuracy", "valence CCC", "arousal RMSE", "best epoch", "run folder")
    ),
    "affectlab train --resume --out runs/r18": Step(FAST, error="already finished: it trained 1 epoch"),
    "affectlab evaluate runs/r18 --data data/store --split val --tta flip --out runs/r18/eval": Step(
        FAST, shows=("accuracy", "report:")
    ),
    "affectlab predict runs/r18 photos/": Step(FAST, shows=("astronaut.jpg", "valence", "no face 1")),
    "affectlab predict runs/r18 photos/ --out results.jsonl --annotate annotated/": Step(FAST),
    "affectlab export runs/r18 --format onnx --out model.onnx": Step(FAST, shows=("parity ok",)),
    "affectlab predict model.onnx interview.mp4 --stride 5 --out interview.jsonl --annotate annotated/": Step(
        FAST, shows=("videos 1",)
    ),
    "affectlab predict model.onnx photos/astronaut.jpg --out - -q": Step(FAST, shows=('"expression": ',)),
    "affectlab train --config configs/default.yaml --data data/store --arch mobilenet_v2 --out runs/mnv2 "
    "--epochs 6": Step(SLOW),
    "affectlab compare --data data/store --runs runs/r18,runs/mnv2 --out runs/compare": Step(SLOW),
    "affectlab serve runs/r18 --port 8000": Step(SLOW),
    "curl -s http://127.0.0.1:8000/v1/health": Step(
        "skip", "asks step 7's server; the slow test starts it and reads /v1/health (_serve_once)"
    ),
    "curl -s -F file=@photos/astronaut.jpg http://127.0.0.1:8000/v1/predict | head -c 400": Step(
        "skip", "asks step 7's server; tests/serve/test_serve_api.py checks /v1/predict"
    ),
    # Python API: the block itself (see test_python_block_runs_as_a_script)
    # Data / same pixels
    "affectlab evaluate runs/r18 --data data/store --split val --bootstrap 0 --out runs/r18/eval-val": Step(
        FAST
    ),
    "affectlab predict runs/r18 data/raw/val_set/images --no-detect --out val.jsonl -q": Step(FAST),
    "python docs/examples/compare_eval_predict.py runs/r18/eval-val data/store val.jsonl": Step(
        FAST, shows=("max |probability difference|",)
    ),
    # Training
    "affectlab train --config configs/default.yaml --data data/store --arch mobilenet_v2 "
    "--out runs/mnv2-long --set optim.lr=3e-4 --set trainer.max_epochs=30 --batch-size 256 "
    "--precision bf16-mixed": Step(SLOW),
    "affectlab train --resume --out runs/r18 --epochs 12": Step(SLOW, shows=("best epoch",)),
    "affectlab train --resume --out runs/mnv2-long": Step(SLOW, error="already finished"),
    "affectlab train --config configs/seed_recipe.yaml --data /data/AffectNet --arch efficientnet_b1 "
    "--out runs/eb1": Step("skip", "needs AffectNet (licensed, not here)"),
    "affectlab train ... --devices 8 --strategy ddp": Step(
        "skip", "needs 8 GPUs (tests/training/test_training_ddp.py)"
    ),
    "affectlab train ... --pretrained imagenet": Step(
        "skip", "downloads ImageNet weights (no internet here)"
    ),
    "affectlab train ... --pretrained /path/resnet18-f37072fd.pth": Step(
        "skip", "needs that weights file (tests/models/test_models_pretrained.py loads a local one)"
    ),
    # Other datasets: fixtures in each format
    "affectlab synth fx/rafdb --layout rafdb --per-split 40 --size 100 --traps": Step(
        FAST, shows=("wrote a rafdb fixture",)
    ),
    "affectlab validate fx/rafdb --workers 0": Step(FAST, error="", shows=("bad_row", "missing_image")),
    **{
        f"affectlab validate fx/{name} --workers 0{extra}": Step(
            "skip",
            f"its fixture is made like fx/rafdb's (--layout {name} --traps); tests/data/test_format_*.py "
            "validate every format's fixture",
        )
        for name, extra in (
            ("rafdb-original", ""),
            ("fer2013", ""),
            ("ferplus", ""),
            ("ferplus", " --label-mode probability"),
            ("expw", ""),
        )
    },
    # Evaluation and comparison
    "affectlab compare --data data/store --archs resnet18,mobilenet_v2,efficientnet_b1 "
    "--config configs/default.yaml": Step(
        "skip", "three architectures at full size; `make demo` runs the same comparison at demo sizes"
    ),
    "affectlab compare --data /tmp/demo-run/data/store-48 --data /tmp/demo-run/data/store-64 --archs "
    "resnet18,mobilenet_v2,efficientnet_b1 --config configs/demo.yaml --seeds 3 --out /tmp/seeds3": Step(
        "skip",
        "a transcript: six demo-size training runs (40 min); tests/training/test_protocol.py runs --seeds 2",
    ),
    "affectlab compare --data store-48 --data store-64 --archs resnet18,mobilenet_v2 "
    "--config configs/demo.yaml --seeds 3 --epochs 4": Step(
        "skip", "the demo's own comparison (affectlab.demo; tests/evaluation/test_demo.py runs it small)"
    ),
    **{
        command: Step(
            "skip",
            "a transcript on a run and fixtures made as its paragraph says; "
            "tests/evaluation/test_cross_dataset.py scores a model on every format's fixture",
        )
        for command in (
            "affectlab evaluate run --data clean/rafdb --split test --bootstrap 0 --out eval_raf",
            "affectlab evaluate run --data clean/rafdb --split test --bootstrap 0 --out eval_raf_col "
            "--unshared column",
            "affectlab compare --runs run --data store,clean/rafdb,clean/fer2013@private_test,clean/ferplus,"
            "clean/expw --out cross --quick",
        )
    },
    # Calibration: a transcript of a 4-epoch run
    **{
        command: Step(
            "skip",
            "a transcript on a 4-epoch run (its paragraph says how it was made); "
            "tests/training/test_protocol.py::test_calibrate_fits_on_the_runs_own_selection_split and "
            "tests/evaluation/test_calibrate.py run calibrate and evaluate on small runs",
        )
        for command in (
            "affectlab calibrate run --data store --split selection --coverage 0.9 --bootstrap 200",
            "affectlab evaluate run --data store --split val --bootstrap 200 --out eval --threads 1",
        )
    },
    # Video: Aff-Wild2 and face tracks
    **{
        command: Step(
            "skip",
            "minutes of video frames at the README's sizes; tests/data/test_affwild2.py, "
            "tests/evaluation/test_video_eval.py and tests/inference/test_predict_cmd_tracking.py run this "
            "path on small generated videos",
        )
        for command in (
            "affectlab synth aw --layout affwild2 --train 16 --val 4 --frames 80 --size 64",
            "affectlab prepare aw aw-store --size 48",
            "affectlab train --config configs/demo.yaml --data aw-store --arch resnet18 --out runs/aw "
            "--set trainer.max_epochs=8",
            "affectlab evaluate runs/aw --data aw-store --split val --per-video --smooth 5 --bootstrap 0 "
            "--out eval",
            "python docs/examples/track_clip.py people-aw.avi aw",
            "affectlab export runs/aw --format onnx --out aw.onnx",
            "affectlab predict aw.onnx people-aw.avi --out people-aw.jsonl --annotate ann --smooth 5 "
            "--summary-json people-aw-summary.json",
            "head -c 260 people-aw.jsonl",
        )
    },
    # Predict
    "affectlab predict runs/r18 photos/astronaut.jpg --annotate annotated/": Step(FAST),
    "affectlab predict runs/r18 photos/ --out results.csv": Step(FAST),
    "affectlab predict model.onnx --webcam 0": Step("skip", "needs a camera and a display"),
    "affectlab predict model.onnx photos/astronaut.jpg --threads 2": Step(FAST),
    # Serve, make targets
    "affectlab serve model.onnx --host 0.0.0.0 --port 8080": Step(
        "skip", "the same command as step 7 on the ONNX file, on all interfaces"
    ),
    "make demo": Step("skip", "the demo at full size (tests/evaluation/test_demo.py runs it small)"),
    "affectlab demo --out /tmp/demo-run": Step(
        "skip", "the demo at full size (tests/evaluation/test_demo.py runs it small)"
    ),
    "make test": Step("skip", "this suite"),
    "make slow": Step("skip", "runs this file's slow test among others"),
    "make faults": Step("skip", "the fault suite (tests/faults)"),
}


def _blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.M | re.S)]


def readme_commands(text: str) -> list[str]:
    """The commands the README shows, in order: lines of bash blocks, `$ ` lines of transcripts."""
    commands: list[str] = []
    for lang, body in _blocks(text):
        if lang == "python":
            continue
        lines = body.replace("\\\n", " ").splitlines()
        for line in lines:
            line = line.strip()
            if lang == "bash" and line and not line.startswith("#"):
                commands.append(line)
            elif lang == "" and line.startswith("$ "):
                commands.append(line[2:])
    # a trailing `# comment` is not part of a command; spaces are normalised
    return [re.sub(r"\s+", " ", re.sub(r"\s+#\s.*$", "", c)).strip() for c in commands]


def python_block(text: str) -> str:
    """The README's one Python block."""
    blocks = [body for lang, body in _blocks(text) if lang == "python"]
    assert len(blocks) == 1, "the README has one Python block (the API section)"
    return blocks[0]


def tiny(command: str) -> str:
    """The command with the README's sizes replaced by tiny ones (TINY)."""
    for pattern, replacement in TINY:
        command = re.sub(pattern, replacement, command)
    return command


def test_every_readme_command_is_planned() -> None:
    commands = readme_commands(README.read_text(encoding="utf-8"))
    unplanned = [c for c in commands if c not in PLAN]
    assert not unplanned, f"README commands missing from PLAN in tests/test_readme.py: {unplanned}"
    stale = [c for c in PLAN if c not in commands]
    assert not stale, f"PLAN entries no longer in the README: {stale}"
    for command, step in PLAN.items():
        assert step.when in (FAST, SLOW) or step.reason, command


def _workdir(tmp: Path) -> Path:
    """An empty folder laid out like a checkout's root, as the README assumes."""
    (tmp / "configs").symlink_to(ROOT / "configs")
    shutil.copytree(ROOT / "docs" / "examples", tmp / "docs" / "examples")
    return tmp


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1", "COLUMNS": "100"}


def _serve_once(args: list[str], cwd: Path) -> str:
    """Start `affectlab serve` (its port made free), wait for /v1/health, stop it; return the health JSON."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = [a if a != "8000" else str(port) for a in args]
    cmd = [sys.executable, "-c", "from affectlab.cli import run; run()", *args]
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=2) as answer:
                    return answer.read().decode()
            except OSError:
                time.sleep(1)
        raise AssertionError("serve did not answer /v1/health within 180 s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _run(command: str, cwd: Path, step: Step) -> str:
    """Run one README command (tiny sizes) in `cwd`; check its outcome; return what it printed."""
    from typer.testing import CliRunner

    from affectlab.cli import app

    args = shlex.split(tiny(command))
    if args[0] == "python":
        proc = subprocess.run(
            [sys.executable, *args[1:]], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, f"{command}\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout + proc.stderr
    assert args[0] == "affectlab", command
    if args[1] == "serve":
        return _serve_once(args[1:], cwd)
    old = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, args[1:], env={"COLUMNS": "100"})
    finally:
        os.chdir(old)
    output = result.stdout + result.stderr
    if step.error:
        assert result.exit_code != 0 and step.error in str(result.exception), (
            command,
            output,
            result.exception,
        )
    else:
        assert result.exit_code == 0, f"{command}\n{output}\n{result.exception!r}"
    return output


def _walk(tmp: Path, kinds: set[str]) -> None:
    cwd = _workdir(tmp)
    text = README.read_text(encoding="utf-8")
    pending = []
    for command in readme_commands(text):
        step = PLAN[command]
        if step.when not in kinds:
            continue
        try:
            output = _run(command, cwd, step)
        except AssertionError:
            if not step.pending:
                raise
            pending.append(f"{command}: {step.pending}")
            continue
        assert not step.pending, f"{command} works now: remove its `pending` in PLAN"
        for expected in step.shows:
            assert expected.replace("6000", "160") in output, (command, expected, output)
    if pending:
        pytest.xfail("; ".join(pending))


def test_readme_commands_run_in_order_on_tiny_sizes(tmp_path: Path) -> None:
    """The first hour, as printed (tiny sizes): data, train, resume, evaluate, predict, export."""
    _walk(tmp_path, {FAST})
    assert (tmp_path / "annotated" / "interview.mp4").is_file()
    assert (tmp_path / "runs" / "r18" / "eval" / "report" / "report.html").is_file()


def test_python_block_runs_as_a_script(tmp_path: Path) -> None:
    """Saved as a file and run with `python snippet.py`, the README's Python block finishes (tiny sizes)."""
    cwd = _workdir(tmp_path)
    _run("python docs/examples/sample_media.py .", cwd, PLAN["python docs/examples/sample_media.py ."])
    code = python_block(README.read_text(encoding="utf-8"))
    (cwd / "snippet.py").write_text(tiny(code))
    proc = subprocess.run(
        [sys.executable, "snippet.py"], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=420
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = proc.stdout.splitlines()
    accuracy, ccc = (float(v) for v in lines[0].split())
    assert 0 <= accuracy <= 1 and -1 <= ccc <= 1
    assert len(lines) >= 2 and lines[1].split()[0] in (
        "neutral",
        "happy",
        "sad",
        "surprise",
        "fear",
        "disgust",
        "anger",
        "contempt",
    )
    assert "worker processes exited" not in proc.stderr  # guarded: the pool ran


@pytest.mark.slow
def test_readme_commands_including_the_slow_ones(tmp_path: Path) -> None:
    """Everything the suite can run here: also the second architecture, compare, serve and the resumes."""
    _walk(tmp_path, {FAST, SLOW})
