"""HTTP request parsing and limits of the service: multipart forms, numeric parameters, body size."""

from __future__ import annotations

import math

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

MAX_IMAGES = 16  # images per enrol request


class TooLarge(Exception):
    """The request body exceeded ``max_bytes`` while it was being read."""


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


async def read_form(request: Request):
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise HTTPException(415, "send the image(s) as multipart/form-data (e.g. curl -F image=@face.png)")
    return await request.form(max_files=MAX_IMAGES + 2, max_fields=8)


async def read_files(form, field: str, limit: int = 1) -> list[tuple[str, bytes]]:
    files = [f for f in form.getlist(field) if hasattr(f, "read")]
    if not files:
        raise HTTPException(400, f"missing image field {field!r} (multipart file upload)")
    if len(files) > limit:
        raise HTTPException(400, f"at most {limit} {field!r} images per request")
    return [(f.filename or field, await f.read()) for f in files]


def read_number(request: Request, form, name: str, kind, default):
    raw = request.query_params.get(name, form.get(name) if form is not None else None)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        raise HTTPException(400, f"{name}={raw!r} is not a valid {kind.__name__}") from None
    if kind is float and not math.isfinite(value):
        raise HTTPException(400, f"{name}={raw!r} must be a finite number")
    return value


def read_flag(request: Request, form, name: str) -> bool:
    """A true/false parameter (true, 1, yes / false, 0, no; absent: false)."""
    raw = request.query_params.get(name, form.get(name) if form is not None else None)
    if raw is None or str(raw).strip().lower() in ("", "false", "0", "no"):
        return False
    if str(raw).strip().lower() in ("true", "1", "yes"):
        return True
    raise HTTPException(400, f"{name}={raw!r} is not true or false")


class BodyLimit:
    """ASGI middleware: refuse bodies over ``max_bytes`` (by Content-Length up front, else while reading)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            status = 400 if not length.isdigit() else 413 if int(length) > self.max_bytes else 0
            if status:
                message = (
                    "bad Content-Length"
                    if status == 400
                    else f"request body over {self.max_bytes} bytes; send a smaller image"
                )
                return await error_response(status, message)(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise TooLarge
            return message

        await self.app(scope, limited, send)
