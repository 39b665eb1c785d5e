"""Where the time of a predict run goes: seconds per stage (decode, detect, track, crop, model, write)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

#: The stages of the video path, in pipeline order.
STAGES: tuple[str, ...] = ("decode", "detect", "track", "crop", "model", "write")

T = TypeVar("T")


class StageTimes:
    """Accumulates wall-clock seconds per named stage (cheap enough to stay on all the time)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Add the time spent inside the block to `name`."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - started)

    def add(self, name: str, seconds: float) -> None:
        """Add `seconds` to stage `name`."""
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def timed(self, items: Iterable[T], name: str = "decode") -> Iterator[T]:
        """Yield from `items`, counting the time spent producing each item (e.g. decoding) under `name`."""
        iterator = iter(items)
        while True:
            started = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                self.add(name, time.perf_counter() - started)
                return
            self.add(name, time.perf_counter() - started)
            yield item

    def reset(self) -> None:
        """Set every stage back to zero."""
        self.seconds = dict.fromkeys(STAGES, 0.0)

    def to_dict(self, frames: int | None = None) -> dict[str, float]:
        """Seconds per stage, or milliseconds per frame when `frames` is given."""
        if frames:
            return {k: round(v * 1000.0 / frames, 3) for k, v in self.seconds.items()}
        return {k: round(v, 4) for k, v in self.seconds.items()}
