"""The FastAPI application of `affectlab serve`: predict, health, model info and the web page.

Imports FastAPI at module level (its annotations must resolve); import this module only to serve.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from affectlab.errors import AffectlabError
from affectlab.serve.limits import GateFull, GateTimeout, InferenceGate, ServeLimits
from affectlab.serve.middleware import BodyLimitMiddleware, error_response
from affectlab.serve.uploads import CheckedImage, UploadError, check_upload, decode_checked

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger("affectlab.serve")

STATIC_DIR = Path(__file__).parent / "static"
#: The web page may load only what the service itself serves (no CDN, no third party).
PAGE_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'"
)
#: Bytes allowed in a request body beyond the file itself (multipart boundaries and part headers).
MULTIPART_OVERHEAD = 64 * 1024


class PredictorLike(Protocol):
    """What the service needs from a predictor: faces in an RGB uint8 (H, W, 3) image."""

    def predict_image(self, image: np.ndarray, detect: bool = True) -> list[Any]:
        """Return the faces found (objects with `to_dict()`, or plain dicts); detect=False: one whole face."""
        ...


def load_predictor(
    model_path: str | Path, threads: int | None = None
) -> tuple[PredictorLike, dict[str, Any]]:
    """Load a model (run folder, safetensors weights or ONNX) and describe it for `GET /v1/model`."""
    from affectlab.serve.model_info import describe_model, open_predictor

    predictor = open_predictor(model_path, threads)
    return predictor, describe_model(predictor)


def _face_dict(face: Any) -> dict[str, Any]:
    return face.to_dict() if hasattr(face, "to_dict") else dict(face)


def _run_job(predictor: PredictorLike, checked: CheckedImage, source: str, detect: bool) -> dict[str, Any]:
    """Decode and predict in a worker thread; return the response body without timing."""
    t0 = time.perf_counter()
    rgb = decode_checked(checked)
    t1 = time.perf_counter()
    try:
        faces = predictor.predict_image(rgb) if detect else predictor.predict_image(rgb, detect=False)
    except AffectlabError as exc:
        raise UploadError(422, "prediction_failed", str(exc)) from exc
    t2 = time.perf_counter()
    face_dicts = []
    for face in faces:
        item = _face_dict(face)
        if "source" in item:
            item["source"] = source
        face_dicts.append(item)
    return {
        "faces": face_dicts,
        "image": {"width": int(rgb.shape[1]), "height": int(rgb.shape[0]), "format": checked.format},
        "_decode_ms": (t1 - t0) * 1000.0,
        "_inference_ms": (t2 - t1) * 1000.0,
    }


def _release_when_done(gate: InferenceGate, loop: asyncio.AbstractEventLoop) -> Callable[[Future[Any]], None]:
    def done(fut: Future[Any]) -> None:
        if (
            not fut.cancelled()
            and fut.exception() is not None
            and not isinstance(fut.exception(), UploadError)
        ):
            logger.warning("inference finished with %r after its request was answered", fut.exception())
        loop.call_soon_threadsafe(gate.release)

    return done


def _consume_exception(fut: asyncio.Future[Any]) -> None:
    """Mark a late future's exception as seen (it was logged or answered already)."""
    if not fut.cancelled():
        fut.exception()


class _Runtime:
    """The inference gate and worker threads, created on first use (the gate per event loop)."""

    def __init__(self, limits: ServeLimits) -> None:
        self.limits = limits
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gate: InferenceGate | None = None
        self._executor: ThreadPoolExecutor | None = None

    def get(self) -> tuple[InferenceGate, ThreadPoolExecutor]:
        """The gate and the executor; call from a request handler."""
        # Created lazily, per event loop: the gate's semaphore belongs to the loop that serves requests.
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._gate is None:
            self._loop = loop
            self._gate = InferenceGate(self.limits.max_concurrency, self.limits.max_queue)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.limits.max_concurrency, thread_name_prefix="affectlab-infer"
            )
        return self._gate, self._executor

    @contextlib.asynccontextmanager
    async def lifespan(self, _: FastAPI) -> AsyncIterator[None]:
        """The app's lifespan: on shutdown, stop the workers without waiting for running jobs."""
        yield
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


