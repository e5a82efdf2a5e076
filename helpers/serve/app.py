"""An HTTP service for an ONNX image classifier (FastAPI + uvicorn) that also serves the web page.

    python -m helpers.serve --model MODEL.onnx [--port 8000] [--threads N] [--workers 1]
                            [--host 127.0.0.1] [--labels digits|imagenet]

One ONNX Runtime session is created at start-up and called from uvicorn's thread pool, never
on the event loop. ``POST /classify`` takes an image (multipart field ``file`` or a raw
``image/*`` body) and answers the top-k as JSON; ``GET /health``; ``GET /model`` (metadata);
``GET /model.onnx`` (the file, for the browser); ``/web/`` (the page in ``web/``) and
``/digits/`` (sample PNGs) and ``/ort/`` (onnxruntime-web's files from
``web/node_modules``, ``.wasm`` as application/wasm); ``/docs`` (Swagger UI from
``web/node_modules/swagger-ui-dist``, so it works offline; ``/openapi.json`` is the schema).
Bad requests get a 4xx JSON ``{"error": ...}`` that says what was expected.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import mimetypes
import os
import platform
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from PIL import Image
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.protocols.http.h11_impl import H11Protocol

from helpers.data.images import preprocess_digit, preprocess_imagenet
from helpers.data.labels import labels_for, softmax, top_k
from helpers.graph.checks import InvalidModelError
from helpers.paths import DIGITS_DIR, REPO_ROOT
from helpers.runtime.sessions import create_session, input_specs, run
from helpers.serve.uploads import (  # noqa: F401 - re-exported for the notebooks
    EXPECTED_BODY,
    LOG,
    MAX_BODY_BYTES,
    MAX_PIXELS,
    RAW_TYPES,
    RequestError,
    ascii_int,
    decode_image,
    image_bytes,
    parse_k,
    read_body,
)

WEB_DIR = REPO_ROOT / "web"
ORT_WEB_DIST = WEB_DIR / "node_modules" / "onnxruntime-web" / "dist"
SWAGGER_DIST = WEB_DIR / "node_modules" / "swagger-ui-dist"
MAX_URL_BYTES = 2048  # path and query string; longer URLs get 414
DECODE_SLOTS = 2  # requests decoded and run at once; the rest wait their turn (memory bound)
MMAP_THRESHOLD = 1 << 20  # glibc: blocks above 1 MiB are mapped and go back to the OS when freed
ENV_MODEL, ENV_THREADS, ENV_LABELS = "COURSE_SERVE_MODEL", "COURSE_SERVE_THREADS", "COURSE_SERVE_LABELS"

mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".mjs")


@dataclass
class Prepared:
    """One decoded and preprocessed upload: the model input (batch of 1) and what it took."""

    batch: np.ndarray
    width: int
    height: int
    decode_ms: float
    preprocess_ms: float


@dataclass
class Classifier:
    """One ORT session with the labels and preprocessing that match its model."""

    session: ort.InferenceSession
    model_path: Path
    labels: list[str]
    kind: str  # "digits" or "imagenet"
    threads: int | None

    @property
    def input_size(self) -> int:
        size = input_specs(self.session)[0].shape[-1]
        return size if isinstance(size, int) else (64 if self.kind == "digits" else 224)

    def preprocess(self, image: np.ndarray | Image.Image) -> np.ndarray:
        if self.kind == "digits":
            return preprocess_digit(image, size=self.input_size)
        return preprocess_imagenet(image)

    def probabilities(self, image: np.ndarray | Image.Image) -> np.ndarray:
        """Class probabilities for one RGB uint8 image."""
        return softmax(run(self.session, self.preprocess(image))[0][0])

    def prepare(self, data: bytes) -> Prepared:
        """Decode and preprocess one upload (``RequestError`` when it is not a usable image)."""
        t0 = time.perf_counter()
        image = decode_image(data)
        t1 = time.perf_counter()
        with image:
            width, height = image.size
            batch = self.preprocess(image)
        return Prepared(batch, width, height, (t1 - t0) * 1e3, (time.perf_counter() - t1) * 1e3)

    def answer(self, prepared: Prepared, logits: np.ndarray, k: int, inference_ms: float) -> dict:
        """The JSON answer of ``POST /classify`` for one image's logits (top-k, timings)."""
        predictions = top_k(softmax(logits), self.labels, k)
        return {"model": self.model_path.name,
                "image": {"width": prepared.width, "height": prepared.height},
                "predictions": [{"rank": p.rank, "label": p.label, "index": p.index,
                                 "probability": p.probability} for p in predictions],
                "server_ms": {"decode": prepared.decode_ms, "preprocess": prepared.preprocess_ms,
                              "inference": inference_ms}}

    def classify_bytes(self, data: bytes, k: int) -> dict:
        """Decode, preprocess, run, top-k; the answer of ``POST /classify`` with timings."""
        prepared = self.prepare(data)
        t0 = time.perf_counter()
        logits = run(self.session, prepared.batch)[0]
        return self.answer(prepared, logits[0], k, (time.perf_counter() - t0) * 1e3)

    def classify_batch(self, items: list[tuple[Prepared, int]]) -> list[dict]:
        """The answers for several prepared images (each with its ``k``) from ONE ``session.run``
        on their stacked inputs (the model's batch axis must be dynamic when there are several)."""
        t0 = time.perf_counter()
        logits = run(self.session, np.concatenate([p.batch for p, _ in items]))[0]
        inference_ms = (time.perf_counter() - t0) * 1e3  # the whole batch's run, in every answer
        return [self.answer(p, row, k, inference_ms) for (p, k), row in zip(items, logits, strict=True)]

    def metadata(self) -> dict:
        meta = self.session.get_modelmeta()
        return {"model": self.model_path.name,
                "inputs": [{"name": i.name, "shape": list(i.shape), "type": i.type}
                           for i in self.session.get_inputs()],
                "outputs": [{"name": o.name, "shape": list(o.shape), "type": o.type}
                            for o in self.session.get_outputs()],
                "preprocessing": self.kind, "labels": self.labels if len(self.labels) <= 10
                else f"{len(self.labels)} ImageNet classes",
                "metadata": dict(meta.custom_metadata_map), "intra_op_threads": self.threads,
                "providers": self.session.get_providers(), "max_body_bytes": MAX_BODY_BYTES,
                "max_pixels": MAX_PIXELS,
                "versions": {"onnxruntime": ort.__version__, "python": platform.python_version()}}


