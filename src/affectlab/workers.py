"""Worker processes that never re-run the user's script: the entry-point guard and the one ordered pool.

Python's spawn and forkserver start methods import the parent's ``__main__`` again in every worker (as
``__mp_main__``). A script that calls affectlab at top level, without ``if __name__ == "__main__":``, then
runs again in each worker. Two defences, both here: every affectlab entry point calls `refuse_worker_import`
first, so in such a worker it stops at once with the fix in the message; and `OrderedPool` runs on a
`concurrent.futures.ProcessPoolExecutor`, where a worker that dies breaks the pool (instead of being
replaced for ever, as `multiprocessing.Pool` does) and the work continues in this process with one warning.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, Generic, TypeVar

from affectlab.errors import AffectlabError

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

MAIN_GUARD = 'if __name__ == "__main__":'
#: Start methods whose workers exited as they started in this process: later pools do not try them again.
_FAILED_METHODS: set[str] = set()
#: multiprocessing.spawn's functions that run the parent's main module inside a new worker.
_REIMPORT_FUNCTIONS = ("_fixup_main_from_path", "_fixup_main_from_name")


class WorkerImportError(AffectlabError):
    """An affectlab entry point ran while a worker process was importing the user's script."""


def _reimport_frame() -> Any:
    """The multiprocessing frame that is running the parent's main module in this worker, if any."""
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name in _REIMPORT_FUNCTIONS and "multiprocessing" in code.co_filename:
            return frame
        frame = frame.f_back  # type: ignore[assignment]
    return None


def importing_main_in_worker() -> bool:
    """True while this process is a spawn/forkserver worker re-running the parent's main module."""
    return _reimport_frame() is not None


def _one_line_hook(previous: Callable[..., Any]) -> Callable[..., Any]:
    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if isinstance(exc, WorkerImportError):
            sys.stderr.write(f"affectlab worker process stopped: {exc}\n")
        else:
            previous(kind, exc, tb)

    return hook


def refuse_worker_import(entry: str) -> None:
    """Stop at once if `entry` is called while a worker process re-imports the user's script."""
    frame = _reimport_frame()
    if frame is None:
        return
    local = frame.f_locals
    script = local.get("main_path") or local.get("mod_name") or "the main module"
    # One line per worker instead of a traceback each: the parent then carries on without the pool.
    sys.excepthook = _one_line_hook(sys.excepthook)
    raise WorkerImportError(
        f"affectlab.{entry}() was called while a worker process was importing {script}, which does its "
        f"work at import time; put that code under `{MAIN_GUARD}` (see the README's Python API section)"
    )


class OrderedPool(Generic[T, R]):
    """`map(fn, items)` in order on worker processes, or in this process if they cannot run.

    Use as a context manager; `map` may be called many times (one bounded window at a time).
    """

    def __init__(
        self,
        fn: Callable[[T], R],
        workers: int,
        *,
        method: str = "spawn",
        initializer: Callable[[], None] | None = None,
        what: str = "work",
    ) -> None:
        self.fn = fn
        self.workers = workers
        self.what = what
        self.initializer = initializer
        self.fallback_reason: str | None = None
        self._results = 0
        self._executor: Any = None
        self._local_ready = False
        self._method = method
        if workers > 1 and method not in _FAILED_METHODS:
            from concurrent.futures import ProcessPoolExecutor

            self._executor = ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context(method), initializer=initializer
            )
        else:
            self._init_local()

    def _init_local(self) -> None:
        if not self._local_ready and self.initializer is not None:
            self.initializer()
        self._local_ready = True

    def map(self, items: Sequence[T], chunksize: int = 1) -> Iterator[R]:
        """Yield fn(item) for every item, in order."""
        if self._executor is None:
            yield from map(self.fn, items)
            return
        from concurrent.futures.process import BrokenProcessPool

        done = 0
        try:
            for result in self._executor.map(self.fn, items, chunksize=chunksize):
                self._results += 1
                done += 1
                yield result
        except BrokenProcessPool as exc:
            self._fall_back(exc)
            yield from map(self.fn, items[done:])

    def _fall_back(self, exc: BaseException) -> None:
        """Stop using the pool and say why, once, with how to get the parallel speed back."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._executor = None
        self._init_local()
        if self._results == 0:
            _FAILED_METHODS.add(self._method)
            self.fallback_reason = "the worker processes exited as they started"
            log.warning(
                "%s: the %d worker processes exited as they started, so this runs in this one process "
                "(slower). A script that calls affectlab at top level re-runs in every worker: put its "
                "code under `%s` to use %d processes.",
                self.what,
                self.workers,
                MAIN_GUARD,
                self.workers,
            )
        else:
            self.fallback_reason = f"a worker process died: {exc}"
            log.warning(
                "%s: a worker process died after %d items (%s); continuing in this process (slower)",
                self.what,
                self._results,
                exc,
            )

    def close(self) -> None:
        """Stop the workers (pending work is cancelled)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> OrderedPool[T, R]:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