class _Answer(Exception):
    """Raised by a predict step to answer the request now with `response`."""

    def __init__(self, response: JSONResponse) -> None:
        super().__init__(response.status_code)
        self.response = response


class _PredictHandler:
    """POST /v1/predict: check the upload, wait for an inference slot, run it in a worker, add timings."""

    def __init__(
        self, predictor: PredictorLike, limits: ServeLimits, runtime: _Runtime, model_summary: dict[str, Any]
    ) -> None:
        self.predictor, self.limits, self.runtime, self.model_summary = (
            predictor,
            limits,
            runtime,
            model_summary,
        )
        self.retry = {"Retry-After": str(limits.retry_after_s)}

    async def __call__(self, file: UploadFile, detect: bool) -> JSONResponse:
        """Answer one upload: the faces with timings, or the error response of the step that refused it."""
        started = time.perf_counter()
        deadline = started + self.limits.timeout_s
        gate, executor = self.runtime.get()
        try:
            checked, source = await self._read(file)
            await self._enter(gate, deadline)
            queued = time.perf_counter()
            waiter = self._submit(gate, executor, checked, source, detect)
            body = await self._result(waiter, deadline, source)
        except _Answer as answer:
            return answer.response
        return JSONResponse(self._with_timing(body, started, queued))

    async def _read(self, file: UploadFile) -> tuple[CheckedImage, str]:
        """Read at most one byte more than allowed and check the header (format by content, declared size)."""
        data = await file.read(self.limits.max_upload_bytes + 1)
        try:
            checked = check_upload(
                data, max_bytes=self.limits.max_upload_bytes, max_pixels=self.limits.max_pixels
            )
        except UploadError as exc:
            raise _Answer(error_response(exc.status, exc.code, exc.detail)) from None
        return checked, file.filename or "upload"

    async def _enter(self, gate: InferenceGate, deadline: float) -> None:
        """Take an inference slot, waiting in the queue until the deadline; refuse when both are full."""
        limits = self.limits
        try:
            await gate.acquire(max(deadline - time.perf_counter(), 0.001))
        except GateFull:
            detail = (
                f"all {limits.max_concurrency} inference slots and {limits.max_queue} queue places "
                f"are taken; retry in {limits.retry_after_s} s"
            )
            raise _Answer(error_response(429, "busy", detail, self.retry)) from None
        except GateTimeout:
            detail = f"no inference slot freed up within {limits.timeout_s:g} s; retry later"
            raise _Answer(error_response(503, "busy", detail, self.retry)) from None

    def _submit(
        self,
        gate: InferenceGate,
        executor: ThreadPoolExecutor,
        checked: CheckedImage,
        source: str,
        detect: bool,
    ) -> asyncio.Future[Any]:
        """Start the job in a worker thread; its slot is released when the job ends, even after a timeout."""
        loop = asyncio.get_running_loop()
        try:
            future = executor.submit(_run_job, self.predictor, checked, source, detect)
        except RuntimeError:
            gate.release()
            raise _Answer(
                error_response(503, "shutting_down", "the service is shutting down", self.retry)
            ) from None
        future.add_done_callback(_release_when_done(gate, loop))
        waiter = asyncio.wrap_future(future)
        waiter.add_done_callback(_consume_exception)
        return waiter

    async def _result(self, waiter: asyncio.Future[Any], deadline: float, source: str) -> dict[str, Any]:
        """Wait for the job until the deadline (past it the job runs on, holding its slot until it ends)."""
        timeout_s = self.limits.timeout_s
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), max(deadline - time.perf_counter(), 0.001))
        except TimeoutError:
            logger.warning("request for %s exceeded the %g s timeout", source, timeout_s)
            detail = f"inference did not finish within the {timeout_s:g} s request timeout"
            raise _Answer(error_response(504, "timeout", detail)) from None
        except UploadError as exc:
            raise _Answer(error_response(exc.status, exc.code, exc.detail)) from None

    def _with_timing(self, body: dict[str, Any], started: float, queued: float) -> dict[str, Any]:
        """Add the model summary and the queue, decode, inference and total times in milliseconds."""
        done = time.perf_counter()
        body["model"] = self.model_summary
        body["timing_ms"] = {
            "queue": round((queued - started) * 1000.0, 2),
            "decode": round(body.pop("_decode_ms"), 2),
            "inference": round(body.pop("_inference_ms"), 2),
            "total": round((done - started) * 1000.0, 2),
        }
        return body


