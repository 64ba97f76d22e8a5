"""The ASGI app behind `lrface serve` (Starlette; torch-free). Every handler calls :mod:`lrface.api`.

Concurrency: identify requests are micro-batched onto one inference thread; enrol/remove run one at a
time on a writer thread, each as a new gallery generation under the gallery's writer lock (shared with
`lrface gallery add`), and every request first picks up the newest published generation, so a request
sees one whole generation, never half an update.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..api import Gallery, Recognizer, Verification, decide
from ..errors import Damaged, UserError
from ..fileio import write_error_line
from ..imageio import BadImage
from ..inference.gallery import UnknownIdentity
from ..inference.gallery_store import GalleryUnreadable, generation_stamp
from ..inference.model_match import check_model, mismatch
from ..inference.threshold import accepts, verify_threshold
from .batching import MicroBatcher
from .request_parsing import (
    MAX_IMAGES,
    BodyLimit,
    TooLarge,
    error_response,
    read_files,
    read_flag,
    read_form,
    read_number,
)

CONFIG_ENV = "LRFACE_SERVE_CONFIG"


@dataclass
class ServeConfig:
    gallery: str
    model: str | None = None
    token: str | None = None
    max_bytes: int = 4 << 20  # per request body
    max_pixels: int = 4_000_000  # per decoded image (decompression bombs)
    threads: int = 1  # ONNX Runtime intra-op threads
    max_batch: int = 64
    align: bool = False  # uploads are raw photos: detect and align the face (torch-free MTCNN)


class Service:
    """Model, gallery and the two worker threads (inference, gallery writes) of one server process."""

    def __init__(self, cfg: ServeConfig):
        self.cfg = cfg
        self.gallery = Gallery.open(cfg.gallery)
        recorded = self.gallery.info["model_path"]
        model = cfg.model or (recorded if os.path.isfile(recorded) else None)
        self.recognizer = Recognizer(model, threads=cfg.threads, align=cfg.align)
        self.gallery.check_model(self.recognizer)
        self.batcher = MicroBatcher(self._identify_batch, cfg.max_batch)
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="lrface-writer")
        self._refresh: asyncio.Future | None = None

    # -- generations -----------------------------------------------------------------------
    async def current(self, check: bool = True) -> None:
        """Pick up a generation published since the last request (by this service or `lrface gallery add`);
        with ``check``, ModelMismatch (503) when it was built with another model than the one served."""
        if generation_stamp(self.gallery.path) != self.gallery._stamp:
            if self._refresh is None or self._refresh.done():
                self._refresh = asyncio.get_running_loop().run_in_executor(self.writer, self.gallery.refresh)
            await asyncio.shield(self._refresh)
        if check:
            check_model(self.gallery.core.info, self.recognizer.embedder, self.gallery.path)

    async def write(self, fn, *args):
        await self.current()
        return await asyncio.get_running_loop().run_in_executor(self.writer, fn, *args)

    # -- work on the threads ---------------------------------------------------------------
    def _identify_batch(self, items: list[tuple]) -> list[tuple]:
        core = self.gallery.core  # one generation for the whole batch
        check_model(core.info, self.recognizer.embedder, self.gallery.path)
        embeddings = self.recognizer.embedder.embed([image for image, _ in items])
        found = core.search(embeddings, max(k for _, k in items))
        return [(m[:k], core) for m, (_, k) in zip(found, items)]

    def load(self, data: bytes, name: str):
        return self.recognizer.load(data, name, self.cfg.max_pixels)

    async def read(self, data: bytes, name: str):
        """:meth:`load` of one upload; with --align on the inference thread (detection takes milliseconds)."""
        if not self.cfg.align:
            return self.load(data, name)
        return await asyncio.get_running_loop().run_in_executor(self.batcher.pool, self.load, data, name)

    def check_token(self, request: Request) -> None:
        if not self.cfg.token:
            return
        given = request.headers.get("authorization", "")
        token = given[7:] if given.lower().startswith("bearer ") else request.headers.get("x-lrface-token", "")
        if not hmac.compare_digest(token.encode(), self.cfg.token.encode()):
            raise HTTPException(401, "this endpoint needs the service token: send 'Authorization: Bearer TOKEN'")


# -- endpoints -----------------------------------------------------------------------------------
async def health(request: Request) -> JSONResponse:
    svc: Service = request.app.state.service
    await svc.current(check=False)
    g = svc.gallery
    why = mismatch(g.core.info, svc.recognizer.embedder)
    body = {
        "status": "ok",
        "identities": len(g),
        "gallery": str(g.path),
        "model": svc.recognizer.fingerprint,
        "model_sha256": svc.recognizer.embedder.sha256,
        "model_path": str(svc.recognizer.model_path),
        "align": svc.cfg.align,
        "gallery_model_sha256": g.info.get("model_sha256"),
        "gallery_matches_model": why is None,
        "thresholds": {
            "identify": dict(zip(("value", "source"), g.threshold(None, "identify"))),
            "verify": dict(zip(("value", "source", "far"), verify_threshold(None, g, svc.recognizer.model_path))),
        },
    }
    if why is not None:  # the error answer of every endpoint, with the details above
        body.update(
            status=503, error=f"the served gallery {why}; rebuild it with the served model or restart the service"
        )
    return JSONResponse(body, 200 if why is None else 503)


async def identify(request: Request) -> JSONResponse:
    svc: Service = request.app.state.service
    form = await read_form(request)
    top_k = read_number(request, form, "top_k", int, 5)
    threshold = read_number(request, form, "threshold", float, None)
    if top_k < 1:
        raise HTTPException(400, "top_k must be at least 1")
    [(name, data)] = await read_files(form, "image")
    if read_flag(request, form, "all_faces"):
        return await identify_all_faces(svc, name, data, top_k, threshold)
    image = await svc.read(data, name)
    await svc.current()
    matches, core = await svc.batcher.submit((image, top_k))
    value, source = svc.gallery.threshold(threshold, core=core)
    return JSONResponse({**asdict(decide(matches, value, source)), "probe": name})


async def identify_all_faces(svc: Service, name: str, data: bytes, top_k: int, threshold) -> JSONResponse:
    """`all_faces=true`: every face of the frame (within the byte and pixel caps), {"faces": [...]}."""
    from ..inference.scenes import NO_FACE_REASON

    image = svc.recognizer.decode(data, name, svc.cfg.max_pixels)
    await svc.current()
    faces = await asyncio.get_running_loop().run_in_executor(
        svc.batcher.pool, lambda: svc.recognizer.identify_faces(image, svc.gallery, top_k, threshold)
    )
    body = {"probe": name, "faces": [{**f.to_dict(), "probe": name} for f in faces]}
    return JSONResponse(body if faces else {**body, "reason": NO_FACE_REASON})


async def verify(request: Request) -> JSONResponse:
    svc: Service = request.app.state.service
    form = await read_form(request)
    threshold = read_number(request, form, "threshold", float, None)
    [(name_a, a)], [(name_b, b)] = await read_files(form, "a"), await read_files(form, "b")
    images = [await svc.read(a, name_a), await svc.read(b, name_b)]
    await svc.current()
    value, source, far = verify_threshold(threshold, svc.gallery, svc.recognizer.model_path)
    if value is None:
        raise HTTPException(
            400,
            "no verification threshold: pass threshold=T or calibrate the gallery "
            "(`lrface gallery calibrate G --far 0.01`)",
        )
    e = await asyncio.get_running_loop().run_in_executor(svc.batcher.pool, svc.recognizer.embedder.embed, images)
    score = float(e[0] @ e[1])  # the images are loaded (and aligned) already: embedded as they are
    return JSONResponse(asdict(Verification(bool(accepts(score, value)), score, value, source, far)))


async def list_identities(request: Request) -> JSONResponse:
    svc: Service = request.app.state.service
    await svc.current()
    rows = svc.gallery.identities()
    return JSONResponse({"count": len(rows), "identities": [{"identity": n, "samples": c} for n, c in rows.items()]})


async def enrol(request: Request) -> JSONResponse:
    svc: Service = request.app.state.service
    svc.check_token(request)
    name = request.path_params["name"]
    form = await read_form(request)
    files = await read_files(form, "image", MAX_IMAGES)
    report = await svc.write(
        lambda: svc.gallery.add(name, [d for _, d in files], svc.recognizer, max_pixels=svc.cfg.max_pixels)
    )
    return JSONResponse({**report.to_dict(), "identities": len(svc.gallery)})


async def remove(request: Request) -> JSONResponse:
    svc: Service = request.app.state.service
    svc.check_token(request)
    name = request.path_params["name"]
    removed = await svc.write(svc.gallery.remove, name)
    return JSONResponse({"identity": name, "removed_samples": removed, "identities": len(svc.gallery)})


# -- errors: always JSON, never a traceback --------------------------------------------------------
async def _user_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, GalleryUnreadable):  # the served gallery was damaged or removed on disk: not the client's fault
        message = f"the served gallery cannot be read: {exc}; the service picks up a rebuilt or restored gallery"
        print(f"lrface serve: {request.method} {request.url.path}: {message}", file=sys.stderr)
        return error_response(503, message)
    if isinstance(exc, Damaged):  # e.g. the gallery was rebuilt with another model than the one served
        print(f"lrface serve: {request.method} {request.url.path}: {exc}", file=sys.stderr)
        return error_response(503, str(exc))
    if isinstance(exc, UnknownIdentity):
        return error_response(404, str(exc))
    if isinstance(exc, BadImage) and exc.reason == "too-large":
        return error_response(413, str(exc))
    return error_response(400, str(exc))


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return error_response(exc.status_code, str(exc.detail))


async def _too_large(request: Request, exc: Exception) -> JSONResponse:
    return error_response(
        413, f"request body over {request.app.state.service.cfg.max_bytes} bytes; send a smaller image"
    )


async def _disconnected(request: Request, exc: Exception) -> JSONResponse:
    """The client went away mid-request (an upload cut short): one log line; the answer reaches no one."""
    print(f"lrface serve: {request.method} {request.url.path}: the client disconnected before its request was read",
          file=sys.stderr)  # fmt: skip
    return error_response(400, "client disconnected")


async def _write_failed(request: Request, exc: OSError) -> JSONResponse:
    """The served gallery could not be read or written (a full disk, a read-only or unwritable folder): 503, one log
    line; the gallery keeps its previous generation."""
    message = f"the served gallery could not be read or written: {write_error_line(exc)}"
    print(f"lrface serve: {request.method} {request.url.path}: {message}", file=sys.stderr)
    return error_response(503, message)


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    print(
        f"lrface serve: internal error on {request.method} {request.url.path}: {type(exc).__name__}: {exc}",
        file=sys.stderr,
    )
    return error_response(500, f"internal error ({type(exc).__name__}); see the server log")


def create_app(cfg: ServeConfig, service: Service | None = None) -> Starlette:
    import logging

    from starlette.middleware import Middleware

    for name in ("python_multipart", "multipart"):  # a malformed upload is the client's 400, not server log noise
        logging.getLogger(name).setLevel(logging.ERROR)

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/identify", identify, methods=["POST"]),
            Route("/verify", verify, methods=["POST"]),
            Route("/identities", list_identities, methods=["GET"]),
            Route("/identities/{name}", enrol, methods=["POST"]),
            Route("/identities/{name}", remove, methods=["DELETE"]),
        ],
        middleware=[Middleware(BodyLimit, max_bytes=cfg.max_bytes)],
        exception_handlers={
            UserError: _user_error,
            HTTPException: _http_error,
            TooLarge: _too_large,
            ClientDisconnect: _disconnected,
            OSError: _write_failed,
            Exception: _internal,
        },
    )
    app.router.redirect_slashes = False  # /identities/ is a JSON 404, not a bodiless 307 to another endpoint
    app.state.service = service or Service(cfg)
    return app


def app_from_env() -> Starlette:
    """uvicorn factory for ``--workers N``: the config travels in $LRFACE_SERVE_CONFIG (JSON)."""
    return create_app(ServeConfig(**json.loads(os.environ[CONFIG_ENV])))
