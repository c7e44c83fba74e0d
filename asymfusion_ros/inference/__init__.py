"""Run a model bundle: backends (TensorRT, ONNX Runtime, Torch) behind one Protocol, and the Segmenter.

Nothing here imports torch or tensorrt at import time; a backend's runtime is imported when
``load_backend`` chooses it.
"""

from __future__ import annotations

from asymfusion_ros.inference.backends import Backend, BackendKind, Precision, load_backend
from asymfusion_ros.inference.errors import BackendError, EngineBuildError
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
