"""An ASGI middleware that refuses, before BentoML parses anything, request bodies above a size
limit (413) and POST bodies that are not JSON (415: BentoML answers 500 to a multipart type
without a boundary, found by schemathesis)."""

from __future__ import annotations

import json
from typing import Any


class BodyTooLarge(Exception):
    pass


class RequestGuardMiddleware:
    """Refuse bodies larger than ``max_bytes`` (by ``Content-Length`` at once, else while reading)
    and POST requests whose ``Content-Type`` is set and is not ``application/json``."""

    def __init__(self, app: Any, max_bytes: int = 65536) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes ({max_bytes}) must be >= 1")
        self.app = app
        self.max_bytes = int(max_bytes)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if scope.get("method") == "POST" and media_type and media_type != b"application/json":
            await self._refuse(send, 415, f"Content-Type {media_type.decode(errors='replace')!r} is not supported: send a JSON body with Content-Type: application/json")
            return
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await self._refuse(send, 400, "Content-Length is not an integer")
                return
            if declared > self.max_bytes:
                await self._refuse(send, 413, self._message(declared))
                return
        seen = 0
        started = False

        async def limited_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send, 413, self._message(seen))

    def _message(self, size: int) -> str:
        return f"request body of {size} bytes is over the limit of {self.max_bytes} bytes: send fewer ratings or a smaller request"

    @staticmethod
    async def _refuse(send: Any, status: int, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
