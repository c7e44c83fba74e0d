"""Run a model bundle: backends (TensorRT, ONNX Runtime, Torch) behind one Protocol, and the Segmenter.

Imports point down: ``base`` (the Backend protocol, shared types) <- the backends <- ``loader``
(``load_backend``, the factory) <- ``pipeline`` (the Segmenter); ``letterbox`` (camera <->
network size) stands alone, used by the Segmenter and by INT8 calibration. Nothing here
imports torch or tensorrt at import time; a backend's runtime is imported when
``load_backend`` chooses it. Nothing here reads bags, folders or ROS messages: callers hand
frames in.
"""

from __future__ import annotations

from asymfusion_ros.inference.base import Backend, BackendKind, Precision
from asymfusion_ros.inference.errors import BackendError, EngineBuildError
from asymfusion_ros.inference.loader import load_backend
from asymfusion_ros.inference.pipeline import Segmentation, Segmenter

__all__ = [
    "Backend",
    "BackendError",
    "BackendKind",
    "EngineBuildError",
    "Precision",
    "Segmentation",
    "Segmenter",
    "load_backend",
]
