"""A 2-process CPU DDP (gloo) smoke run launched the way a user launches one: a script, re-run per rank."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_two_process_cpu_ddp(tmp_path: Path) -> None:
    script = tmp_path / "ddp_run.py"
    out = tmp_path / "run"
    script.write_text(
        textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(HERE)!r})
        sys.path.insert(0, {str(HERE.parent)!r})
        from conftest import base_config
        from helpers.doubles import ArraySplit, TinyNet
        from affectlab.training import train

        cfg = base_config({str(out)!r})
        cfg["trainer"].update(devices=2, strategy="ddp", max_epochs=2)
        train(cfg, train_split=ArraySplit(64, 32, 0), val_split=ArraySplit(30, 32, 1), model=TinyNet())
    """)
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    metrics = json.loads((out / "metrics.json").read_text())
    # 64 samples over 2 ranks at batch 16: 2 steps per epoch per rank
    assert metrics["training"]["global_step"] == 4 and metrics["training"]["epochs_trained"] == 2
    assert metrics["data"]["num_samples"] == 30
    assert (out / "checkpoints" / "last.ckpt").is_file()
    assert "ddp" in (out / "config.yaml").read_text()
