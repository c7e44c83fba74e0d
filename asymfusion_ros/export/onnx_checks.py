"""Checks an ONNX bundle must pass before it ships (run by the export and by tests).

Structural only (``onnx``, no torch, no runtime): the ONNX checker; static shapes everywhere,
intermediate tensors included, after shape inference; and TensorRT-friendliness: every op on
an allow-list the TensorRT 8.5+ ONNX parser documents, the opset it accepts, the op
restrictions that bite CNNs, and UINT8 inputs that feed only a Cast to FLOAT or FLOAT16. The numerical check
(ONNX Runtime vs PyTorch parity) is in export.py, which has torch at hand.
"""

from __future__ import annotations

from collections.abc import Iterable

import onnx
from onnx import TensorProto

# Source: onnx/onnx-tensorrt docs/operators.md, "Operator Support Matrix" (the TensorRT 8.4
# edition; every op here is still marked Y in the 8.5, 8.6 and 10.x editions). This is the
# subset a CNN segmenter can need, not the whole matrix: an op outside it fails the check and
# must be justified against that document before it is added here. QuantizeLinear and
# DequantizeLinear (the INT8 QDQ bundle, export/quantize.py) are TensorRT's explicit
# quantisation: per-tensor or per-channel scales, zero point 0.
TENSORRT_ONNX_OPS = frozenset(
    {
        "Abs", "Add", "And", "ArgMax", "ArgMin", "AveragePool", "BatchNormalization", "Cast",
        "Ceil", "Clip", "Concat", "Constant", "ConstantOfShape", "Conv", "ConvTranspose",
        "DepthToSpace", "Div", "Equal", "Erf", "Exp", "Expand", "Flatten", "Floor", "Gather",
        "Gemm", "GlobalAveragePool", "GlobalMaxPool", "Greater", "GreaterOrEqual", "HardSigmoid",
        "DequantizeLinear", "Identity", "InstanceNormalization", "IsNaN", "LeakyRelu", "Less",
        "LessOrEqual", "Log", "LogSoftmax", "MatMul", "Max", "MaxPool", "Mean", "Min", "Mul", "Neg",
        "Not", "Or", "Pad", "Pow", "PRelu", "QuantizeLinear", "ReduceL2", "ReduceMax", "ReduceMean",
        "ReduceMin", "ReduceSum", "Relu",
        "Reshape", "Resize", "Shape", "Sigmoid", "Slice", "Softmax", "SpaceToDepth", "Split",
        "Sqrt", "Squeeze", "Sub", "Sum", "Tanh", "Tile", "Transpose", "Unsqueeze", "Where",
    }
)  # fmt: skip
MIN_OPSET = 13  # Resize / Slice / Squeeze with tensor inputs as TensorRT parses them
MAX_TENSORRT_OPSET = 17  # "TensorRT 8.5 supports operators up to Opset 17" (same document)
# Same document, Resize restrictions.
RESIZE_MODES = frozenset({"nearest", "linear"})
RESIZE_TRANSFORMS = frozenset(
    {"half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners"}
)
# Where a UINT8 tensor may go in TensorRT: its operator docs (Identity, the layer the 8.5 ONNX
# parser turns a Cast into) list uint8 -> float32 | float16 as the only conversions from uint8.
UINT8_CAST_TARGETS = frozenset({TensorProto.FLOAT, TensorProto.FLOAT16})


class OnnxCheckError(ValueError):
    """A bundle fails a check; the message lists every problem found."""


def _fail(check: str, problems: Iterable[str]) -> None:
    found = sorted(set(problems))
    if found:
        shown = "; ".join(found[:10]) + (f"; ... ({len(found) - 10} more)" if len(found) > 10 else "")
        raise OnnxCheckError(f"{check}: {shown}")


def check_structure(model: onnx.ModelProto) -> None:
    """The ONNX checker, with full shape/type checking."""
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as err:
        raise OnnxCheckError(f"onnx.checker: {err}") from err


