"""The shared types of the inference layer: what a backend is, and the names every layer uses.

The concrete backends (onnxruntime_backend.py, torch_backend.py, tensorrt/backend.py) import
this module and nothing above it; loader.py, beside it, is the factory that imports them.
"""

from __future__ import annotations

from enum import Enum
from typing import Protocol, runtime_checkable

import numpy as np

from asymfusion_ros.classes import ClassSet
from asymfusion_ros.inference.errors import BackendError


class BackendKind(str, Enum):
    """Which runtime executes the model."""

    AUTO = "auto"
    TENSORRT = "tensorrt"
    ONNXRUNTIME = "onnxruntime"
    TORCH = "torch"


class Precision(str, Enum):
    """Arithmetic precision asked of a GPU backend (CPU backends run fp32 whatever is asked)."""

    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"


ENGINE_SUFFIXES = (".engine", ".plan")


@runtime_checkable
class Backend(Protocol):
    """A loaded model: raw camera-format arrays in, labels and confidence out, at input size."""

    name: str
    input_size: tuple[int, int]
    classes: ClassSet

    def run(self, rgb: np.ndarray, depth_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(H, W, 3) uint8 and (H, W) float32 metres -> labels (H, W) uint8|uint16, confidence float32."""
        ...

    def describe(self) -> str:
        """One line for logs: runtime, device, precision, input size, classes."""
        ...


def label_dtype(classes: ClassSet) -> np.dtype:
    """uint8 labels while ids fit in a mono8 image, uint16 past 255 classes."""
    return np.dtype(np.uint8) if len(classes) <= 255 else np.dtype(np.uint16)


def check_inputs(rgb: np.ndarray, depth_m: np.ndarray, input_size: tuple[int, int]) -> None:
    """Refuse what the network cannot take, naming the fault (dtype, shape, size)."""
    height, width = input_size
    if not isinstance(rgb, np.ndarray) or not isinstance(depth_m, np.ndarray):
        kinds = f"{type(rgb).__name__}, {type(depth_m).__name__}"
        raise BackendError(f"rgb and depth_m must be numpy arrays, got {kinds}")
    if rgb.dtype != np.uint8:
        raise BackendError(f"rgb must be uint8, got {rgb.dtype}")
    if depth_m.dtype != np.float32:
        raise BackendError(f"depth_m must be float32 metres, got {depth_m.dtype}")
    if rgb.shape != (height, width, 3):
        raise BackendError(f"rgb must be (H, W, 3) = {(height, width, 3)} (network input), got {rgb.shape}")
    if depth_m.shape != (height, width):
        raise BackendError(f"depth_m must be (H, W) = {(height, width)} (network input), got {depth_m.shape}")
