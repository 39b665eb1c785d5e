"""`affectlab`'s exit (affectlab.cli.leave): the status and output of Python's own, minus the teardown."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _python(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python ARGV`` with this tree's sources; AFFECTLAB_FULL_EXIT only where `env` sets it."""
    full = {k: v for k, v in os.environ.items() if k != "AFFECTLAB_FULL_EXIT"}
    full.update({"PYTHONPATH": str(ROOT / "src"), **(env or {})})
    cmd = [sys.executable, *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=full, check=False)


@pytest.mark.parametrize("code", ["None", "0", "1", "3", "255", "256", "-1", "'bye'"])
def test_exit_status_and_message_match_the_interpreter(code: str) -> None:
    ordinary = _python("-c", f"import sys; sys.exit({code})")
    ours = _python("-c", f"from affectlab.cli.leave import leave; leave({code})")
    assert (ours.returncode, ours.stdout, ours.stderr) == (
        ordinary.returncode,
        ordinary.stdout,
        ordinary.stderr,
    )


def test_atexit_handlers_logging_and_buffered_output_all_land(tmp_path: Path) -> None:
    log, marker = tmp_path / "run.log", tmp_path / "atexit.txt"
    code = f"""
import atexit, logging, pathlib, sys
logging.basicConfig(filename={str(log)!r}, level=logging.INFO)
atexit.register(lambda: pathlib.Path({str(marker)!r}).write_text("ran"))
logging.getLogger("x").info("last words")
for i in range(20000):
    print(i)  # a pipe: block-buffered, most of it still in the buffer at exit
print("err line", file=sys.stderr)
from affectlab.cli.leave import leave
leave(4)
"""
    proc = _python("-c", code)
    assert proc.returncode == 4
    assert proc.stdout.split() == [str(i) for i in range(20000)]
    assert proc.stderr == "err line\n"
    assert marker.read_text() == "ran"
    assert "last words" in log.read_text()


TEARDOWN = """
import sys
class Noisy:
    def __del__(self):
        sys.stderr.write("teardown ran\\n")
keep = Noisy()  # freed only by the interpreter's teardown
{before}
from affectlab.cli.leave import leave
leave(0)
"""


def test_the_teardown_is_skipped_unless_asked_for() -> None:
    fast = _python("-c", TEARDOWN.format(before=""))
    assert fast.returncode == 0 and "teardown ran" not in fast.stderr
    full = _python("-c", TEARDOWN.format(before=""), env={"AFFECTLAB_FULL_EXIT": "1"})
    assert full.returncode == 0 and "teardown ran" in full.stderr


def test_a_running_thread_gets_the_ordinary_exit(tmp_path: Path) -> None:
    done = tmp_path / "thread.txt"
    before = f"""
import pathlib, threading, time
def late():
    time.sleep(0.5)
    pathlib.Path({str(done)!r}).write_text("finished")
threading.Thread(target=late).start()
"""
    proc = _python("-c", TEARDOWN.format(before=before))
    assert proc.returncode == 0
    assert done.read_text() == "finished"  # os._exit would have killed the thread mid-sleep


def test_a_profiler_gets_the_ordinary_exit(tmp_path: Path) -> None:
    script, stats = tmp_path / "prog.py", tmp_path / "prog.prof"
    script.write_text("from affectlab.cli.leave import leave\nleave(0)\n")
    proc = _python("-m", "cProfile", "-o", str(stats), str(script))
    assert proc.returncode == 0, proc.stderr
    assert stats.is_file() and stats.stat().st_size > 0  # written after the script returned


@pytest.mark.parametrize(
    "args", [["--version"], ["predict", "no-such-model.safetensors", "x.jpg"], ["no-such-command"], []]
)
def test_the_program_exits_as_main_does(args: list[str]) -> None:
    entry = "import sys; from affectlab.cli import {0}; sys.argv[0] = 'affectlab'; {0}()"
    by_main = _python("-c", entry.format("main"), *args)
    by_run = _python("-c", entry.format("run"), *args)
    assert by_run.returncode == by_main.returncode
    assert (by_main.returncode == 0) == (args == ["--version"])  # only --version succeeds
    assert (by_run.stdout, by_run.stderr) == (by_main.stdout, by_main.stderr)