def _dims(value: onnx.ValueInfoProto) -> list[str]:
    """Problems with one tensor's shape: missing, symbolic or unknown dims (0 is a static size)."""
    tensor = value.type.tensor_type
    if not tensor.HasField("shape"):
        return [f"{value.name!r} has no shape"]
    bad = [d.dim_param or "?" for d in tensor.shape.dim if not d.HasField("dim_value")]
    return [f"{value.name!r} has dims {bad}"] if bad else []


def check_static_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Every input, output and intermediate tensor has a fully static shape; returns the inferred model."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except onnx.shape_inference.InferenceError as err:
        raise OnnxCheckError(f"shape inference failed: {err}") from err
    graph = inferred.graph
    known = {v.name: v for v in (*graph.input, *graph.output, *graph.value_info)}
    problems = [p for v in known.values() for p in _dims(v)]
    initializers = {i.name for i in graph.initializer}
    for node in graph.node:
        for name in node.output:
            if name and name not in known and name not in initializers and node.op_type != "Constant":
                problems.append(f"{name!r} ({node.op_type}) has no inferred shape")
    _fail("static shapes", problems)
    return inferred


def check_tensorrt_compatible(model: onnx.ModelProto) -> None:
    """Ops, opset and op restrictions of the TensorRT 8.5+ ONNX parser (see TENSORRT_ONNX_OPS)."""
    problems: list[str] = []
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx") and not MIN_OPSET <= opset.version <= MAX_TENSORRT_OPSET:
            problems.append(f"opset {opset.version} outside [{MIN_OPSET}, {MAX_TENSORRT_OPSET}]")
    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    constants = initializers | {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    # INT8 QDQ bundles: a weight is an initializer seen through its DequantizeLinear
    constants |= {
        o
        for n in graph.node
        if n.op_type == "DequantizeLinear" and all(i in constants for i in n.input if i)
        for o in n.output
    }
    for node in graph.node:
        if node.domain not in ("", "ai.onnx"):
            problems.append(f"custom-domain op {node.domain}::{node.op_type}")
        elif node.op_type not in TENSORRT_ONNX_OPS:
            problems.append(f"op {node.op_type} is not on the TensorRT allow-list")
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Resize":
            mode = attrs.get("mode", b"nearest").decode()
            transform = attrs.get("coordinate_transformation_mode", b"half_pixel").decode()
            if mode not in RESIZE_MODES or transform not in RESIZE_TRANSFORMS:
                problems.append(f"Resize {node.name!r}: mode {mode}, coordinate transform {transform}")
        if node.op_type in ("Conv", "ConvTranspose") and node.input[1] not in constants:
            problems.append(f"{node.op_type} {node.name!r} weights are not an initializer")
    uint8_inputs = {i.name for i in graph.input if i.type.tensor_type.elem_type == TensorProto.UINT8}
    for node in graph.node:
        for name in set(node.input) & uint8_inputs:
            if node.op_type != "Cast":
                problems.append(f"UINT8 input {name!r} feeds {node.op_type}, TensorRT needs a Cast first")
                continue
            target = onnx.helper.get_attribute_value(next(a for a in node.attribute if a.name == "to"))
            if target not in UINT8_CAST_TARGETS:
                problems.append(
                    f"UINT8 input {name!r} is cast to {TensorProto.DataType.Name(target)}, "
                    "TensorRT casts UINT8 only to FLOAT or FLOAT16"
                )
    _fail("TensorRT compatibility", problems)


def run_structural_checks(model: onnx.ModelProto) -> onnx.ModelProto:
    """All structural checks, in order; returns the shape-inferred model (static value_info)."""
    check_structure(model)
    inferred = check_static_shapes(model)
    check_tensorrt_compatible(inferred)
    return inferred


__all__ = [
    "MAX_TENSORRT_OPSET",
    "TENSORRT_ONNX_OPS",
    "OnnxCheckError",
    "check_static_shapes",
    "check_structure",
    "check_tensorrt_compatible",
    "run_structural_checks",
]
