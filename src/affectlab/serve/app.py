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


def create_app(
    model_path: str | Path | None,
    *,
    limits: ServeLimits | None = None,
    predictor: PredictorLike | None = None,
    model_info: dict[str, Any] | None = None,
) -> FastAPI:
    """Build the service for one model file (or an injected predictor, for tests and embedding)."""

    limits = limits or ServeLimits()
    if predictor is None:
        if model_path is None:
            raise AffectlabError("create_app needs a model path or a predictor")
        predictor, info = load_predictor(model_path)
        model_info = {**info, **(model_info or {})}
    model_info = dict(model_info or {"architecture": "unknown"})
    model_summary = {k: model_info.get(k) for k in ("architecture", "sha256", "format")}
    active_predictor: PredictorLike = predictor
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        executor = state.pop("executor", None)
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def runtime() -> tuple[InferenceGate, ThreadPoolExecutor]:
        # Created lazily, per event loop: the gate's semaphore belongs to the loop that serves requests.
        loop = asyncio.get_running_loop()
        if state.get("loop") is not loop:
            state["loop"] = loop
            state["gate"] = InferenceGate(limits.max_concurrency, limits.max_queue)
        if "executor" not in state:
            state["executor"] = ThreadPoolExecutor(
                max_workers=limits.max_concurrency, thread_name_prefix="affectlab-infer"
            )
        return state["gate"], state["executor"]

    app = FastAPI(
        title="affectlab",
        summary="Facial expression (8 classes) and valence/arousal from a photo.",
        version=str(model_info.get("affectlab_version", "")) or "0",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimitMiddleware, max_body=limits.max_upload_bytes + MULTIPART_OVERHEAD)

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

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Content-Security-Policy": PAGE_CSP})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/v1/health", summary="Liveness and load")
    async def health() -> dict[str, Any]:
        gate, _ = runtime()
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
        return await _predict(file, detect)

    async def _predict(file: UploadFile, detect: bool) -> JSONResponse:
        started = time.perf_counter()
        deadline = started + limits.timeout_s
        gate, executor = runtime()
        data = await file.read(limits.max_upload_bytes + 1)
        source = file.filename or "upload"
        try:
            checked = check_upload(data, max_bytes=limits.max_upload_bytes, max_pixels=limits.max_pixels)
        except UploadError as exc:
            return error_response(exc.status, exc.code, exc.detail)
        del data
        retry = {"Retry-After": str(limits.retry_after_s)}
        try:
            await gate.acquire(max(deadline - time.perf_counter(), 0.001))
        except GateFull:
            return error_response(
                429,
                "busy",
                f"all {limits.max_concurrency} inference slots and {limits.max_queue} queue places "
                f"are taken; retry in {limits.retry_after_s} s",
                retry,
            )
        except GateTimeout:
            return error_response(
                503, "busy", f"no inference slot freed up within {limits.timeout_s:g} s; retry later", retry
            )
        queued = time.perf_counter()
        loop = asyncio.get_running_loop()
        try:
            future = executor.submit(_run_job, active_predictor, checked, source, detect)
        except RuntimeError:
            gate.release()
            return error_response(503, "shutting_down", "the service is shutting down", retry)
        future.add_done_callback(_release_when_done(gate, loop))
        waiter = asyncio.wrap_future(future)
        waiter.add_done_callback(_consume_exception)
        try:
            body = await asyncio.wait_for(asyncio.shield(waiter), max(deadline - time.perf_counter(), 0.001))
        except TimeoutError:
            logger.warning("request for %s exceeded the %g s timeout", source, limits.timeout_s)
            return error_response(
                504, "timeout", f"inference did not finish within the {limits.timeout_s:g} s request timeout"
            )
        except UploadError as exc:
            return error_response(exc.status, exc.code, exc.detail)
        done = time.perf_counter()
        body["model"] = model_summary
        body["timing_ms"] = {
            "queue": round((queued - started) * 1000.0, 2),
            "decode": round(body.pop("_decode_ms"), 2),
            "inference": round(body.pop("_inference_ms"), 2),
            "total": round((done - started) * 1000.0, 2),
        }
        return JSONResponse(body)

    return app
