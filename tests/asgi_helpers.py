"""Drive the service's ASGI app in this process (no server, no socket), so a test can monkeypatch what the
service meets: a full disk, a client that disconnects half-way through its upload."""

from __future__ import annotations

import asyncio
import json

from service_helpers import multipart


def asgi_call(app, method: str, path: str, fields=None, query: str = "", cut_after: int | None = None):
    """(status, JSON answer) of one request; ``cut_after``: the client sends that many body bytes, then leaves."""
    body, headers = b"", []
    if fields is not None:
        body, ctype = multipart(fields)
        headers = [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode())]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    cut = cut_after is not None
    messages = [{"type": "http.request", "body": body[:cut_after] if cut else body, "more_body": cut}]
    sent = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))
