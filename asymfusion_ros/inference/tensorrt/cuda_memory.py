"""CUDA streams and memory for the TensorRT backend, from whichever binding this machine has.

TensorRT's Python API takes raw device pointers and a stream handle, and leaves allocation to
the caller. The choice, in order:

1. ``cuda-python`` (``cuda.bindings.runtime``, or ``cuda.cudart`` before 12.6): NVIDIA's own thin
   binding of the CUDA runtime, the one the TensorRT 10 samples use; pip-installable, no torch.
2. ``pycuda``: what JetPack 5 images and the TensorRT 8 samples ship; uses the primary context,
   the one the TensorRT runtime itself uses.
3. ``torch.cuda``: a fallback for research machines that have a CUDA torch and neither above.

The first binding that imports *and* sees a device is used: a pip cuda-python built for a
newer CUDA than the driver's (12.x on JetPack 5's CUDA 11.4) imports fine and sees no device,
and the next binding is then tried rather than TensorRT silently left out.

All three give the same small session: one stream, pinned host arrays (so the async copies are
truly asynchronous), device buffers addressed by int pointers, async copies, synchronise.
"""

from __future__ import annotations

import ctypes
import importlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, NamedTuple, Protocol

import numpy as np
from numpy.typing import DTypeLike

from asymfusion_ros.inference.errors import BackendError


class GpuInfo(NamedTuple):
    """What tells one GPU model from another (Orin modules share name and compute capability)."""

    name: str
    compute_capability: tuple[int, int]
    sm_count: int
    memory_bytes: int


class CudaSession(Protocol):
    """One device, one stream, the buffers allocated through it (freed by ``close``)."""

    stream_handle: int

    def activate(self) -> AbstractContextManager[None]:
        """Make this session's device/context current on the calling thread (the node's worker)."""
        ...

    def pinned(self, shape: tuple[int, ...], dtype: DTypeLike) -> np.ndarray: ...
    def malloc(self, nbytes: int) -> int: ...
    def upload(self, device_ptr: int, host: np.ndarray) -> None: ...
    def download(self, host: np.ndarray, device_ptr: int) -> None: ...
    def synchronize(self) -> None: ...
    def close(self) -> None: ...


class CudaApi(Protocol):
    name: str

    def device_count(self) -> int: ...
    def gpu_info(self, device: int) -> GpuInfo: ...
    def open(self, device: int) -> CudaSession: ...


# --- cuda-python -------------------------------------------------------------------------


def _import_cudart() -> Any:
    try:
        return importlib.import_module("cuda.bindings.runtime")
    except ImportError:
        return importlib.import_module("cuda.cudart")


class _CudaPython:
    name = "cuda-python"

    def __init__(self) -> None:
        self.rt = _import_cudart()

    def call(self, result: tuple) -> Any:
        """cuda-python returns (error, *values): raise on error, unwrap one value."""
        err, *values = result
        if err != self.rt.cudaError_t.cudaSuccess:
            raise BackendError(f"CUDA runtime error: {err}")
        return values[0] if len(values) == 1 else tuple(values)

    def device_count(self) -> int:
        """The devices this runtime sees; BackendError naming the CUDA error (an old driver, say)."""
        return int(self.call(self.rt.cudaGetDeviceCount()))

    def gpu_info(self, device: int) -> GpuInfo:
        prop = self.call(self.rt.cudaGetDeviceProperties(device))
        name = prop.name.split(b"\0", 1)[0].decode() if isinstance(prop.name, bytes) else str(prop.name)
        return GpuInfo(
            name, (int(prop.major), int(prop.minor)), int(prop.multiProcessorCount), int(prop.totalGlobalMem)
        )

    def open(self, device: int) -> CudaSession:
        return _CudaPythonSession(self, device)


