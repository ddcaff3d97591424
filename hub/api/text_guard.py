"""Refuse a NUL character anywhere in a request before a route or the database sees it.

PostgreSQL cannot store U+0000 in text (see :mod:`core.text`), so a NUL in a query parameter, the path, a
JSON body or a form would otherwise reach the database and fail there as a server error. This ASGI
middleware answers 422 instead, in FastAPI's own schema-error shape, naming where the NUL is::

    {"detail": [{"loc": ["query", "q"], "msg": "...", "type": "nul_character"}]}

JSON and URL-encoded bodies are read in full to be checked, up to :data:`MAX_CHECKED_BODY_BYTES`; larger
ones, and other content types (file uploads), pass through to the route's own validation.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final
from urllib.parse import parse_qsl, unquote

from core.text import NUL, nul_path

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_CHECKED_BODY_BYTES: Final = 8 * 1024 * 1024
"""Largest JSON or form body read ahead and checked; a bigger one goes to the route unchecked."""
PROBLEM: Final = "must not contain a NUL character (U+0000)"


class RejectNul:
    """ASGI middleware: 422 for a request with a NUL in its path, query, JSON body or URL-encoded form."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        where = _in_path_or_query(scope)
        if where is not None:
            await _refuse(send, where)
            return
        kind = _body_kind(scope)
        if kind is None:
            await self.app(scope, receive, send)
            return
        body, more, messages = await _read_ahead(receive)
        if not more:
            where = _in_body(body, kind)
            if where is not None:
                await _refuse(send, where)
                return
        replay = list(messages)

        async def replayed() -> Message:
            return replay.pop(0) if replay else await receive()

        await self.app(scope, replayed, send)


def _in_path_or_query(scope: Scope) -> list[str] | None:
    path = str(scope.get("path", ""))
    if NUL in path or NUL in unquote(path):
        return ["path"]
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if NUL in name or NUL in value:
            return ["query", name.replace(NUL, "\\x00")]
    return None


def _body_kind(scope: Scope) -> str | None:
    for key, value in scope.get("headers", ()):
        if bytes(key).lower() == b"content-type":
            media = bytes(value).split(b";", 1)[0].strip().lower()
            if media == b"application/json" or media.endswith(b"+json"):
                return "json"
            if media == b"application/x-www-form-urlencoded":
                return "form"
    return None


async def _read_ahead(receive: Receive) -> tuple[bytes, bool, list[Message]]:
    """The body so far, whether more is still unread (over the bound), and the messages read."""
    chunks: list[bytes] = []
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return b"", True, messages
        chunk = bytes(message.get("body", b""))
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False, messages
        if size > MAX_CHECKED_BODY_BYTES:
            return b"", True, messages


def _in_body(body: bytes, kind: str) -> list[str] | None:
    if kind == "form":
        for name, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
            if NUL in name or NUL in value:
                return ["body", name.replace(NUL, "\\x00")]
        return None
    if b"\\u0000" not in body and b"\x00" not in body:
        return None
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None  # not JSON: the route's schema validation says so
    where = nul_path(document)
    if where is None:
        return None
    return ["body", *([] if where == "(root)" else where.split("."))]


async def _refuse(send: Send, loc: list[str]) -> None:
    field = ".".join(loc[1:]) or loc[0]
    payload = json.dumps(
        {"detail": [{"loc": loc, "msg": f"{field} {PROBLEM}", "type": "nul_character"}]},
        ensure_ascii=False,
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})
