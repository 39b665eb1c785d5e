"""`affectlab serve`: the HTTP service and web page for one model."""

from __future__ import annotations

from pathlib import Path

import typer

from affectlab.errors import AffectlabError


def serve(
    model: Path = typer.Argument(
        ..., help="A training run folder, its model.safetensors, or an exported .onnx file."
    ),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 exposes it to the network)."),
    port: int = typer.Option(8000, help="TCP port."),
    max_upload_mb: float = typer.Option(10.0, help="Largest accepted upload in MiB (bigger: 413)."),
    max_pixels: int = typer.Option(
        40_000_000, help="Largest image, width x height from its header (bigger: 413)."
    ),
    max_concurrency: int = typer.Option(2, help="Inferences running at once (in a thread pool)."),
    max_queue: int = typer.Option(
        16, help="Requests that may wait for a slot; past that: 429 with Retry-After."
    ),
    timeout: float = typer.Option(30.0, help="Seconds per request, queueing included (past it: 504)."),
    uncertain_below: float | None = typer.Option(
        None, help="Expression 'uncertain' below this top probability (default: the model's; 0: never)."
    ),
    calibration: bool = typer.Option(True, help="Apply the model's temperature scaling."),
    logits: bool = typer.Option(False, help="Also return each face's raw logits."),
) -> None:
    """Serve a model over HTTP: POST /v1/predict, GET /v1/health, GET /v1/model, and a web page at /."""
    try:
        import uvicorn
    except ImportError as exc:
        raise AffectlabError("serving needs FastAPI and uvicorn: pip install 'affectlab[serve]'") from exc
    from affectlab.serve.app import create_app
    from affectlab.serve.limits import MIB, ServeLimits

    if not 0 < port < 65536:
        raise AffectlabError(f"--port must be between 1 and 65535, got {port}")
    limits = ServeLimits(
        max_upload_bytes=int(max_upload_mb * MIB),
        max_pixels=max_pixels,
        max_concurrency=max_concurrency,
        max_queue=max_queue,
        timeout_s=timeout,
    )
    options = {"calibrated": calibration, "uncertain_below": uncertain_below, "keep_logits": logits}
    app = create_app(model, limits=limits, predictor_options=options)
    typer.echo(f"affectlab serve: http://{host}:{port}/  (API docs at /docs; Ctrl+C stops)")
    uvicorn.run(
        app,
        host=host,
        port=port,
        workers=1,
        log_level="info",
        timeout_keep_alive=5,
        # Open connections/tasks past which uvicorn itself answers 503: a backstop behind the queue limit.
        limit_concurrency=max(64, 4 * (max_concurrency + max_queue)),
        server_header=False,
    )


def register(app: typer.Typer) -> None:
    """Add `serve` to the app."""
    app.command("serve")(serve)