class _CudaPythonSession:
    def __init__(self, api: _CudaPython, device: int) -> None:
        self.api, rt = api, api.rt
        self.device = device
        api.call(rt.cudaSetDevice(device))
        self.stream = api.call(rt.cudaStreamCreate())
        self.stream_handle = int(self.stream)
        self._device: list[int] = []
        self._host: list[int] = []

    @contextmanager
    def activate(self) -> Iterator[None]:
        self.api.call(self.api.rt.cudaSetDevice(self.device))  # the runtime API's device is per thread
        yield

    def pinned(self, shape: tuple[int, ...], dtype: DTypeLike) -> np.ndarray:
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        ptr = int(self.api.call(self.api.rt.cudaMallocHost(nbytes)))
        self._host.append(ptr)
        raw = np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_uint8)), shape=(nbytes,))
        return raw.view(dtype).reshape(shape)

    def malloc(self, nbytes: int) -> int:
        ptr = int(self.api.call(self.api.rt.cudaMalloc(nbytes)))
        self._device.append(ptr)
        return ptr

    def _copy(self, dst: int, src: int, nbytes: int, kind: Any) -> None:
        self.api.call(self.api.rt.cudaMemcpyAsync(dst, src, nbytes, kind, self.stream))

    def upload(self, device_ptr: int, host: np.ndarray) -> None:
        self._copy(
            device_ptr, host.ctypes.data, host.nbytes, self.api.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        )

    def download(self, host: np.ndarray, device_ptr: int) -> None:
        self._copy(
            host.ctypes.data, device_ptr, host.nbytes, self.api.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        )

    def synchronize(self) -> None:
        self.api.call(self.api.rt.cudaStreamSynchronize(self.stream))

    def close(self) -> None:
        rt = self.api.rt
        for ptr in self._device:
            rt.cudaFree(ptr)
        for ptr in self._host:
            rt.cudaFreeHost(ptr)
        rt.cudaStreamDestroy(self.stream)
        self._device, self._host = [], []


# --- pycuda ------------------------------------------------------------------------------


class _PyCuda:
    name = "pycuda"

    def __init__(self) -> None:
        self.drv = importlib.import_module("pycuda.driver")
        self.drv.init()

    def device_count(self) -> int:
        return int(self.drv.Device.count())

    def gpu_info(self, device: int) -> GpuInfo:
        dev = self.drv.Device(device)
        major, minor = dev.compute_capability()
        sm_count = dev.get_attribute(self.drv.device_attribute.MULTIPROCESSOR_COUNT)
        return GpuInfo(str(dev.name()), (int(major), int(minor)), int(sm_count), int(dev.total_memory()))

    def open(self, device: int) -> CudaSession:
        return _PyCudaSession(self.drv, device)


class _PyCudaSession:
    def __init__(self, drv: Any, device: int) -> None:
        self.drv = drv
        self.context = drv.Device(device).retain_primary_context()
        self.context.push()
        try:
            self.stream = drv.Stream()
        finally:
            self.context.pop()
        self.stream_handle = int(self.stream.handle)
        self._device: list[Any] = []

    @contextmanager
    def activate(self) -> Iterator[None]:
        self.context.push()  # pycuda contexts are current per thread: push for the call, then pop
        try:
            yield
        finally:
            self.context.pop()

    def pinned(self, shape: tuple[int, ...], dtype: DTypeLike) -> np.ndarray:
        return self.drv.pagelocked_empty(shape, dtype)

    def malloc(self, nbytes: int) -> int:  # call inside activate()
        allocation = self.drv.mem_alloc(nbytes)
        self._device.append(allocation)
        return int(allocation)

    def upload(self, device_ptr: int, host: np.ndarray) -> None:
        self.drv.memcpy_htod_async(device_ptr, host, self.stream)

    def download(self, host: np.ndarray, device_ptr: int) -> None:
        self.drv.memcpy_dtoh_async(host, device_ptr, self.stream)

    def synchronize(self) -> None:
        self.stream.synchronize()

    def close(self) -> None:
        with self.activate():
            for allocation in self._device:
                allocation.free()
        self._device = []


