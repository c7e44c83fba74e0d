"""One way to run a model whatever it is: ``load_backend(path) -> Backend``.

Dispatch on the file and on what this machine has:

* ``.engine`` / ``.plan`` -> TensorRT (the engine's JSON sidecar carries the bundle metadata);
* ``.onnx`` -> TensorRT when ``import tensorrt`` works and a CUDA GPU is visible (the engine is
  built once and cached, see tensorrt/engine_cache.py), else ONNX Runtime (CUDA EP, else CPU);
* ``.pt`` -> Torch (the checkpoint, with the very pre/post-processing of the ONNX graph).

Backend modules are imported only when chosen: loading an ONNX bundle with ONNX Runtime never
imports torch, which is what lets the ROS node run on a robot with no torch installed. This
factory sits beside base.py (the types the backends import), never inside it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from asymfusion_ros.inference.base import ENGINE_SUFFIXES, Backend, BackendKind, Precision
from asymfusion_ros.inference.errors import BackendError

# backend -> (the module it imports, where to get it)
_RUNTIMES = {
    BackendKind.TENSORRT: ("tensorrt", "it comes with JetPack, or NVIDIA's tensorrt wheels on x86 GPUs"),
    BackendKind.ONNXRUNTIME: ("onnxruntime", "pip install onnxruntime, or onnxruntime-gpu for CUDA"),
    BackendKind.TORCH: ("torch", "pip install torch"),
}


def tensorrt_usable() -> bool:
    """True where ``tensorrt`` 8.5+ imports and a CUDA GPU is visible (the auto choice for .onnx)."""
    return tensorrt_unusable_reason() is None


def tensorrt_unusable_reason() -> str | None:
    """Why ``auto`` passes TensorRT over for an .onnx on this machine, or None where it takes it.

    The one rule behind ``auto``; ``asymfusion doctor`` prints the reason.
    """
    if importlib.util.find_spec("tensorrt") is None:
        return "`import tensorrt` finds no TensorRT"
    try:
        import tensorrt

        from asymfusion_ros.inference.tensorrt.cuda_memory import cuda_api
        from asymfusion_ros.inference.tensorrt.settings import below_floor

        if too_old := below_floor(tensorrt):
            return too_old
        cuda_api()
    except (ImportError, OSError) as err:
        return f"`import tensorrt` fails: {err}"
    except BackendError as err:
        return f"no CUDA GPU visible to TensorRT: {err}"
    return None


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
