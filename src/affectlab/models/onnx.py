"""ONNX files: the one ONNX Runtime session factory, and reading/validating an exported model's info."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from affectlab.errors import AffectlabError
from affectlab.models.info import META_KEY, ModelInfo, parse_info_json

log = logging.getLogger(__name__)

#: ONNX graph names of affectlab exports: one input, four outputs.
INPUT_NAME = "image"
OUTPUT_NAMES: tuple[str, ...] = ("expression", "probabilities", "valence", "arousal")


def ort_providers(device: str, strict: bool = True) -> list[str]:
    """Return ONNX Runtime providers for 'cpu' or 'cuda'; without CUDA, raise (strict) or use the CPU."""
    import onnxruntime as ort

    if device.startswith("cuda"):
        if "CUDAExecutionProvider" in ort.get_available_providers():
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        if strict:
            raise AffectlabError(
                "device 'cuda' asked for, but this onnxruntime has no CUDA provider "
                "(install onnxruntime-gpu); use --device cpu"
            )
        log.info("onnxruntime has no CUDA provider; running on the CPU")
    return ["CPUExecutionProvider"]


def onnx_session(
    model: str | Path | bytes,
    *,
    device: str = "cpu",
    threads: int | None = None,
    optimize: bool = True,
    strict_device: bool = True,
    spin: bool = True,
) -> Any:
    """Create an ONNX Runtime session: all graph optimisations, sequential, `threads` intra-op threads.

    ``threads=None`` leaves ONNX Runtime's default (one per core); ``optimize=False`` keeps every library
    default (benchmarks compare the two). ``spin=False`` stops the idle threads from busy-waiting after a
    run: for a session called between other work (the face detector), whose spinning would take the cores
    from the model and the decoder.
    """
    import onnxruntime as ort

    if threads is not None and threads < 1:
        raise AffectlabError(f"threads must be at least 1, got {threads}")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.inter_op_num_threads = 1
    if threads is not None:
        opts.intra_op_num_threads = threads
    if not spin:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = model if isinstance(model, bytes) else str(model)
    try:
        return ort.InferenceSession(source, opts, providers=ort_providers(device, strict_device))
    except Exception as exc:  # onnxruntime raises its own exception types
        where = "the embedded model" if isinstance(model, bytes) else str(model)
        raise AffectlabError(f"ONNX Runtime could not load {where}: {exc}") from exc


def _node_tensors(nodes: Any) -> Iterator[Any]:
    """Tensors held in node attributes, recursing into subgraphs (If/Loop/Scan bodies)."""
    import onnx

    for node in nodes:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                yield attr.t
            yield from attr.tensors
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _graph_tensors(attr.g)
            for sub in attr.graphs:
                yield from _graph_tensors(sub)


def _graph_tensors(graph: Any) -> Iterator[Any]:
    """Every tensor of a graph: initializers, sparse initializers, node attributes and subgraphs."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    yield from _node_tensors(graph.node)


def external_data_locations(proto: Any) -> list[str]:
    """Return the external-data locations referenced by any tensor of an ONNX model (graphs, functions)."""
    import onnx

    tensors = [*_graph_tensors(proto.graph)]
    for func in proto.functions:
        tensors.extend(_node_tensors(func.node))
    found: list[str] = []
    for tensor in tensors:
        if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data):
            locations = [e.value for e in tensor.external_data if e.key == "location"]
            found.extend(locations or ["<no location>"])
    return found


def _refuse_external(path: Path, locations: list[str]) -> None:
    outside = [
        loc
        for loc in locations
        if Path(loc).is_absolute() or not (path.parent / loc).resolve().is_relative_to(path.parent.resolve())
    ]
    where = (
        f"outside its folder ({outside[:3]}: path traversal)"
        if outside
        else f"in {sorted(set(locations))[:3]}"
    )
    raise AffectlabError(
        f"{path}: refused: this ONNX model keeps tensors in external data {where}. affectlab exports are "
        "single files; re-export with `affectlab export`, or, if you trust the files, merge them into "
        "one with onnx.load() then onnx.save(model, out, save_as_external_data=False)"
    )


def _static_dims(value_info: Any) -> list[int | None]:
    dims = value_info.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else None for d in dims]


def _check_graph(path: Path, proto: Any, info: ModelInfo) -> None:
    """The graph must have affectlab's outputs, as many expression scores as class names, the right input."""
    outputs = {o.name: o for o in proto.graph.output}
    missing = [n for n in ("expression", "valence", "arousal") if n not in outputs]
    if missing:
        raise AffectlabError(f"{path}: the graph has no output(s) {missing} (found {sorted(outputs)})")
    dims = _static_dims(outputs["expression"])
    if len(dims) == 2 and dims[1] is not None and dims[1] != info.num_classes:
        raise AffectlabError(
            f"{path}: the graph's expression output has {dims[1]} scores but the metadata lists "
            f"{info.num_classes} class names ({list(info.class_names)})"
        )
    inputs = [i for i in proto.graph.input if i.name not in {t.name for t in proto.graph.initializer}]
    if len(inputs) != 1:
        raise AffectlabError(f"{path}: expected one image input, found {[i.name for i in inputs]}")
    shape = _static_dims(inputs[0])
    size = info.preprocess.size
    if len(shape) != 4 or shape[1] not in (3, None) or any(d not in (size, None) for d in shape[2:]):
        raise AffectlabError(
            f"{path}: the graph's input is shaped {shape}, but the metadata declares (N, 3, {size}, {size})"
        )


def load_onnx_info(path: str | Path) -> ModelInfo:
    """Read and validate the affectlab info of an exported ONNX file; refuse files that use external data."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise AffectlabError(f"ONNX file {path} not found")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise AffectlabError(f"{path}: not a readable ONNX model ({exc})") from exc
    locations = external_data_locations(proto)
    if locations:
        _refuse_external(path, locations)
    meta = {p.key: p.value for p in proto.metadata_props}
    if META_KEY not in meta:
        raise AffectlabError(
            f"{path}: this ONNX model has no affectlab metadata (class names, input size, normalisation); "
            "export it with `affectlab export WEIGHTS --format onnx`"
        )
    info, raw = parse_info_json(meta[META_KEY], str(path))
    _check_graph(path, proto, info)
    export = raw.get("export", {})
    info.metadata = {**info.metadata, "export": export if isinstance(export, dict) else {}}
    return info
