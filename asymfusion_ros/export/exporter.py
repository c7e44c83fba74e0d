"""Checkpoint -> one self-describing ONNX bundle (``asymfusion export CKPT -o MODEL.onnx``).

The graph is ``DeployedSegmenter`` (inference/torch_backend.py): inputs ``rgb`` uint8
[1,H,W,3] NHWC (as a camera gives it) and ``depth`` float32 [1,H,W] metres (0/NaN invalid);
the checkpoint's ModalityInputs inside; outputs ``labels`` int32 [1,H,W] (argmax of the
ensemble logits) and ``confidence`` float32 [1,H,W] (their max softmax). Shapes are static:
TensorRT and ONNX Runtime both plan better for one size, and a camera has one size.

With ``fold_bn`` what is traced is the segmenter in its folded form (fusion/folding.py:
AsymFusion's per-modality BatchNorms folded into grouped convolutions, a Conv(+ReLU)-only
graph for TensorRT); the parity check compares the ONNX Runtime result with the trained
form, so it checks the folding too. The default keeps the trained layout, which ONNX Runtime
CPU runs faster for the shipped narrow model (docs/deployment_speed.md).

It uses the TorchScript exporter (``dynamo=False``) with constant folding: it gives a flat
graph of plain ONNX ops that the TensorRT parser takes as is. Before the file is moved into
place the bundle must pass onnx_checks.py and an ONNX Runtime vs PyTorch parity check.
"""

from __future__ import annotations

import io
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import onnx

from asymfusion_ros import __version__
from asymfusion_ros.export.onnx_checks import OnnxCheckError, run_structural_checks
from asymfusion_ros.inference.errors import BackendError
from asymfusion_ros.inference.files import write_atomically
from asymfusion_ros.inference.model_bundle import INPUT_NAMES, OUTPUT_NAMES, BundleInfo

if TYPE_CHECKING:
    from asymfusion_ros.inference.torch_backend import DeployedSegmenter

DEFAULT_OPSET = 17
LABEL_AGREEMENT_MIN = 0.999
CONFIDENCE_TOLERANCE = 1e-4


class ExportError(RuntimeError):
    """A checkpoint could not be exported, or its bundle failed a check (the file is not written)."""


Outputs = tuple[np.ndarray, np.ndarray]
"""A bundle's (labels, confidence), or the reference's it is checked against."""


class ParityReport(NamedTuple):
    """ONNX Runtime vs PyTorch on the same inputs."""

    label_agreement: float  # fraction of pixels with equal labels
    max_confidence_diff: float

    @property
    def ok(self) -> bool:
        labels_ok = self.label_agreement >= LABEL_AGREEMENT_MIN
        return labels_ok and self.max_confidence_diff <= CONFIDENCE_TOLERANCE

    @classmethod
    def over(cls, outputs: Iterable[tuple[Outputs, Outputs]]) -> ParityReport:
        """Agreement over (ours, reference) pairs of (labels, confidence) arrays of equal size."""
        same = total = 0
        worst = 0.0
        for (labels, confidence), (ref_labels, ref_confidence) in outputs:
            same += int((labels == ref_labels).sum())
            total += labels.size
            worst = max(worst, float(np.abs(confidence - ref_confidence).max()))
        return cls(same / total, worst)

    def shortfall(self) -> str:
        """What falls short of the bounds, for the error that refuses the bundle."""
        return (
            f"labels agree on {self.label_agreement:.4%} (need {LABEL_AGREEMENT_MIN:.1%}), confidence "
            f"differs by up to {self.max_confidence_diff:.2e} (need <= {CONFIDENCE_TOLERANCE:.0e})"
        )


