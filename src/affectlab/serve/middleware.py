"""ASGI pieces of the service: the JSON error shape and an early request-body size limit."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi.responses import JSONResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def error_response(
    status: int, code: str, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """Return the service's error body `{"error": code, "detail": ...}` with `status`."""
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=dict(headers or {}))


class _BodyTooLarge(Exception):
    """The request body went past the limit while it was being read."""


class BodyLimitMiddleware:
    """Refuse bodies over `max_body` bytes with 413: by Content-Length before reading, else mid-stream."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        """Wrap `app`."""
        self.app = app
        self.max_body = max_body

    async def _send_413(self, send: Send, size: str) -> None:
        body = json.dumps(
            {
                "error": "upload_too_large",
                "detail": f"the request body is {size}; the limit is {self.max_body} bytes "
                "(the image upload limit plus multipart overhead)",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, counting its body bytes."""
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_body:
                    await self._send_413(send, f"{declared} bytes (Content-Length)")
                    return
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    exceeded = True
                    raise _BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                # The app turned our exception into some other answer; replace it with the 413.
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await self._send_413(send, f"over {self.max_body} bytes")
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _BodyTooLarge:
            if not started:
                started = True
                await self._send_413(send, f"over {self.max_body} bytes")
        except Exception:
            if exceeded and started:
                return
            raise
