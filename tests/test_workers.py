"""Worker pools never re-run a user's script: the README-style script without a main guard finishes."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from affectlab.workers import OrderedPool, importing_main_in_worker

SRC = Path(__file__).resolve().parents[1] / "src"


def _square(x: int) -> int:
    return x * x


def _crash_on_start() -> None:
    import multiprocessing

    if multiprocessing.parent_process() is not None:  # in a worker only (the fallback runs it here too)
        os._exit(3)  # a worker that dies as it starts, like one that re-ran an unguarded script


def _run_script(tmp_path: Path, body: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_pool_maps_in_order_on_workers() -> None:
    # a function spawned workers can import (this test module is not importable by name under pytest's
    # importlib mode, so a function of it would make the workers fail as they start)
    with OrderedPool(math.factorial, 2, method="spawn") as pool:
        assert list(pool.map(list(range(50)), chunksize=4)) == [math.factorial(x) for x in range(50)]
        assert pool.fallback_reason is None


def test_pool_falls_back_in_process_when_workers_die_at_start(caplog: pytest.LogCaptureFixture) -> None:
    with OrderedPool(_square, 2, method="fork", initializer=_crash_on_start, what="squares") as pool:
        first = list(pool.map([1, 2, 3]))
        second = list(pool.map([4, 5]))  # the next window goes straight to this process
    assert first == [1, 4, 9] and second == [16, 25]
    assert pool.fallback_reason == "the worker processes exited as they started"
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and 'if __name__ == "__main__":' in warnings[0].getMessage()


def test_not_in_a_worker_import_here() -> None:
    assert importing_main_in_worker() is False


@pytest.mark.parametrize("guarded", [False, True])
def test_script_calling_prepare_finishes(tmp_path: Path, guarded: bool) -> None:
    """The README's shape: synth + prepare (spawn pool) at top level, with and without the main guard.

    Before the fix the unguarded script never finished: each spawn worker re-ran it and died, for ever.
    """
    calls = """
        affectlab.generate_synthetic("raw", train=120, val=40, size=40, workers=2, progress=False)
        affectlab.prepare("raw", "store", size=32, workers=2, progress=False)
        print("done", flush=True)
    """
    body = "import affectlab\n"
    if guarded:
        body += 'if __name__ == "__main__":\n' + textwrap.indent(textwrap.dedent(calls), "    ")
    else:
        body += textwrap.dedent(calls)
    proc = _run_script(tmp_path, body)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "done"
    assert (tmp_path / "store" / "manifest.json").is_file()
    fell_back = proc.stderr.count("worker processes exited as they started")
    if guarded:
        assert fell_back == 0 and "worker process stopped" not in proc.stderr, proc.stderr
    else:
        assert fell_back == 1, proc.stderr  # one warning for the whole script, not one per pool
        assert "Traceback" not in proc.stderr, proc.stderr
        assert "affectlab.generate_synthetic() was called while a worker process" in proc.stderr
