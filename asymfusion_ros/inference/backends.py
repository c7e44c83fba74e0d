"""One way to run a model whatever it is: ``load_backend(path) -> Backend``.

Dispatch on the file and on what this machine has:

* ``.engine`` / ``.plan`` -> TensorRT (the engine's JSON sidecar carries the bundle metadata);
* ``.onnx`` -> TensorRT when ``import tensorrt`` works and a CUDA GPU is visible (the engine is
  built once and cached, see engine_cache.py), else ONNX Runtime (CUDA EP, else CPU);
* ``.pt`` -> Torch (the checkpoint, with the very pre/post-processing of the ONNX graph).

Backend modules are imported only when chosen: loading an ONNX bundle with ONNX Runtime never
imports torch, which is what lets the ROS node run on a robot with no torch installed.
"""

from __future__ import annotations

import importlib.util
from enum import Enum
from pathlib import Path
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

# backend -> (the module it imports, where to get it)
_RUNTIMES = {
    BackendKind.TENSORRT: ("tensorrt", "it comes with JetPack, or NVIDIA's tensorrt wheels on x86 GPUs"),
    BackendKind.ONNXRUNTIME: ("onnxruntime", "pip install onnxruntime, or onnxruntime-gpu for CUDA"),
    BackendKind.TORCH: ("torch", "pip install torch"),
}


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


def tensorrt_usable() -> bool:
    """True where ``tensorrt`` imports and a CUDA GPU is visible (the auto choice for .onnx)."""
    if importlib.util.find_spec("tensorrt") is None:
        return False
    try:
        import tensorrt  # noqa: F401

        from asymfusion_ros.inference.tensorrt.cuda_memory import cuda_api

        return cuda_api().device_count() > 0
    except (ImportError, OSError, BackendError):
        return False


def resolve_kind(path: Path, backend: BackendKind) -> BackendKind:
    """The backend ``auto`` picks for ``path``, or ``backend`` checked against the file type."""
    suffix = path.suffix.lower()
    if suffix not in (*ENGINE_SUFFIXES, ".onnx", ".pt"):
        found = suffix or "no suffix"
        raise BackendError(f"{path} is not a model: expected .onnx, .engine/.plan or .pt, got {found!r}")
    if backend is BackendKind.AUTO:
        if suffix in ENGINE_SUFFIXES:
            return BackendKind.TENSORRT
        if suffix == ".pt":
            return BackendKind.TORCH
        return BackendKind.TENSORRT if tensorrt_usable() else BackendKind.ONNXRUNTIME
    accepted = {
        BackendKind.TENSORRT: (*ENGINE_SUFFIXES, ".onnx"),
        BackendKind.ONNXRUNTIME: (".onnx",),
        BackendKind.TORCH: (".pt",),
    }[backend]
    if suffix not in accepted:
        hint = " (export the checkpoint first: asymfusion export)" if suffix == ".pt" else ""
        raise BackendError(f"the {backend.value} backend runs {'/'.join(accepted)} files, not {path}{hint}")
    return backend


def load_backend(
    path: str | Path,
    backend: str | BackendKind = "auto",
    precision: str | Precision = "fp16",
    device: int = 0,
    threads: int | None = None,
) -> Backend:
    """Load ``path`` on the named backend (``auto``: see the module docstring).

    ``precision`` applies to TensorRT and to Torch on CUDA; ``threads`` to CPU backends
    (ONNX Runtime intra-op threads, torch.set_num_threads).
    """
    try:
        kind = BackendKind(backend)
        prec = Precision(precision)
    except ValueError as err:
        raise BackendError(
            f"{err}: backend must be one of {[k.value for k in BackendKind]}, "
            f"precision one of {[p.value for p in Precision]}"
        ) from err
    if threads is not None and threads < 1:
        raise BackendError(f"threads must be >= 1, got {threads}")
    model_path = Path(path).expanduser()
    if not model_path.is_file():
        raise BackendError(f"model file not found: {model_path}")
    kind = resolve_kind(model_path, kind)
    module, hint = _RUNTIMES[kind]
    if importlib.util.find_spec(module) is None:
        raise BackendError(f"the {kind.value} backend needs the `{module}` package, absent here ({hint})")
    if kind is BackendKind.TENSORRT:
        from asymfusion_ros.inference.tensorrt.backend import TensorRTBackend

        return TensorRTBackend.load(model_path, precision=prec, device=device)
    if kind is BackendKind.ONNXRUNTIME:
        from asymfusion_ros.inference.onnxruntime_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend(model_path, device=device, threads=threads)
    from asymfusion_ros.inference.torch_backend import TorchBackend

    return TorchBackend(model_path, precision=prec, device=device, threads=threads)