# --- torch.cuda --------------------------------------------------------------------------


class _TorchCuda:
    name = "torch.cuda"

    def __init__(self) -> None:
        self.torch = importlib.import_module("torch")

    def device_count(self) -> int:
        return int(self.torch.cuda.device_count()) if self.torch.cuda.is_available() else 0

    def gpu_info(self, device: int) -> GpuInfo:
        prop = self.torch.cuda.get_device_properties(device)
        return GpuInfo(
            str(prop.name),
            (int(prop.major), int(prop.minor)),
            int(prop.multi_processor_count),
            int(prop.total_memory),
        )

    def open(self, device: int) -> CudaSession:
        return _TorchCudaSession(self.torch, device)


class _TorchCudaSession:
    """Buffers are torch tensors; the int pointers TensorRT needs index them for the copies."""

    def __init__(self, torch: Any, device: int) -> None:
        self.torch = torch
        self.device = torch.device(f"cuda:{device}")
        torch.cuda.set_device(self.device)
        self.stream = torch.cuda.Stream(device=self.device)
        self.stream_handle = int(self.stream.cuda_stream)
        self._tensors: dict[int, Any] = {}
        self._pinned: list[Any] = []

    @contextmanager
    def activate(self) -> Iterator[None]:
        with self.torch.cuda.device(self.device):
            yield

    def pinned(self, shape: tuple[int, ...], dtype: DTypeLike) -> np.ndarray:
        tensor = self.torch.empty(int(np.prod(shape)) * np.dtype(dtype).itemsize, dtype=self.torch.uint8)
        tensor = tensor.pin_memory()
        self._pinned.append(tensor)
        return tensor.numpy().view(dtype).reshape(shape)

    def malloc(self, nbytes: int) -> int:
        tensor = self.torch.empty(nbytes, dtype=self.torch.uint8, device=self.device)
        self._tensors[int(tensor.data_ptr())] = tensor
        return int(tensor.data_ptr())

    def _host_bytes(self, host: np.ndarray) -> Any:
        return self.torch.from_numpy(host.reshape(-1).view(np.uint8))

    def upload(self, device_ptr: int, host: np.ndarray) -> None:
        with self.torch.cuda.stream(self.stream):
            self._tensors[device_ptr].copy_(self._host_bytes(host), non_blocking=True)

    def download(self, host: np.ndarray, device_ptr: int) -> None:
        with self.torch.cuda.stream(self.stream):
            self._host_bytes(host).copy_(self._tensors[device_ptr], non_blocking=True)

    def synchronize(self) -> None:
        self.stream.synchronize()

    def close(self) -> None:
        self._tensors, self._pinned = {}, []


_APIS: tuple[tuple[str, Callable[[], CudaApi]], ...] = (
    ("cuda-python", _CudaPython),
    ("pycuda", _PyCuda),
    ("torch.cuda", _TorchCuda),
)


def cuda_api() -> CudaApi:
    """The first binding that imports and sees a CUDA device (see the module docstring).

    BackendError when none does, saying what each one answered.
    """
    failures = []
    for name, factory in _APIS:
        try:
            api = factory()
            count = api.device_count()
        except Exception as err:  # ImportError, a driver too old for the binding, a failed init
            failures.append(f"{name}: {err}")
            continue
        if count > 0:
            return api
        failures.append(f"{name}: imports but sees no CUDA device")
    raise BackendError(
        "TensorRT needs a CUDA binding that sees this machine's GPU, for memory and streams; none does ("
        + "; ".join(failures)
        + "). Install one built for this machine's CUDA: pycuda compiled against it (JetPack's "
        "/usr/local/cuda), or a cuda-python whose major version is the driver's CUDA major version "
        "(nvidia-smi shows it; JetPack 5 ships CUDA 11.4, where cuda-python 12 or newer sees no device)."
    )