def load_classifier(model: str | Path, threads: int | None = None,
                    labels: str | None = None) -> Classifier:
    """Open ``model`` once; labels follow the number of classes (10 digits, 1000 ImageNet)."""
    path = Path(model)
    session = create_session(path, threads=threads)
    classes = session.get_outputs()[0].shape[-1]
    kind = labels or {10: "digits", 1000: "imagenet"}.get(classes)
    if kind is None:
        raise InvalidModelError(f"{path.name} outputs {classes} classes; expected 10 (digits) or "
                                "1000 (imagenet), or pass --labels")
    names = labels_for(kind)
    if isinstance(classes, int) and classes != len(names):
        raise InvalidModelError(f"{path.name} outputs {classes} classes but --labels {kind} has "
                                f"{len(names)}")
    return Classifier(session, path, names, kind, threads)


def course_model_onnx() -> Path:
    """The course model (digits resnet18) as ONNX under artifacts/models/, exported if absent."""
    from helpers.models.course import export_course_model
    from helpers.paths import artifacts_dir

    return export_course_model(artifacts_dir("models"), metadata={"weights": "trained on digits"})


def _missing_npm_files(what: str, name: str) -> JSONResponse:
    return JSONResponse({"error": f"{what} is not installed ({name} not served); run: npm ci "
                                  "--prefix web"}, status_code=404)


