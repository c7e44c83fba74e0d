"""Torch backend, and the one module that defines what a deployed segmenter computes.

``DeployedSegmenter`` = the checkpoint's ModalityInputs + network + (argmax, max softmax), the
last computed channels-last from the network's stride-4 logits (fusion/postprocess.py).
The ONNX export traces exactly this module, and the Torch backend runs exactly this module,
so parity between the backends tests the runtimes, not two copies of the post-processing.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import Tensor, nn

from asymfusion_ros.fusion.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from asymfusion_ros.fusion.postprocess import Decodes, labels_and_confidence
from asymfusion_ros.inference.base import Precision, check_inputs, label_dtype
from asymfusion_ros.inference.errors import BackendError
from asymfusion_ros.inference.model_bundle import BundleInfo


class DeployedSegmenter(nn.Module):
    """rgb uint8 [B,H,W,3] + depth float32 metres [B,H,W] -> labels int32 [B,H,W], confidence [B,H,W].

    The uint8 image is cast to float first, before ModalityInputs transposes it: TensorRT
    accepts a UINT8 network input only when it feeds a Cast directly (TensorRT >= 8.5).
    """

    def __init__(self, model: nn.Module, preprocess: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.preprocess = preprocess

    def forward(self, rgb: Tensor, depth: Tensor) -> tuple[Tensor, Tensor]:
        inputs = self.preprocess(rgb.to(torch.float32), depth)
        logits = cast(Decodes, self.model).decode(inputs)
        return labels_and_confidence(logits, (int(depth.shape[-2]), int(depth.shape[-1])))


def bundle_info(checkpoint: Checkpoint) -> BundleInfo:
    """The self-description a checkpoint gives its ONNX bundle and its Torch backend."""
    return BundleInfo(
        classes=checkpoint.classes,
        modalities=tuple(checkpoint.preprocess_config.get("modalities", ())),
        input_size=checkpoint.input_size,
        preprocess=dict(checkpoint.preprocess_config),
        model=dict(checkpoint.model_config),
        data=checkpoint.data,
        metrics=checkpoint.metrics,
        adaptation=checkpoint.adaptation,
    )


def load_deployed(path: Path) -> tuple[DeployedSegmenter, BundleInfo]:
    """A checkpoint as a DeployedSegmenter in eval mode, plus its BundleInfo."""
    try:
        checkpoint = load_checkpoint(path)
        model, preprocess = checkpoint.build()
    except CheckpointError as err:
        raise BackendError(str(err)) from err
    return DeployedSegmenter(model, preprocess).eval(), bundle_info(checkpoint)


class TorchBackend:
    """PyTorch eager on CPU (fp32) or CUDA (fp32, or fp16 by autocast)."""

    name = "torch"

    def __init__(
        self,
        path: Path,
        *,
        precision: Precision = Precision.FP16,
        device: int = 0,
        threads: int | None = None,
    ) -> None:
        if threads is not None:
            torch.set_num_threads(threads)
        self.path = path
        segmenter, self.info = load_deployed(path)
        self.input_size = self.info.input_size
        self.classes = self.info.classes
        self._label_dtype = label_dtype(self.classes)
        cuda = torch.cuda.is_available()
        self.device = torch.device(f"cuda:{device}" if cuda else "cpu")
        # Only CUDA gains from fp16; int8 needs a calibrated TensorRT engine, so it runs fp16 here.
        self.precision = Precision.FP32 if not cuda or precision is Precision.FP32 else Precision.FP16
        self._segmenter = segmenter.to(self.device)
        self._threads = threads

    @torch.inference_mode()
    def run(self, rgb: np.ndarray, depth_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        check_inputs(rgb, depth_m, self.input_size)
        rgb_t = torch.from_numpy(np.ascontiguousarray(rgb))[None].to(self.device, non_blocking=True)
        depth_t = torch.from_numpy(np.ascontiguousarray(depth_m))[None].to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.precision is Precision.FP16):
            labels, confidence = self._segmenter(rgb_t, depth_t)
        return labels[0].cpu().numpy().astype(self._label_dtype), confidence[0].float().cpu().numpy()

    def describe(self) -> str:
        threads = f", {torch.get_num_threads()} threads" if self.device.type == "cpu" else ""
        return (
            f"torch {torch.__version__} eager on {self.device}{threads}, {self.precision.value}, "
            f"input {self.input_size[0]}x{self.input_size[1]}, {len(self.classes)} classes "
            f"({self.classes.name}), {self.path.name}"
        )
