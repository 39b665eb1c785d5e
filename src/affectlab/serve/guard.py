"""The connection guard of `affectlab serve`: read timeouts for a request's head and body, and caps on the
connections of one client and on idle connections.

uvicorn has a keep-alive timeout between requests, but no time limit for reading a request's head or body,
and it counts every open connection toward its concurrency limit: a client that opens connections and sends
nothing (or one byte a second) used to lock every other client out with 503s. uvicorn's `http=` option takes
a protocol class; this module subclasses its h11 protocol and adds, per connection:

- a head timeout: the request line and headers must arrive within ``header_timeout_s`` of the connection (or
  of the previous response); past it the connection is closed (408 when part of a head had arrived);
- a body timeout: the whole body must arrive within ``body_timeout_s`` of the head; past it 408, closed;
- at most ``max_per_client`` open connections per client address (more: 429 and closed at once);
- at most ``max_idle`` idle connections (no complete request head yet): past it the oldest idle one is closed,
  so idle connections can never keep a new client out;
- at most ``max_connections`` in all: past it (and with no idle connection to close) 503 and closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from affectlab.errors import AffectlabError

logger = logging.getLogger("affectlab.serve")


@dataclass(frozen=True)
class ConnectionLimits:
    """Time and count limits on the service's TCP connections (see the module docstring)."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    #: Open connections per client address; 0: no cap (behind a reverse proxy every client is the proxy).
    max_per_client: int = 8
    max_idle: int = 32
    max_connections: int = 128

    def __post_init__(self) -> None:
        """Reject limits that cannot work."""
        for name in ("header_timeout_s", "body_timeout_s"):
            if not getattr(self, name) > 0:
                raise AffectlabError(f"{name.removesuffix('_s').replace('_', ' ')} must be positive seconds")
        if self.max_per_client < 0 or self.max_idle < 1 or self.max_connections < 1:
            raise AffectlabError(
                "connection caps: per client must be 0 (no cap) or more, idle and total at least 1; got "
                f"{self.max_per_client}, {self.max_idle}, {self.max_connections}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


def raw_response(status: int, reason: str, code: str, detail: str) -> bytes:
    """An HTTP/1.1 error answer in the service's JSON shape that closes the connection."""
    body = json.dumps({"error": code, "detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _Registry:
    """The connections of one server: counts per client address and idle ones in the order they went idle."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.per_client: Counter[str] = Counter()
        self.open: set[Any] = set()
        self.idle: dict[Any, None] = {}  # insertion-ordered: the first is the longest idle
        self._warned: dict[str, float] = {}

    def warn(self, host: str, what: str) -> None:
        """Log a refusal at most once a minute per client (an attack must not flood the log)."""
        now = time.monotonic()
        if now - self._warned.get(host, -60.0) >= 60.0:
            self._warned[host] = now
            logger.warning("%s from %s (further ones from it are not logged for a minute)", what, host)

    def oldest_idle(self, but: Any) -> Any | None:
        return next((c for c in self.idle if c is not but), None)


def guarded_protocol(limits: ConnectionLimits) -> type[H11Protocol]:
    """A uvicorn h11 protocol class enforcing ``limits``; one class (one set of counts) per server."""
    registry = _Registry(limits)

    class GuardedH11Protocol(_GuardedH11Protocol):
        _registry = registry

    return GuardedH11Protocol


class _GuardedH11Protocol(H11Protocol):
    _registry: _Registry

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Count the connection, or refuse it when its client or the server is at the cap."""
        super().connection_made(transport)
        reg, limits = self._registry, self._registry.limits
        self._counted = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._host = self.client[0] if self.client else "unknown"
        if limits.max_per_client and reg.per_client[self._host] >= limits.max_per_client:
            detail = f"at most {limits.max_per_client} open connections per client; close some and retry"
            self._refuse(raw_response(429, "Too Many Requests", "too_many_connections", detail))
            return
        if len(reg.open) >= limits.max_connections:
            victim = reg.oldest_idle(but=self)
            if victim is None:
                detail = f"all {limits.max_connections} connections are busy; retry in a few seconds"
                self._refuse(raw_response(503, "Service Unavailable", "busy", detail))
                return
            victim._close_idle("the server needed the connection")
        self._counted = True
        reg.open.add(self)
        reg.per_client[self._host] += 1
        self._go_idle()
        if len(reg.idle) > limits.max_idle:
            victim = reg.oldest_idle(but=self)
            if victim is not None:
                victim._close_idle(f"more than {limits.max_idle} idle connections")

    def _refuse(self, answer: bytes) -> None:
        self._registry.warn(self._host, f"refused a connection: {answer.split(b' ', 2)[1].decode()}")
        self.transport.write(answer)
        self.transport.close()

    def _go_idle(self) -> None:
        """No request in progress: start the head timer; count as idle."""
        self._cancel_timers()
        self._head_bytes = 0
        self._registry.idle[self] = None
        self._head_timer = self.loop.call_later(self._registry.limits.header_timeout_s, self._head_timeout)

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None

    def data_received(self, data: bytes) -> None:
        """Feed uvicorn, then follow the request's progress: head complete, body complete."""
        if not self._counted:
            return  # refused: nothing is read
        if self.conn.their_state is h11.IDLE:
            self._head_bytes += len(data)
        super().data_received(data)
        self._follow()

    def _follow(self) -> None:
        state = self.conn.their_state
        if state is h11.IDLE:
            return  # still waiting for a complete head: the head timer runs
        self._registry.idle.pop(self, None)
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if state is h11.SEND_BODY:
            if self._body_timer is None:
                self._body_timer = self.loop.call_later(
                    self._registry.limits.body_timeout_s, self._body_timeout
                )
        elif self._body_timer is not None:  # the body is complete (or the connection ends)
            self._body_timer.cancel()
            self._body_timer = None

    def on_response_complete(self) -> None:
        """After each answer the connection is idle again (keep-alive), until pipelined data say otherwise."""
        if self._counted and not self.transport.is_closing():
            self._go_idle()
        super().on_response_complete()
        if self._counted and not self.transport.is_closing():
            self._follow()

    def _close_idle(self, why: str) -> None:
        """Close a connection with no request in progress (408 if part of a head had arrived)."""
        self._registry.idle.pop(self, None)
        if self.transport.is_closing():
            return
        logger.debug("closing an idle connection from %s: %s", self._host, why)
        if self._head_bytes:
            seconds = self._registry.limits.header_timeout_s
            detail = f"the request head did not arrive completely within {seconds:g} s"
            self.transport.write(raw_response(408, "Request Timeout", "request_timeout", detail))
        self.transport.close()

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE:
            self._close_idle(f"no complete request head within {self._registry.limits.header_timeout_s:g} s")

    def _body_timeout(self) -> None:
        self._body_timer = None
        if self.conn.their_state is not h11.SEND_BODY or self.transport.is_closing():
            return
        seconds = self._registry.limits.body_timeout_s
        self._registry.warn(
            self._host, f"closed a connection: request body not complete within {seconds:g} s"
        )
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            detail = f"the request body did not arrive completely within {seconds:g} s"
            self.transport.write(raw_response(408, "Request Timeout", "request_timeout", detail))
        if cycle is not None:  # the app's receive() gets http.disconnect; its answer is dropped
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        """Uncount the connection."""
        self._cancel_timers()
        if self._counted:
            self._counted = False
            reg = self._registry
            reg.open.discard(self)
            reg.idle.pop(self, None)
            reg.per_client[self._host] -= 1
            if reg.per_client[self._host] <= 0:
                del reg.per_client[self._host]
        super().connection_lost(exc)
