"""A foreign ONNX segmentation network -> our self-describing bundle (``asymfusion import``).

The bundle keeps the contract of export/exporter.py: inputs ``rgb`` uint8 [1,H,W,3] and
``depth`` float32 metres [1,H,W], outputs ``labels`` int32 and ``confidence`` float32
[1,H,W], metadata with classes, modalities, input size, preprocessing and provenance. It is
built with the ``onnx`` helper API only, no torch: the declared preprocessing
(export/import_spec.py) as ONNX nodes in front of the foreign graph, its argmax and max
softmax behind (logits at a lower resolution are upsampled bilinearly, channels-last as
fusion/postprocess.py does it), joined with ``onnx.compose``.

Before the file is written: the foreign graph's dynamic dims are fixed to ``--size``, its shape
arithmetic is folded (exporter.fold_static_shapes) and its opset converted to one TensorRT
parses (13..17) where onnx's converter can (only a graph below 13 that it cannot is refused:
our wrapper nodes need 13); the bundle passes the ONNX checker and the static-shape
check; ops outside our TensorRT allow-list are named in a warning (the graph is someone
else's: ONNX Runtime still runs it); and the bundle's labels must equal the foreign network's
own argmax, fed by numpy with the declared preprocessing, on >= 99.9 % of pixels (confidence
within 1e-4; export/import_parity.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from asymfusion_ros.classes import ClassSet, load_classes
from asymfusion_ros.export.exporter import (
    ExportError,
    ParityReport,
    bundle_inputs,
    describe_bundle,
    drop_unused_opsets,
    fold_static_shapes,
    parity_inputs,
)
from asymfusion_ros.export.import_parity import check_import_parity
from asymfusion_ros.export.import_spec import ChannelOrder, ForeignOutput, ImportSpec, OutputKind
from asymfusion_ros.export.onnx_checks import (
    MAX_TENSORRT_OPSET,
    MIN_OPSET,
    OnnxCheckError,
    check_static_shapes,
    check_structure,
    check_tensorrt_compatible,
)
from asymfusion_ros.inference.files import sha256_file, write_atomically
from asymfusion_ros.inference.letterbox import Frame
from asymfusion_ros.inference.model_bundle import INPUT_NAMES, OUTPUT_NAMES, BundleInfo

AUTO = "auto"
"""An input name meaning: ``rgb``/``depth`` if the network has an input so named, else absent."""
NET_PREFIX = "net/"
RGB_CHANNELS, DEPTH_CHANNELS = 3, 1


@dataclass(frozen=True)
class ImportResult:
    """The written bundle, the TensorRT warning (empty when every op is on the allow-list), the parity."""

    path: Path
    info: BundleInfo
    tensorrt_warning: str
    parity: ParityReport
    source_opset: int


def _load(source: Path) -> onnx.ModelProto:
    try:
        model = onnx.load(str(source))
    except Exception as err:  # protobuf raises DecodeError, onnx ValueError/OSError
        raise ExportError(f"{source} is not an ONNX file: {err}") from err
    if not model.graph.node or not model.graph.output:
        raise ExportError(f"{source} is not an ONNX model (no graph nodes or outputs)")
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as err:
        raise ExportError(f"{source} fails the ONNX checker: {str(err).splitlines()[0]}") from err
    return model


def _opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _graph_inputs(model: onnx.ModelProto) -> dict[str, onnx.ValueInfoProto]:
    initializers = {i.name for i in model.graph.initializer}
    return {i.name: i for i in model.graph.input if i.name not in initializers}


def resolve_inputs(spec: ImportSpec, names: Sequence[str], source: str) -> ImportSpec:
    """Resolve AUTO input names and check that the spec maps every network input and nothing else."""
    rgb = spec.rgb_input
    depth = spec.depth_input
    if rgb == AUTO:
        rgb = "rgb" if "rgb" in names else None
    if depth == AUTO:
        depth = "depth" if "depth" in names else None
    wanted = [n for n in (rgb, depth) if n]
    what = f"preset {spec.preset}" if spec.preset else "the flags"
    if sorted(wanted) != sorted(names):
        raise ExportError(
            f"{source} has inputs {list(names)} but {what} declare {wanted or 'none'}"
            " (name them with --rgb-input / --depth-input, or 'none' for an absent one)"
        )
    return replace(spec, rgb_input=rgb, depth_input=depth)


def _declared_inputs(spec: ImportSpec) -> list[tuple[str, int]]:
    """(name, channels) of each foreign input the (resolved) spec declares."""
    pairs = ((spec.rgb_input, RGB_CHANNELS), (spec.depth_input, DEPTH_CHANNELS))
    return [(name, channels) for name, channels in pairs if name]


def _dims(value: onnx.ValueInfoProto) -> list[int | None]:
    return [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]


def _input_size(
    model: onnx.ModelProto, spec: ImportSpec, size: tuple[int, int] | None, source: str
) -> tuple[int, int]:
    """The (H, W) of every foreign input: static in the graph, or ``size`` for dynamic dims."""
    inputs = _graph_inputs(model)
    sizes: set[tuple[int, int]] = set()
    for name, channels in _declared_inputs(spec):
        value = inputs[name]
        if value.type.tensor_type.elem_type != TensorProto.FLOAT:
            elem = TensorProto.DataType.Name(value.type.tensor_type.elem_type)
            raise ExportError(f"{source} input {name!r} is {elem}; imports take float32 NCHW inputs")
        dims = _dims(value)
        if len(dims) != 4 or dims[0] not in (1, None) or dims[1] != channels:
            shown = [d if d is not None else "?" for d in dims]
            raise ExportError(
                f"{source} input {name!r} has shape {shown}; expected [1,{channels},H,W] (NCHW)"
            )
        height, width = dims[2], dims[3]
        if height is None or width is None:
            if size is None:
                raise ExportError(
                    f"{source} input {name!r} has dynamic spatial dims: give --size WIDTHxHEIGHT"
                )
            height, width = size
        elif size is not None and size != (height, width):
            raise ExportError(
                f"{source} input {name!r} is fixed at {width}x{height}; --size {size[1]}x{size[0]} "
                "applies only to dynamic dims"
            )
        sizes.add((height, width))
    if len(sizes) != 1:
        raise ExportError(f"{source} inputs differ in size: {sorted(sizes)}")
    return sizes.pop()


def _fix_input_dims(model: onnx.ModelProto, spec: ImportSpec, input_size: tuple[int, int]) -> None:
    inputs = _graph_inputs(model)
    for name, channels in _declared_inputs(spec):
        dims = inputs[name].type.tensor_type.shape.dim
        for dim, value in zip(dims, (1, channels, *input_size), strict=True):
            dim.Clear()
            dim.dim_value = value
    for output in model.graph.output:  # re-inferred from the now static inputs
        output.type.tensor_type.ClearField("shape")
    del model.graph.value_info[:]


def _static_foreign(model: onnx.ModelProto, source: str) -> onnx.ModelProto:
    """The foreign graph with its shape arithmetic folded, at an opset TensorRT parses where it
    converts: a graph of opset > 17 whose conversion fails keeps its opset (the TensorRT check
    then warns); one below 13 must convert, since our wrapper nodes need opset 13."""
    opset = _opset(model)
    try:
        folded = fold_static_shapes(model.SerializeToString())
    except Exception as err:  # ONNX Runtime raises its own Fail/InvalidGraph/RuntimeException
        raise ExportError(f"{source}: ONNX Runtime cannot load the graph: {err}") from err
    if not MIN_OPSET <= opset <= MAX_TENSORRT_OPSET:
        try:
            folded = _converted(folded, MAX_TENSORRT_OPSET)
        except Exception as err:  # the converter raises RuntimeError/ValueError per adapter
            if opset < MIN_OPSET:
                raise ExportError(
                    f"{source}: opset {opset} -> {MAX_TENSORRT_OPSET} conversion: {err}"
                ) from err
    try:
        inferred = onnx.shape_inference.infer_shapes(folded, data_prop=True)
    except onnx.shape_inference.InferenceError as err:
        raise ExportError(f"{source}: shape inference failed: {err}") from err
    del folded.graph.output[:]  # the outputs' static shapes, which the compose checker needs
    folded.graph.output.extend(inferred.graph.output)
    return folded


# Reductions that took ``axes`` as an input and gained ``noop_with_empty_axes`` in opset 18;
# onnx's 18 -> 17 adapter moves the axes back to an attribute but keeps that attribute, which
# opset 17 does not know. Its default (0) is opset 17's behaviour, so it can go.
_REDUCTIONS_18 = frozenset(
    {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
     "ReduceLogSumExp", "ReduceSumSquare"}
)  # fmt: skip


def _converted(model: onnx.ModelProto, opset: int) -> onnx.ModelProto:
    """``model`` at ``opset`` (onnx's version converter), checked; raises when it cannot be."""
    from onnx import version_converter

    converted = version_converter.convert_version(model, opset)
    for node in converted.graph.node:
        if node.op_type in _REDUCTIONS_18:
            kept = [a for a in node.attribute if not (a.name == "noop_with_empty_axes" and a.i == 0)]
            del node.attribute[:]
            node.attribute.extend(kept)
    onnx.checker.check_model(converted)
    return converted


def _output(model: onnx.ModelProto, spec: ImportSpec, source: str) -> ForeignOutput:
    """The chosen output of the static graph, classified as logits or labels from its shape."""
    names = [o.name for o in model.graph.output]
    name = spec.output or (names[0] if len(names) == 1 else None)
    if name is None or name not in names:
        raise ExportError(f"{source} has outputs {names}: name the one to use with --output")
    value = next(o for o in model.graph.output if o.name == name)
    elem = value.type.tensor_type.elem_type
    dims = _dims(value)
    floats = (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE)
    integers = (TensorProto.INT64, TensorProto.INT32, TensorProto.UINT8, TensorProto.INT8, TensorProto.INT16)
    static = [d for d in dims if d is not None]
    if len(static) == len(dims) and static[:1] == [1]:
        if elem in floats and len(static) == 4 and static[1] > 1:
            return ForeignOutput(name, OutputKind.LOGITS, static[1], (static[2], static[3]), elem, 4)
        if elem in integers and (len(static) == 3 or (len(static) == 4 and static[1] == 1)):
            return ForeignOutput(name, OutputKind.LABELS, 0, (static[-2], static[-1]), elem, len(static))
    shown = [d if d is not None else "?" for d in dims]
    raise ExportError(
        f"{source} output {name!r} ({TensorProto.DataType.Name(elem)} {shown}) is neither logits "
        "[1,C,h,w] float with C > 1 nor labels [1,h,w] / [1,1,h,w] integer"
    )


def _const(name: str, values: Any, dtype: Any = np.float32) -> onnx.NodeProto:
    return helper.make_node(
        "Constant", [], [name], value=numpy_helper.from_array(np.asarray(values, dtype), name)
    )


def _preprocess_graph(spec: ImportSpec, input_size: tuple[int, int], opset: int) -> onnx.ModelProto:
    """Our inputs -> the foreign network's, as the spec declares (graph outputs ``net/<input>``)."""
    height, width = input_size
    nodes: list[onnx.NodeProto] = []
    outputs = []
    if spec.rgb_input:
        mean = np.asarray(spec.rgb_mean, np.float32)  # in the network's channel order
        std = np.asarray(spec.rgb_std, np.float32)
        nodes += [
            helper.make_node("Cast", ["rgb"], ["pre/rgb_f"], to=TensorProto.FLOAT),
            helper.make_node("Transpose", ["pre/rgb_f"], ["pre/rgb_nchw"], perm=[0, 3, 1, 2]),
        ]
        source = "pre/rgb_nchw"
        if spec.channel_order is ChannelOrder.BGR:
            nodes += [
                _const("pre/bgr", [2, 1, 0], np.int64),
                helper.make_node("Gather", ["pre/rgb_nchw", "pre/bgr"], ["pre/rgb_ordered"], axis=1),
            ]
            source = "pre/rgb_ordered"
        out = NET_PREFIX + spec.rgb_input
        nodes += [
            _const("pre/rgb_scale", spec.rgb_scale),
            _const("pre/rgb_mean", mean.reshape(1, 3, 1, 1)),
            _const("pre/rgb_std", std.reshape(1, 3, 1, 1)),
            helper.make_node("Mul", [source, "pre/rgb_scale"], ["pre/rgb_scaled"]),
            helper.make_node("Sub", ["pre/rgb_scaled", "pre/rgb_mean"], ["pre/rgb_centred"]),
            helper.make_node("Div", ["pre/rgb_centred", "pre/rgb_std"], [out]),
        ]
        outputs.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, 3, height, width]))
    if spec.depth_input:
        out = NET_PREFIX + spec.depth_input
        nodes += [
            _const("pre/zero", 0.0),
            _const("pre/depth_unit", spec.depth_per_metre),
            _const("pre/depth_mean", spec.depth_mean),
            _const("pre/depth_std", spec.depth_std),
            _const("pre/depth_invalid", spec.depth_invalid),
            _const("pre/axes", [1], np.int64),
            helper.make_node("Greater", ["depth", "pre/zero"], ["pre/positive"]),  # false for NaN
        ]
        valid = "pre/positive"
        if spec.depth_max_m is not None:
            nodes += [
                _const("pre/depth_max", spec.depth_max_m),
                helper.make_node("LessOrEqual", ["depth", "pre/depth_max"], ["pre/in_range"]),
                helper.make_node("And", ["pre/positive", "pre/in_range"], ["pre/valid"]),
            ]
            valid = "pre/valid"
        nodes += [
            helper.make_node("Where", [valid, "depth", "pre/zero"], ["pre/depth_clean"]),
            helper.make_node("Mul", ["pre/depth_clean", "pre/depth_unit"], ["pre/depth_unit_v"]),
            helper.make_node("Sub", ["pre/depth_unit_v", "pre/depth_mean"], ["pre/depth_centred"]),
            helper.make_node("Div", ["pre/depth_centred", "pre/depth_std"], ["pre/depth_norm"]),
            helper.make_node("Where", [valid, "pre/depth_norm", "pre/depth_invalid"], ["pre/depth_v"]),
            helper.make_node("Unsqueeze", ["pre/depth_v", "pre/axes"], [out]),
        ]
        outputs.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, 1, height, width]))
    graph = helper.make_graph(nodes, "import_preprocess", bundle_inputs(input_size), outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _reduce_max(source: str, out: str, opset: int) -> list[onnx.NodeProto]:
    """ReduceMax over the last axis, without keeping it: ``axes`` is an input from opset 18."""
    if opset < 18:
        return [helper.make_node("ReduceMax", [source], [out], axes=[-1], keepdims=0)]
    axes = _const("post/last_axis", [-1], np.int64)
    return [axes, helper.make_node("ReduceMax", [source, "post/last_axis"], [out], keepdims=0)]


def _postprocess_graph(output: ForeignOutput, input_size: tuple[int, int], opset: int) -> onnx.ModelProto:
    """The foreign output -> ``labels`` int32 and ``confidence`` float32 [1,H,W]."""
    height, width = input_size
    h, w = output.size
    src = NET_PREFIX + output.name
    if output.kind is OutputKind.LOGITS:
        in_shape = [1, output.channels, h, w]
        nodes = [
            helper.make_node("Cast", [src], ["post/logits"], to=TensorProto.FLOAT),
            helper.make_node("Transpose", ["post/logits"], ["post/nhwc"], perm=[0, 2, 3, 1]),
        ]
        scores = "post/nhwc"
        if (h, w) != (height, width):
            nodes += [
                _const("post/sizes", [1, height, width, output.channels], np.int64),
                helper.make_node(
                    "Resize",
                    ["post/nhwc", "", "", "post/sizes"],
                    ["post/scores"],
                    mode="linear",
                    coordinate_transformation_mode="half_pixel",
                ),
            ]
            scores = "post/scores"
        nodes += [
            helper.make_node("Softmax", [scores], ["post/softmax"], axis=-1),
            *_reduce_max("post/softmax", "confidence", opset),
            helper.make_node("ArgMax", [scores], ["post/argmax"], axis=-1, keepdims=0),
            helper.make_node("Cast", ["post/argmax"], ["labels"], to=TensorProto.INT32),
        ]
    else:
        in_shape = [1, 1, h, w] if output.rank == 4 else [1, h, w]
        nodes = [helper.make_node("Cast", [src], ["post/labels_f"], to=TensorProto.FLOAT)]
        flat = "post/labels_f"
        if len(in_shape) == 4:
            nodes += [
                _const("post/axes", [1], np.int64),
                helper.make_node("Squeeze", ["post/labels_f", "post/axes"], ["post/labels_3d"]),
            ]
            flat = "post/labels_3d"
        if (h, w) != (height, width):
            nodes += [
                _const("post/sizes", [1, height, width], np.int64),
                helper.make_node(
                    "Resize",
                    [flat, "", "", "post/sizes"],
                    ["post/labels_up"],
                    mode="nearest",
                    coordinate_transformation_mode="asymmetric",
                    nearest_mode="floor",
                ),
            ]
            flat = "post/labels_up"
        nodes += [
            helper.make_node("Cast", [flat], ["labels"], to=TensorProto.INT32),
            _const("post/one", 1.0),
            _const("post/shape", [1, height, width], np.int64),
            helper.make_node("Expand", ["post/one", "post/shape"], ["confidence"]),
        ]
    inputs = [helper.make_tensor_value_info(src, output.elem_type, in_shape)]
    outputs = [
        helper.make_tensor_value_info("labels", TensorProto.INT32, [1, height, width]),
        helper.make_tensor_value_info("confidence", TensorProto.FLOAT, [1, height, width]),
    ]
    graph = helper.make_graph(nodes, "import_postprocess", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _assemble(
    foreign: onnx.ModelProto, spec: ImportSpec, output: ForeignOutput, input_size: tuple[int, int]
) -> onnx.ModelProto:
    """Preprocessing -> the foreign graph (names prefixed ``net/``) -> argmax and confidence."""
    opset = _opset(foreign)
    net = onnx.compose.add_prefix(foreign, NET_PREFIX)
    net.ir_version = foreign.ir_version
    pre = _preprocess_graph(spec, input_size, opset)
    post = _postprocess_graph(output, input_size, opset)
    for part in (pre, post):
        part.ir_version = foreign.ir_version
    feeds = [(o.name, o.name) for o in pre.graph.output]
    front = onnx.compose.merge_models(pre, net, io_map=feeds, inputs=list(INPUT_NAMES))
    src = NET_PREFIX + output.name
    model = onnx.compose.merge_models(front, post, io_map=[(src, src)], outputs=list(OUTPUT_NAMES))
    drop_unused_opsets(model)  # each part listed its own
    return model


def _bundle_info(
    source: Path,
    spec: ImportSpec,
    classes: ClassSet,
    input_size: tuple[int, int],
    output: ForeignOutput,
    opset: int,
) -> BundleInfo:
    provenance = {
        "origin": "imported",
        "trained_here": False,
        "source_file": source.name,
        "source_sha256": sha256_file(source),
        "source_opset": opset,
        "preset": spec.preset,
        "output": {"name": output.name, "kind": output.kind.value, "size": list(output.size)},
    }
    return BundleInfo(
        classes=classes,
        modalities=spec.modalities,
        input_size=input_size,
        preprocess={"imported": spec.to_json()},
        model=provenance,
        data=f"imported: {spec.preset or 'flags'}",
    )


def import_onnx(
    source: str | Path,
    out_path: str | Path,
    spec: ImportSpec,
    *,
    size: tuple[int, int] | None = None,
    check_frames: Callable[[tuple[int, int]], Sequence[Frame]] | None = None,
) -> ImportResult:
    """Wrap, check (structure, static shapes, TensorRT ops as a warning, parity) and write atomically.

    ``size``: (H, W) for a network with dynamic spatial dims. ``check_frames(input_size)``: real
    frames at the network's size, checked for parity besides the synthetic ones.
    """
    source, out_path = Path(source), Path(out_path)
    foreign = _load(source)
    source_opset = _opset(foreign)
    spec = resolve_inputs(spec, list(_graph_inputs(foreign)), str(source))
    try:
        classes = load_classes(spec.classes)
    except (OSError, ValueError) as err:
        raise ExportError(f"class set {spec.classes!r}: {err}") from err
    input_size = _input_size(foreign, spec, size, str(source))
    _fix_input_dims(foreign, spec, input_size)
    static = _static_foreign(foreign, str(source))
    output = _output(static, spec, str(source))
    if output.kind is OutputKind.LOGITS and output.channels != len(classes):
        raise ExportError(
            f"{source} output {output.name!r} has {output.channels} channels but class set "
            f"{classes.name!r} has {len(classes)} classes"
        )
    model = _assemble(static, spec, output, input_size)
    info = _bundle_info(source, spec, classes, input_size, output, source_opset)
    describe_bundle(model, info, f"imported {source.name} ({spec.preset or 'flags'})")
    try:
        check_structure(model)
        model = check_static_shapes(model)
    except OnnxCheckError as err:
        raise ExportError(f"imported graph of {source} fails a check: {err}") from err
    try:
        check_tensorrt_compatible(model)
        warning = ""
    except OnnxCheckError as err:
        warning = str(err)
    data = model.SerializeToString()
    frames = [*parity_inputs(input_size), *(check_frames(input_size) if check_frames else ())]
    parity = check_import_parity(data, source, spec, output, frames)
    if not parity.ok:
        raise ExportError(f"bundle vs {source} parity failed: {parity.shortfall()}")
    return ImportResult(write_atomically(out_path, data), info, warning, parity, source_opset)


__all__ = ["AUTO", "ImportResult", "import_onnx", "resolve_inputs"]
