"""ASGI pieces of the service: the JSON error shape, an early request-body size limit, the API key check."""

from __future__ import annotations

import hmac
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


#: Paths anyone may fetch without a key (the page, the liveness check, the API docs), and OPEN_PREFIXES.
OPEN_PATHS: frozenset[str] = frozenset({"/", "/v1/health", "/docs", "/openapi.json", "/favicon.ico"})
OPEN_PREFIXES: tuple[str, ...] = ("/static/",)


class ApiKeyMiddleware:
    """Require `Authorization: Bearer KEY` (or `X-API-Key: KEY`) on every API path but OPEN_PATHS: 401."""

    def __init__(self, app: ASGIApp, keys: tuple[str, ...]) -> None:
        """Wrap `app`; `keys` are the accepted keys (compared in constant time)."""
        self.app = app
        self.keys = tuple(k.encode() for k in keys)

    def _open(self, path: str) -> bool:
        return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)

    def _given(self, scope: Scope) -> bytes | None:
        for name, value in scope.get("headers", ()):
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                return bytes(value[7:].strip())
            if name == b"x-api-key":
                return bytes(value.strip())
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on when its key matches (or its path is open); else answer 401."""
        if scope["type"] != "http" or scope.get("method") == "OPTIONS" or self._open(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        given = self._given(scope)
        if given is not None and any(hmac.compare_digest(given, key) for key in self.keys):
            await self.app(scope, receive, send)
            return
        detail = (
            "this service needs an API key: send `Authorization: Bearer KEY` or `X-API-Key: KEY`"
            if given is None
            else "the API key is not valid"
        )
        body = json.dumps({"error": "unauthorized", "detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="affectlab"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def read_api_keys(key: str | None, key_file: str | None) -> tuple[str, ...]:
    """The API keys from `--api-key` and/or `--api-key-file` (one key a line; blank lines and # ignored)."""
    from pathlib import Path

    from affectlab.errors import AffectlabError

    keys = [key.strip()] if key and key.strip() else []
    if key_file:
        path = Path(key_file)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise AffectlabError(f"--api-key-file {path}: cannot read it ({exc})") from None
        keys += [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
        if not keys:
            raise AffectlabError(f"--api-key-file {path}: no key in it (one key a line)")
    for k in keys:
        if len(k) < 16 or any(c.isspace() for c in k):
            raise AffectlabError(
                "an API key must be at least 16 characters without spaces (for example the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
    return tuple(keys)
