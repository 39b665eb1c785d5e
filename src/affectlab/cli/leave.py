"""Leaving the `affectlab` program without the interpreter's teardown, which no command needs.

Once a process has imported torch, Python's own shutdown (freeing every module and the objects they hold,
one by one) took about 0.6 s on the 2-core machine the benchmarks run on: a fifth of `affectlab predict`'s
start-up and shutdown on a short clip, paid by every command. `leave` does what that shutdown does for the
program's output (the atexit handlers: logging's flush, weakref finalizers, multiprocessing's reaping of
workers, coverage's save; then stdout and stderr flushed) and then ends the process with ``os._exit``.

It falls back to an ordinary ``sys.exit`` whenever something may still need the full shutdown: another
non-daemon thread running, a tracer or profiler installed (a debugger, ``python -m cProfile``, coverage's
tracer), or ``AFFECTLAB_FULL_EXIT=1`` in the environment.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from typing import NoReturn


def exit_status(code: str | int | None) -> int:
    """The process status for a SystemExit code, as the interpreter computes it (None 0; text prints, 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code % 256  # what the OS keeps of it, negative codes included
    print(code, file=sys.stderr)
    return 1


def needs_full_exit() -> bool:
    """Whether anything running may still need the interpreter's ordinary shutdown."""
    others = [t for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon]
    traced = sys.gettrace() is not None or sys.getprofile() is not None
    return bool(others) or traced or os.environ.get("AFFECTLAB_FULL_EXIT", "") not in ("", "0")


def leave(code: str | int | None) -> NoReturn:
    """End the program with SystemExit `code`: its atexit handlers and flushes, then no teardown if safe."""
    if needs_full_exit():
        sys.exit(code)
    status = exit_status(code)
    try:
        atexit._run_exitfuncs()  # what Py_Finalize runs first: the handlers own the program's output
    finally:
        for stream in (sys.stdout, sys.stderr):
            # a closed pipe or stream: nothing more can be written to it
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(status)
