"""The parity check of ``asymfusion import``: the bundle against the foreign file it wraps.

The reference is the foreign file itself on ONNX Runtime, fed by numpy with the declared
preprocessing (import_spec.reference_inputs) and followed by the argmax, max softmax and
upsampling written in numpy (float64): nothing of the bundle's graph is shared, so a wrong
wrapper node shows as disagreement.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from asymfusion_ros.export.exporter import Outputs, ParityReport
from asymfusion_ros.export.import_spec import ForeignOutput, ImportSpec, OutputKind, reference_inputs
from asymfusion_ros.inference.letterbox import Frame
from asymfusion_ros.inference.model_bundle import OUTPUT_NAMES


def _bilinear(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[h, w, C] -> [H, W, C], half-pixel centres, edges clamped: ONNX Resize linear half_pixel."""

    def axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        low = np.floor(pos).astype(np.int64)
        return low, np.minimum(low + 1, n_in - 1), pos - low

    y0, y1, wy = axis(x.shape[0], size[0])
    x0, x1, wx = axis(x.shape[1], size[1])
    rows = x[y0] * (1 - wy)[:, None, None] + x[y1] * wy[:, None, None]
    return rows[:, x0] * (1 - wx)[None, :, None] + rows[:, x1] * wx[None, :, None]


def reference_outputs(
    session: Any, spec: ImportSpec, output: ForeignOutput, rgb: np.ndarray, depth_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The foreign network (an ONNX Runtime session of the file as given) on the numpy-preprocessed
    frame: labels [H, W] and confidence [H, W], as the bundle must give them."""
    height, width = rgb.shape[:2]
    (raw,) = session.run([output.name], reference_inputs(spec, rgb, depth_m))
    if output.kind is OutputKind.LABELS:
        labels = raw.reshape(raw.shape[-2:])
        rows = np.floor(np.arange(height) * labels.shape[0] / height).astype(np.int64)
        cols = np.floor(np.arange(width) * labels.shape[1] / width).astype(np.int64)
        return labels[rows][:, cols].astype(np.int32), np.ones((height, width), np.float32)
    scores = raw[0].astype(np.float64).transpose(1, 2, 0)
    if scores.shape[:2] != (height, width):
        scores = _bilinear(scores, (height, width))
    exp = np.exp(scores - scores.max(axis=-1, keepdims=True))
    confidence = (1.0 / exp.sum(axis=-1)).astype(np.float32)
    return scores.argmax(axis=-1).astype(np.int32), confidence


def check_import_parity(
    bundle: bytes,
    source: Path,
    spec: ImportSpec,
    output: ForeignOutput,
    frames: Sequence[Frame],
) -> ParityReport:
    """Bundle (ONNX Runtime) vs the foreign file run on numpy-preprocessed inputs, on ``frames``."""
    import onnxruntime as ort

    providers = ["CPUExecutionProvider"]
    ours = ort.InferenceSession(bundle, providers=providers)
    theirs = ort.InferenceSession(str(source), providers=providers)

    def outputs() -> Iterator[tuple[Outputs, Outputs]]:
        for rgb, depth in frames:
            labels, confidence = ours.run(list(OUTPUT_NAMES), {"rgb": rgb[None], "depth": depth[None]})
            yield (labels[0], confidence[0]), reference_outputs(theirs, spec, output, rgb, depth)

    return ParityReport.over(outputs())


__all__ = ["check_import_parity", "reference_outputs"]
