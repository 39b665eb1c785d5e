"""Resource limits of `affectlab serve` and the gate that bounds concurrent inferences."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import Any

from affectlab.errors import AffectlabError

MIB = 1024 * 1024


@dataclass(frozen=True)
class ServeLimits:
    """Upper bounds on what one request and the whole service may consume."""

    #: Largest accepted upload (the image file itself), in bytes; bigger uploads get 413.
    max_upload_bytes: int = 10 * MIB
    #: Largest accepted image, width x height as declared in the file header; bigger gets 413.
    max_pixels: int = 40_000_000
    #: Inferences (decode + detect + predict) running at the same time.
    max_concurrency: int = 2
    #: Requests allowed to wait for a free inference slot; past that the service answers 429 at once.
    max_queue: int = 16
    #: Seconds a request may take from entering the queue to its answer; past that, 504.
    timeout_s: float = 30.0
    #: Seconds suggested to clients in the Retry-After header of a 429.
    retry_after_s: int = 1

    def __post_init__(self) -> None:
        """Reject limits that cannot work."""
        if self.max_upload_bytes < 1:
            raise AffectlabError(f"max upload size must be positive, got {self.max_upload_bytes} bytes")
        if self.max_pixels < 1:
            raise AffectlabError(f"max pixels must be positive, got {self.max_pixels}")
        if self.max_concurrency < 1:
            raise AffectlabError(f"max concurrency must be at least 1, got {self.max_concurrency}")
        if self.max_queue < 0:
            raise AffectlabError(f"max queue must be 0 or more, got {self.max_queue}")
        if not self.timeout_s > 0:
            raise AffectlabError(f"timeout must be positive, got {self.timeout_s} s")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


class GateFull(Exception):
    """Raised when every inference slot is busy and the wait queue is full."""


class GateTimeout(Exception):
    """Raised when no inference slot freed up within the request's time budget."""


class InferenceGate:
    """A bounded semaphore with a bounded wait queue: at most `slots` running, `queue` waiting.

    A slot is held until the work really finishes (see :meth:`release`), even when the request that
    started it has already timed out, so timed-out work can never pile up beyond the cap.
    """

    def __init__(self, slots: int, queue: int) -> None:
        """Create a gate with `slots` concurrent holders and `queue` waiters."""
        self.slots = slots
        self.queue = queue
        self._sem = asyncio.Semaphore(slots)
        # Admission is counted synchronously (no await in between), so bursts cannot overshoot.
        self._admitted = 0
        self._running = 0

    @property
    def running(self) -> int:
        """Number of slots held now."""
        return self._running

    @property
    def waiting(self) -> int:
        """Number of requests waiting for a slot now."""
        return self._admitted - self._running

    async def acquire(self, timeout_s: float) -> None:
        """Take a slot, waiting up to `timeout_s`; raise GateFull or GateTimeout instead."""
        if self._admitted >= self.slots + self.queue:
            raise GateFull()
        self._admitted += 1
        try:
            await asyncio.wait_for(self._sem.acquire(), timeout=timeout_s)
        except TimeoutError as exc:
            self._admitted -= 1
            raise GateTimeout() from exc
        except BaseException:
            self._admitted -= 1
            raise
        self._running += 1

    def release(self) -> None:
        """Give a slot back (call exactly once per successful acquire, when the work is done)."""
        self._running -= 1
        self._admitted -= 1
        self._sem.release()
