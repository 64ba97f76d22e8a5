"""`lrface serve --gallery G`: the HTTP JSON service (Starlette + uvicorn; torch-free)."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="serve identify/verify/enrol over HTTP (JSON; torch-free)",
        description="Endpoints: GET /health, POST /identify (multipart 'image'; top_k, threshold), "
        "POST /verify ('a', 'b'), GET /identities, POST /identities/NAME ('image', one or "
        "more), DELETE /identities/NAME. With a token, the two mutating endpoints need "
        "'Authorization: Bearer TOKEN'. Errors are JSON {error, status} with a 4xx code.",
    )
    p.add_argument("--gallery", required=True, help="gallery directory (from `lrface gallery build`)")
    p.add_argument(
        "--model", help="student.onnx or packaged model name (default: the gallery's model, else the packaged default)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--token",
        help="token required by POST/DELETE /identities/NAME (default: $LRFACE_TOKEN; none: "
        "open to anyone who can reach the port)",
    )
    p.add_argument("--max-bytes", type=int, default=4 << 20, help="largest request body in bytes (default 4 MiB)")
    p.add_argument(
        "--max-pixels",
        type=int,
        default=4_000_000,
        help="largest decoded image in pixels (default 4 MP; refuses decompression bombs)",
    )
    p.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads per process (default 1)")
    p.add_argument(
        "--align",
        action="store_true",
        help="uploads to /identify, /verify and enrolment are raw photos: detect and align the largest face as "
        "`lrface prepare` does (torch-free MTCNN; a photo without a face is a 400). Without it they must be "
        "aligned face crops; /identify's all_faces=true reads every face of a photo either way",
    )
    p.set_defaults(func=run)


def _check_port(host: str, port: int) -> None:
    import socket

    from ..errors import UserError

    if not 0 < port < 65536:
        raise UserError(f"--port {port}: must be between 1 and 65535")
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as e:
        raise UserError(f"cannot listen on {host}:{port} ({e.strerror}); choose another --port or --host") from None


def run(args: argparse.Namespace) -> int:
    import json
    import os
    from dataclasses import asdict

    from ..errors import UserError
    from .identify import _import_numpy_with_one_blas_thread

    _import_numpy_with_one_blas_thread()
    for name in ("max_bytes", "max_pixels", "workers", "threads"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1")
    import uvicorn  # the CLI entry checked the [serve] extra (lrface/extras.py)

    from ..serve.app import CONFIG_ENV, ServeConfig, Service, create_app

    token = args.token if args.token is not None else os.environ.get("LRFACE_TOKEN")
    if token is not None and not token.strip():
        raise UserError("--token (or $LRFACE_TOKEN) is empty, which would leave enrol/remove open; pass a real token")
    cfg = ServeConfig(
        gallery=args.gallery,
        model=args.model,
        token=token,
        max_bytes=args.max_bytes,
        max_pixels=args.max_pixels,
        threads=args.threads,
        align=args.align,
    )
    service = Service(cfg)  # a bad gallery or model fails here, as one line, before listening
    _check_port(args.host, args.port)
    print(
        f"lrface serve: {len(service.gallery)} identities from {args.gallery}, model "
        f"{service.recognizer.fingerprint[:12]}, http://{args.host}:{args.port} "
        f"(token {'required' if cfg.token else 'not set'} for enrol/remove; "
        f"{'raw photos, aligned here' if cfg.align else 'uploads are aligned face crops (--align for photos)'})",
        flush=True,
    )
    common = {
        "host": args.host,
        "port": args.port,
        "log_level": "warning",
        "access_log": False,
        "loop": "uvloop",
        "http": "httptools",
        "timeout_graceful_shutdown": 5,
    }
    if args.workers == 1:
        uvicorn.run(create_app(cfg, service), **common)
    else:
        os.environ[CONFIG_ENV] = json.dumps(asdict(cfg))
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # the worker processes import numpy afresh
        uvicorn.run("lrface.serve.app:app_from_env", factory=True, workers=args.workers, **common)
    return 0
