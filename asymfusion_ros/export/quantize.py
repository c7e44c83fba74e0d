"""An fp32 ONNX bundle -> an INT8 QDQ bundle (``asymfusion export --int8 --calib FRAMES``).

ONNX Runtime static quantisation in QDQ format: QuantizeLinear/DequantizeLinear pairs around
the network's ops, which ONNX Runtime's CPU provider fuses into integer kernels and which
TensorRT takes as explicit quantisation. Weights are signed INT8, symmetric, per output
channel; activation ranges come from MinMax calibration on real frames. Activations
(``activations``):

* ``uint8`` (default): asymmetric, what ONNX Runtime CPU fuses into QLinearConv everywhere
  (with signed activations ONNX Runtime 1.32 left 27 of the shipped model's 47 convs in
  float between Q/DQ pairs, slower than fp32).
* ``int8``: symmetric, zero point 0, the only form TensorRT's explicit quantisation takes.

The pre-processing (everything before the first Conv) and the post-processing (everything
after the last Conv: ensemble, upsampling, softmax, argmax) stay float: they are cheap, and the
argmax over 40 quantised logits would flip labels where two classes are close.

Calibration frames come from the caller, already fitted to the network input
(``asymfusion export --int8 --calib`` reads them with cli/frame_sources.py: a folder, a rosbag
or a dataset spec, as TensorRT's INT8 calibration takes them).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import onnx

from asymfusion_ros.export.onnx_checks import OnnxCheckError, run_structural_checks
from asymfusion_ros.inference.files import write_atomically

DEFAULT_CALIBRATION_FRAMES = 64


class QuantizeError(RuntimeError):
    """No INT8 bundle could be made (bad calibration source, quantiser failure, failed check)."""


def float_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes before the first Conv and after the last (graph order is topological)."""
    nodes = list(model.graph.node)
    convs = [i for i, node in enumerate(nodes) if node.op_type == "Conv"]
    if not convs:
        raise QuantizeError("the graph has no Conv to quantise")
    return [n.name for i, n in enumerate(nodes) if i < convs[0] or i > convs[-1]]


class _Reader:
    """onnxruntime.quantization's CalibrationDataReader protocol over our frames."""

    def __init__(self, frames: Iterable[tuple[np.ndarray, np.ndarray]]) -> None:
        self._frames = iter(frames)
        self.count = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        frame = next(self._frames, None)
        if frame is None:
            return None
        self.count += 1
        rgb, depth = frame
        return {"rgb": rgb[None], "depth": depth[None].astype(np.float32)}

    def rewind(self) -> None:  # part of the protocol; MinMax reads the frames once
        raise NotImplementedError("calibration frames are read once")


ACTIVATIONS = ("uint8", "int8")


def quantize_bundle(
    fp32_path: Path,
    out_path: Path,
    frames: Iterable[tuple[np.ndarray, np.ndarray]],
    activations: str = "uint8",
) -> tuple[Path, int]:
    """Write the INT8 QDQ bundle of ``fp32_path`` (metadata kept, structural checks passed).

    Returns the path and the number of calibration frames used.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if activations not in ACTIVATIONS:
        raise QuantizeError(f"activations must be one of {ACTIVATIONS}, got {activations!r}")
    signed = activations == "int8"
    model = onnx.load(str(fp32_path))
    reader = _Reader(frames)
    with tempfile.TemporaryDirectory(prefix="asymfusion-int8-") as tmp:
        staged = Path(tmp) / "int8.onnx"
        try:
            quantize_static(
                str(fp32_path),
                str(staged),
                reader,  # a structural CalibrationDataReader
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QInt8 if signed else QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                nodes_to_exclude=float_nodes(model),
                calibrate_method=CalibrationMethod.MinMax,
                extra_options={"ActivationSymmetric": signed, "WeightSymmetric": True},
            )
        except QuantizeError:
            raise
        except Exception as err:  # the quantiser raises ValueError, RuntimeError, ORT errors
            raise QuantizeError(f"ONNX Runtime quantisation of {fp32_path} failed: {err}") from err
        if reader.count == 0:
            raise QuantizeError("no calibration frames were read")
        quantized = onnx.load(str(staged))
    del quantized.metadata_props[:]
    quantized.metadata_props.extend(model.metadata_props)
    quantized.producer_name, quantized.producer_version = model.producer_name, model.producer_version
    quantized.doc_string = (
        f"{model.doc_string}; INT8 QDQ, {activations} activations (ONNX Runtime static quantisation)"
    )
    try:
        quantized = run_structural_checks(quantized)
    except OnnxCheckError as err:
        raise QuantizeError(f"the INT8 bundle fails a check: {err}") from err
    return write_atomically(out_path, quantized.SerializeToString()), reader.count


def label_agreement(
    fp32_path: Path, int8_path: Path, frames: Sequence[tuple[np.ndarray, np.ndarray]]
) -> float:
    """Fraction of pixels where the INT8 bundle's labels equal the fp32 bundle's."""
    import onnxruntime as ort

    sessions = [
        ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (fp32_path, int8_path)
    ]
    same = total = 0
    for rgb, depth in frames:
        feeds = {"rgb": rgb[None], "depth": depth[None].astype(np.float32)}
        fp32, int8 = (s.run(["labels"], feeds)[0] for s in sessions)
        same += int((fp32 == int8).sum())
        total += fp32.size
    return same / max(total, 1)