def create_app(classifier: Classifier, web_dir: Path = WEB_DIR, ort_dist: Path = ORT_WEB_DIST,
               swagger_dist: Path = SWAGGER_DIST,
               infer: Callable[[Prepared, int], Awaitable[dict]] | None = None) -> FastAPI:
    """The FastAPI application around one ``Classifier``.

    FastAPI's own ``/docs`` loads Swagger UI from a CDN; here it is served from
    ``swagger_dist`` (npm's ``swagger-ui-dist``, pinned in ``web/package.json``) instead.
    By default an upload is decoded and run in the thread pool (``classify_bytes``), at most
    ``DECODE_SLOTS`` at once. With ``infer(prepared, k)`` (Ray Serve's batching path) only the
    decode holds a slot, and ``infer`` answers the decoded image, batched with others.
    """
    slots = asyncio.Semaphore(DECODE_SLOTS)

    async def classify_upload(data: bytes, k: int) -> dict:
        if infer is None:
            async with slots:  # at most DECODE_SLOTS full-size decodes in memory at once
                return await run_in_threadpool(classifier.classify_bytes, data, k)
        async with slots:
            prepared = await run_in_threadpool(classifier.prepare, data)
        return await infer(prepared, k)
    app = FastAPI(title="Course classifier", version="1.0", docs_url=None, redoc_url=None,
                  description=f"ONNX Runtime {ort.__version__} serving {classifier.model_path.name}")

    @app.middleware("http")
    async def refuse_long_urls(request: Request, call_next):
        length = len(request.scope.get("raw_path") or b"") + len(request.scope.get("query_string") or b"")
        if length > MAX_URL_BYTES:
            return JSONResponse({"error": f"URL of {length:,} bytes is over the limit of "
                                          f"{MAX_URL_BYTES:,}; expected a short path such as "
                                          "/classify?k=3"}, status_code=414)
        return await call_next(request)

    @app.exception_handler(RequestError)
    async def request_error(_: Request, error: RequestError) -> JSONResponse:
        return JSONResponse({"error": error.message}, status_code=error.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        message = error.detail if isinstance(error.detail, str) else str(error.detail)
        if error.status_code == 404:
            message = (f"no such path {request.url.path[:100]!r}; expected /classify, /health, "
                       "/model, /web/, /docs")
        return JSONResponse({"error": message}, status_code=error.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": f"invalid request: {error.errors()}"}, status_code=422)

    body_doc = {"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary"}}}},
        "image/png": {"schema": {"type": "string", "format": "binary"}},
        "image/jpeg": {"schema": {"type": "string", "format": "binary"}}}},
        "parameters": [{"name": "k", "in": "query", "required": False,
                        "schema": {"type": "integer", "minimum": 1, "default": 5},
                        "description": "how many classes to return"}]}

    @app.post("/classify", openapi_extra=body_doc,
              summary="Top-k classes of one image (multipart field 'file' or raw image body)")
    async def classify(request: Request) -> dict:
        k = parse_k(request.query_params.get("k"), len(classifier.labels))
        data = await image_bytes(request)
        return await classify_upload(data, k)

    @app.get("/health", summary="Liveness: the model is loaded")
    def health() -> dict:
        return {"status": "ok", "model": classifier.model_path.name}

    @app.get("/model", summary="Inputs, outputs, labels, preprocessing and versions")
    def model() -> dict:
        return classifier.metadata()

    @app.get("/model.onnx", summary="The ONNX file this service runs (the web page loads it)")
    def model_file() -> FileResponse:
        return FileResponse(classifier.model_path, media_type="application/octet-stream")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/web/")

    @app.get("/digits/", include_in_schema=False)
    def digit_names() -> list[str]:
        return sorted(p.name for p in DIGITS_DIR.glob("*.png"))

    if DIGITS_DIR.is_dir():  # sample PNGs for the page (written by python -m helpers.data)
        app.mount("/digits", StaticFiles(directory=DIGITS_DIR), name="digits")
    if web_dir.is_dir():
        app.mount("/web", StaticFiles(directory=web_dir, html=True), name="web")
    if ort_dist.is_dir():
        app.mount("/ort", StaticFiles(directory=ort_dist), name="ort")
    else:
        @app.get("/ort/{name:path}", include_in_schema=False)
        def ort_missing(name: str) -> JSONResponse:
            return _missing_npm_files("onnxruntime-web", name)

    @app.get("/docs", include_in_schema=False)
    def docs():
        if not swagger_dist.is_dir():
            return _missing_npm_files("swagger-ui-dist", "/docs")
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json",
                                   title=f"{app.title} · API",
                                   swagger_js_url="/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/swagger/swagger-ui.css",
                                   swagger_favicon_url="/swagger/favicon-32x32.png")

    if swagger_dist.is_dir():
        app.mount("/swagger", StaticFiles(directory=swagger_dist), name="swagger")
    return app


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with TCP_NODELAY set on every connection.

    ``--workers N`` hands uvicorn a pre-bound socket whose ``proto`` is 0, so asyncio leaves
    Nagle's algorithm on and each keep-alive request waits ~40 ms for a delayed ACK
    (uvicorn issue #3149). Setting the option here makes both paths equal.
    """

    def connection_made(self, transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


def return_freed_memory() -> bool:
    """Make glibc give large freed blocks back to the OS (Linux only; True when applied).

    glibc raises its mmap threshold each time a large block is freed, so later decodes come
    from heaps (one per thread of the pool) that keep their size after the load ends; a fixed
    threshold keeps every full-size image in its own mapping, returned when freed.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(-3, MMAP_THRESHOLD))  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # musl or another libc: nothing to tune
        return False