def _add_error_handlers(app: FastAPI) -> None:
    """Answer every error as JSON `{"error": {code, detail}}`, never as an HTML page or a traceback."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 400: "bad_request", 413: "upload_too_large"}
        return error_response(
            exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail), exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
        detail = "; ".join(parts) or "invalid request"
        hint = " (send the image as multipart/form-data in a field named 'file')"
        return error_response(422, "invalid_request", detail + hint)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error while serving %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", f"unexpected {type(exc).__name__}; see the server log")


def _add_page(app: FastAPI) -> None:
    """The web page at / (with its content security policy) and its static files."""

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Content-Security-Policy": PAGE_CSP})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def _add_api(
    app: FastAPI, limits: ServeLimits, runtime: _Runtime, model_info: dict[str, Any], handler: _PredictHandler
) -> None:
    """The JSON API: GET /v1/health, GET /v1/model and POST /v1/predict."""

    @app.get("/v1/health", summary="Liveness and load")
    async def health() -> dict[str, Any]:
        gate, _ = runtime.get()
        return {
            "status": "ok",
            "model": model_info.get("architecture"),
            "running": gate.running,
            "waiting": gate.waiting,
            "limits": limits.to_dict(),
        }

    @app.get("/v1/model", summary="The loaded model: architecture, classes, input size, preprocessing, hash")
    async def model() -> dict[str, Any]:
        return model_info

    @app.post(
        "/v1/predict",
        summary="Faces, expression probabilities, valence and arousal in an uploaded image",
        responses={
            413: {"description": "upload or image too large"},
            415: {"description": "not an image, or an image format that is not accepted"},
            422: {"description": "empty, truncated or corrupt image; missing 'file' field"},
            429: {"description": "all inference slots and the wait queue are full (see Retry-After)"},
            503: {"description": "no inference slot freed up in time (see Retry-After)"},
            504: {"description": "inference took longer than the request timeout"},
        },
    )
    async def predict(
        file: UploadFile = File(..., description="JPEG, PNG, WEBP or BMP image"),
        detect: bool = Query(True, description="find faces; false: the whole image is one (cropped) face"),
    ) -> Any:
        return await handler(file, detect)


def _resolve_model(
    model_path: str | Path | None, predictor: PredictorLike | None, model_info: dict[str, Any] | None
) -> tuple[PredictorLike, dict[str, Any]]:
    """The predictor to serve (loaded from `model_path` unless injected) and its description."""
    if predictor is None:
        if model_path is None:
            raise AffectlabError("create_app needs a model path or a predictor")
        predictor, info = load_predictor(model_path)
        model_info = {**info, **(model_info or {})}
    return predictor, dict(model_info or {"architecture": "unknown"})


def create_app(
    model_path: str | Path | None,
    *,
    limits: ServeLimits | None = None,
    predictor: PredictorLike | None = None,
    model_info: dict[str, Any] | None = None,
) -> FastAPI:
    """Build the service for one model file (or an injected predictor, for tests and embedding)."""
    limits = limits or ServeLimits()
    active_predictor, info = _resolve_model(model_path, predictor, model_info)
    runtime = _Runtime(limits)
    app = FastAPI(
        title="affectlab",
        summary="Facial expression (8 classes) and valence/arousal from a photo.",
        version=str(info.get("affectlab_version", "")) or "0",
        lifespan=runtime.lifespan,
    )
    app.add_middleware(BodyLimitMiddleware, max_body=limits.max_upload_bytes + MULTIPART_OVERHEAD)
    _add_error_handlers(app)
    _add_page(app)
    summary = {k: info.get(k) for k in ("architecture", "sha256", "format")}
    _add_api(app, limits, runtime, info, _PredictHandler(active_predictor, limits, runtime, summary))
    return app