def parity_inputs(
    input_size: tuple[int, int], count: int = 2, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Smooth random RGB-D frames with invalid depth (0 and NaN): image-like, reproducible.

    Smooth rather than white noise so the logits are not all near ties (an untrained net on
    noise gives top-2 margins near float precision, and agreement would measure luck).
    """
    import cv2

    rng = np.random.default_rng(seed)
    height, width = input_size
    frames = []
    for _ in range(count):
        coarse = rng.uniform(0, 255, (max(2, height // 8), max(2, width // 8), 3)).astype(np.float32)
        rgb = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR).astype(np.uint8)
        depth = cv2.resize(rng.uniform(0.3, 8.0, coarse.shape[:2]).astype(np.float32), (width, height))
        depth[rng.random((height, width)) < 0.05] = 0.0
        depth[rng.random((height, width)) < 0.02] = np.nan
        frames.append((rgb, depth))
    return frames


def check_parity(
    segmenter: DeployedSegmenter, onnx_model: Path | bytes, input_size: tuple[int, int]
) -> ParityReport:
    """Run the torch module and the ONNX model (a file or its bytes) on the same frames and compare."""
    import onnxruntime as ort
    import torch

    source = onnx_model if isinstance(onnx_model, bytes) else str(onnx_model)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])

    def outputs() -> Iterator[tuple[Outputs, Outputs]]:
        for rgb, depth in parity_inputs(input_size):
            labels_o, conf_o = session.run(list(OUTPUT_NAMES), {"rgb": rgb[None], "depth": depth[None]})
            with torch.inference_mode():
                labels_t, conf_t = segmenter(torch.from_numpy(rgb)[None], torch.from_numpy(depth)[None])
            yield (labels_o, conf_o), (labels_t.numpy(), conf_t.numpy())

    return ParityReport.over(outputs())


def deployment_form(segmenter: DeployedSegmenter, fold_bn: bool) -> DeployedSegmenter:
    """The segmenter to trace: as trained, or with its BatchNorms folded (fusion/folding.py)."""
    from asymfusion_ros.fusion.folding import fold_for_deployment
    from asymfusion_ros.inference.torch_backend import DeployedSegmenter

    if not fold_bn:
        return segmenter
    return DeployedSegmenter(fold_for_deployment(segmenter.model), segmenter.preprocess).eval()


def _trace(segmenter: DeployedSegmenter, input_size: tuple[int, int], opset: int) -> bytes:
    import torch

    height, width = input_size
    example = (torch.zeros(1, height, width, 3, dtype=torch.uint8), torch.ones(1, height, width))
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # Expected with a static export: the TorchScript exporter is deprecated (chosen on
        # purpose), shape checks trace to constants, Slice with step != 1 is left unfolded.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Constant folding")
        torch.onnx.export(
            segmenter,
            example,
            buffer,  # type: ignore[arg-type]  # file-like objects are accepted, the stub says paths
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    return buffer.getvalue()


def fold_static_shapes(exported: bytes) -> onnx.ModelProto:
    """Fold what the static input shape makes constant (Shape -> Gather -> Concat -> Resize sizes).

    The TorchScript exporter records ``x.shape`` as Shape ops, and its constant folding stops
    at them; ONNX Runtime's *basic* offline optimisation (constant and shape folding, redundant
    node elimination; standard ONNX ops only, unlike the extended level) folds them all. That
    leaves a static graph TensorRT parses without shape tensors (~1400 -> ~330 nodes here).
    """
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(Path(tmp) / "folded.onnx")
        ort.InferenceSession(exported, options, providers=["CPUExecutionProvider"])
        model = onnx.load(options.optimized_model_filepath)
    drop_unused_opsets(model)  # ORT lists every domain it knows
    return model


def drop_unused_opsets(model: onnx.ModelProto) -> None:
    """Keep one opset import per domain a node uses, and the default domain's."""
    used = {node.domain for node in model.graph.node} | {""}
    kept = {o.domain: o for o in model.opset_import if o.domain in used}
    del model.opset_import[:]
    model.opset_import.extend(kept.values())


def _keep_both_inputs(model: onnx.ModelProto, input_size: tuple[int, int]) -> None:
    """Restore an input the exporter pruned (a single-modality model ignores rgb or depth).

    The bundle contract is one interface for every model, so callers never branch on the
    scheme; an unused graph input is valid ONNX and costs nothing.
    """
    present = {i.name: i for i in model.graph.input}
    ordered = [present.get(info.name, info) for info in bundle_inputs(input_size)]
    del model.graph.input[:]
    model.graph.input.extend(ordered)


def bundle_inputs(input_size: tuple[int, int]) -> list[onnx.ValueInfoProto]:
    """The bundle's inputs, in INPUT_NAMES order: ``rgb`` uint8 [1,H,W,3], ``depth`` float32 [1,H,W]."""
    height, width = input_size
    return [
        onnx.helper.make_tensor_value_info("rgb", onnx.TensorProto.UINT8, [1, height, width, 3]),
        onnx.helper.make_tensor_value_info("depth", onnx.TensorProto.FLOAT, [1, height, width]),
    ]


def export_onnx(
    checkpoint_path: str | Path,
    out_path: str | Path,
    *,
    input_size: tuple[int, int] | None = None,
    opset: int = DEFAULT_OPSET,
    fold_bn: bool = False,
) -> Path:
    """Export, check (structure, static shapes, TensorRT ops, parity) and write atomically.

    ``fold_bn=True`` folds AsymFusion's per-modality BatchNorms into grouped convs.
    """
    from asymfusion_ros.inference.torch_backend import load_deployed

    out_path = Path(out_path)
    try:
        segmenter, info = load_deployed(Path(checkpoint_path))
    except BackendError as err:
        raise ExportError(f"cannot export {checkpoint_path}: {err}") from err
    if input_size is not None:
        info = replace(info, input_size=(int(input_size[0]), int(input_size[1])))
    height, width = info.input_size
    if height <= 0 or width <= 0 or height % 32 or width % 32:
        raise ExportError(f"input size {height}x{width} must be positive multiples of 32")
    try:
        model = fold_static_shapes(_trace(deployment_form(segmenter, fold_bn), info.input_size, opset))
        _keep_both_inputs(model, info.input_size)
    except Exception as err:  # the exporter raises many types (RuntimeError, torch.onnx errors)
        raise ExportError(f"torch.onnx.export of {checkpoint_path} failed: {err}") from err
    describe_bundle(model, info, f"{info.model.get('scheme', 'model')} RGB-D segmenter")
    try:
        model = run_structural_checks(model)
    except OnnxCheckError as err:
        raise ExportError(f"exported graph of {checkpoint_path} fails a check: {err}") from err
    data = model.SerializeToString()
    parity = check_parity(segmenter, data, info.input_size)
    if not parity.ok:
        raise ExportError(
            f"ONNX Runtime vs PyTorch parity failed for {checkpoint_path}: {parity.shortfall()}"
        )
    return write_atomically(out_path, data)


def describe_bundle(model: onnx.ModelProto, info: BundleInfo, what: str) -> None:
    """Metadata props (the bundle contract) and producer fields; ``what`` starts the doc string."""
    model.producer_name = "asymfusion_ros"
    model.producer_version = __version__
    model.doc_string = (
        f"{what}, {len(info.classes)} classes; "
        "inputs rgb uint8 [1,H,W,3], depth float32 metres [1,H,W]; outputs labels int32, confidence float32"
    )
    del model.metadata_props[:]
    for key, value in info.to_metadata().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