def app_from_env() -> FastAPI:
    """App factory for ``uvicorn --workers N``: each worker process opens its own session."""
    return_freed_memory()
    threads = os.environ.get(ENV_THREADS)
    return create_app(load_classifier(os.environ[ENV_MODEL], int(threads) if threads else None,
                                      os.environ.get(ENV_LABELS) or None))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m helpers.serve",
                                     description="Serve an ONNX image classifier over HTTP.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=Path, help="path to the .onnx file")
    source.add_argument("--course-model", action="store_true",
                        help="serve the course model (trained and exported on first use)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    parser.add_argument("--threads", type=int, default=None, help="ORT intra-op threads per worker")
    parser.add_argument("--workers", type=int, default=1,
                        help="server processes, each with its own session (default 1)")
    parser.add_argument("--labels", choices=("digits", "imagenet"), default=None,
                        help="class names; default: from the number of classes")
    ray_options = parser.add_argument_group("Ray Serve (--engine ray, notebook 17)")
    ray_options.add_argument("--engine", choices=("uvicorn", "ray"), default="uvicorn",
                             help="uvicorn (default) or Ray Serve (local Ray, no dashboard)")
    ray_options.add_argument("--replicas", type=int, default=1,
                             help="Serve replicas, each with --threads ORT threads (default 1)")
    ray_options.add_argument("--max-batch-size", type=int, default=1,
                             help="requests batched into one session.run (default 1: off)")
    ray_options.add_argument("--batch-wait-ms", type=float, default=5.0,
                             help="how long a batch waits to fill (default 5 ms)")
    return parser


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    args = build_parser().parse_args(argv)
    if args.engine == "ray":
        from helpers.serve.ray_settings import refuse_settings

        if refuse_settings(args.replicas, args.threads or 1, args.max_batch_size, args.batch_wait_ms):
            return 2
        from helpers.serve.ray_app import main as ray_main

        return ray_main(argv)
    return_freed_memory()
    if args.course_model:
        args.model = course_model_onnx()
    try:
        classifier = load_classifier(args.model, args.threads, args.labels)
    except (FileNotFoundError, InvalidModelError) as error:
        print(f"error: cannot start the service: {error}", file=sys.stderr)
        return 2
    print(f"serving {classifier.model_path.name} ({classifier.kind}, threads="
          f"{args.threads or 'ORT default'}, workers={args.workers}) on "
          f"http://{args.host}:{args.port}/  (page: /web/, schema: /openapi.json)", flush=True)
    if args.workers == 1:
        uvicorn.run(create_app(classifier), host=args.host, port=args.port, log_level="warning",
                    http="helpers.serve.app:NoDelayH11Protocol")
        return 0
    del classifier  # each worker opens its own session
    os.environ[ENV_MODEL] = str(args.model.resolve())
    os.environ[ENV_THREADS] = str(args.threads or "")
    os.environ[ENV_LABELS] = args.labels or ""
    uvicorn.run("helpers.serve.app:app_from_env", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level="warning", http="helpers.serve.app:NoDelayH11Protocol")
    return 0


if __name__ == "__main__":
    sys.exit(main())
