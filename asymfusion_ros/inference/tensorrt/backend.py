"""TensorRT backend: build (and cache) an engine from the ONNX bundle, run it on one CUDA stream.

Written against the documented ``tensorrt`` Python API of TensorRT 8.5/8.6 (JetPack 5/6) and
10.x, choosing by the attributes the installed module has, never by guessing from versions:

* I/O: the named-tensor API (``num_io_tensors``, ``get_tensor_name/mode/shape/dtype``,
  ``set_tensor_address`` + ``execute_async_v3``; TensorRT >= 8.5 and the only one in 10.x),
  else the bindings API (``num_bindings``, ``binding_is_input``, ``execute_async_v2``).
* Workspace: ``set_memory_pool_limit(MemoryPoolType.WORKSPACE, ...)`` (>= 8.4), else
  ``max_workspace_size``.
* Network flags: ``EXPLICIT_BATCH`` before 10.x (deprecated and implied in 10.x).
* Build: ``build_serialized_network`` (>= 8.0), with a timing cache kept between builds.

The bundle's UINT8 ``rgb`` input feeds a Cast directly (export.py makes sure), which is what
TensorRT >= 8.5 needs for UINT8 network inputs. Host buffers are pinned, copies and
execution go on one explicit stream, and a few warm-up runs happen at load so the first
camera frame does not pay for lazy initialisation.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import tensorrt as trt

from asymfusion_ros.inference.base import Precision, check_inputs, label_dtype
from asymfusion_ros.inference.errors import BackendError, EngineBuildError
from asymfusion_ros.inference.files import sha256_file, write_atomically
from asymfusion_ros.inference.model_bundle import (
    INPUT_NAMES,
    OUTPUT_NAMES,
    BundleInfo,
    read_onnx_info,
    read_sidecar,
    sidecar_path,
)
from asymfusion_ros.inference.tensorrt.calibration import CalibrationSource, calibration_frames
from asymfusion_ros.inference.tensorrt.cuda_memory import CudaSession, GpuInfo, cuda_api
from asymfusion_ros.inference.tensorrt.engine_cache import EngineCache, EngineKey

LOG = logging.getLogger(__name__)
TRT_VERSION = str(trt.__version__)
WORKSPACE_BYTES = 1 << 30
WARMUP_RUNS = 3
_TRT_LOGGER = trt.Logger(trt.Logger.WARNING)


class BuildResult(NamedTuple):
    path: Path
    seconds: float
    cached: bool


def _input_shapes(onnx_path: Path) -> tuple[tuple[str, tuple[int, ...]], ...]:
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    return tuple((i.name, tuple(int(d.dim_value) for d in i.type.tensor_type.shape.dim)) for i in graph.input)


def engine_key(onnx_path: Path, precision: Precision, gpu: GpuInfo, calibration: str = "") -> EngineKey:
    return EngineKey(
        onnx_sha256=sha256_file(onnx_path),
        tensorrt_version=TRT_VERSION,
        gpu_name=gpu.name,
        compute_capability=f"{gpu.compute_capability[0]}.{gpu.compute_capability[1]}",
        precision=precision.value,
        input_shapes=_input_shapes(onnx_path),
        calibration=calibration,
    )


# Weak typing (BuilderFlag.FP16/INT8) and implicit INT8 calibration exist in TensorRT 8.5 to
# 10.x and are removed in 11.x (strongly typed networks only; JetPack ships 8.5/8.6/10.x). Where
# they are missing, FP16 falls back to an FP32 build and INT8 is refused, with the reason.
HAS_WEAK_TYPING = hasattr(trt.BuilderFlag, "FP16")
_CALIBRATOR_BASE: Any = getattr(trt, "IInt8EntropyCalibrator2", object)


class EntropyCalibrator(_CALIBRATOR_BASE):
    """Feeds calibration frames one by one; the scales TensorRT computes are cached on disk."""

    def __init__(
        self, frames: Any, session: CudaSession, input_size: tuple[int, int], cache_path: Path
    ) -> None:
        _CALIBRATOR_BASE.__init__(self)
        self.frames = iter(frames)
        self.session = session
        self.cache_path = cache_path
        self.host = {
            "rgb": session.pinned((1, *input_size, 3), np.uint8),
            "depth": session.pinned((1, *input_size), np.float32),
        }
        self.device = {name: session.malloc(array.nbytes) for name, array in self.host.items()}

    def get_batch_size(self) -> int:
        return 1

    def get_batch(self, names: list[str], *args: Any) -> list[int] | None:
        frame = next(self.frames, None)
        if frame is None:
            return None
        np.copyto(self.host["rgb"][0], frame[0])
        np.copyto(self.host["depth"][0], frame[1])
        for name in INPUT_NAMES:
            self.session.upload(self.device[name], self.host[name])
        self.session.synchronize()
        return [self.device[name] for name in names]

    def read_calibration_cache(self) -> bytes | None:
        return self.cache_path.read_bytes() if self.cache_path.is_file() else None

    def write_calibration_cache(self, cache: Any) -> None:
        write_atomically(self.cache_path, bytes(cache))


def _create_network(builder: Any) -> Any:
    flags = 0
    if int(TRT_VERSION.split(".")[0]) < 10 and hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH"):
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    return builder.create_network(flags)


def _parse(network: Any, onnx_path: Path) -> Any:
    parser = trt.OnnxParser(network, _TRT_LOGGER)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineBuildError(f"TensorRT {TRT_VERSION} cannot parse {onnx_path}: {errors}")
    return parser  # the network refers to the parser's weights: keep it alive until the build ends


def effective_precision(precision: Precision) -> Precision:
    """What this TensorRT can build for ``precision`` (see HAS_WEAK_TYPING)."""
    if HAS_WEAK_TYPING:
        return precision
    if precision is Precision.INT8:
        raise EngineBuildError(
            f"TensorRT {TRT_VERSION} has no implicit INT8 calibration (removed in 11.x): "
            "quantize the ONNX with Q/DQ nodes (NVIDIA ModelOpt) or use fp16/fp32"
        )
    if precision is Precision.FP16:
        LOG.warning("TensorRT %s builds strongly typed networks only: building FP32", TRT_VERSION)
    return Precision.FP32


def _configure(builder: Any, config: Any, precision: Precision) -> None:
    if hasattr(config, "set_memory_pool_limit"):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    else:
        config.max_workspace_size = WORKSPACE_BYTES
    if precision in (Precision.FP16, Precision.INT8):
        if not getattr(builder, "platform_has_fast_fp16", True):  # deprecated in 10.x
            LOG.warning("this GPU has no fast FP16; TensorRT will pick FP32 kernels where faster")
        config.set_flag(trt.BuilderFlag.FP16)  # INT8 builds keep FP16 for the layers left unquantised
    if precision is Precision.INT8:
        config.set_flag(trt.BuilderFlag.INT8)


def _load_timing_cache(config: Any, path: Path) -> None:
    data = path.read_bytes() if path.is_file() else b""
    cache = config.create_timing_cache(data)
    if not config.set_timing_cache(cache, ignore_mismatch=False):
        LOG.warning("timing cache %s is from another TensorRT/GPU; starting a new one", path)
        config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)


def build_engine(
    onnx_path: Path,
    *,
    precision: Precision = Precision.FP16,
    device: int = 0,
    calibration: CalibrationSource | None = None,
    cache: EngineCache | None = None,
) -> BuildResult:
    """The engine for ``onnx_path`` on this GPU: from the cache when its key matches, else built."""
    cache = cache or EngineCache()
    precision = effective_precision(precision)
    info = read_onnx_info(onnx_path)  # a bundle, or a BackendError naming the file
    api = cuda_api()
    if api.device_count() <= device:
        raise EngineBuildError(f"no CUDA device {device} (found {api.device_count()}) to build {onnx_path}")
    gpu = api.gpu_info(device)
    if precision is Precision.INT8 and calibration is None:
        calibrated = cache.lookup_any_calibration(engine_key(onnx_path, precision, gpu), onnx_path.stem)
        if calibrated is not None:
            return BuildResult(calibrated, 0.0, True)
        raise EngineBuildError(
            f"INT8 needs calibration frames: `asymfusion build-engine {onnx_path} --precision int8 "
            "--calib DIR_OR_BAG` builds the engine once, later loads find it in the cache"
        )
    key = engine_key(onnx_path, precision, gpu, calibration.fingerprint if calibration else "")
    cached = cache.lookup(key, onnx_path.stem)
    if cached is not None:
        return BuildResult(cached, 0.0, True)
    start = time.perf_counter()
    session = api.open(device)
    try:
        with session.activate():
            builder = trt.Builder(_TRT_LOGGER)
            network = _create_network(builder)
            parser = _parse(network, onnx_path)
            config = builder.create_builder_config()
            _configure(builder, config, precision)
            timing_path = cache.timing_cache_path(key)
            _load_timing_cache(config, timing_path)
            if calibration is not None and precision is Precision.INT8:
                frames = calibration_frames(calibration.frames, info.input_size, limit=calibration.limit)
                config.int8_calibrator = EntropyCalibrator(
                    frames, session, info.input_size, cache.calibration_cache_path(key, onnx_path.stem)
                )
            serialized = builder.build_serialized_network(network, config)
            del parser
            if serialized is None:
                raise EngineBuildError(
                    f"TensorRT {TRT_VERSION} failed to build {onnx_path} ({precision.value})"
                )
            write_atomically(timing_path, bytes(config.get_timing_cache().serialize()))
    finally:
        session.close()
    path = cache.store(key, onnx_path.stem, bytes(serialized), info.to_metadata(), onnx_path)
    return BuildResult(path, time.perf_counter() - start, False)


class _Tensor(NamedTuple):
    name: str
    is_input: bool
    shape: tuple[int, ...]
    dtype: np.dtype


def _io_tensors(engine: Any) -> list[_Tensor]:
    if hasattr(engine, "num_io_tensors"):  # TensorRT >= 8.5
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        return [
            _Tensor(
                n,
                engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT,
                tuple(engine.get_tensor_shape(n)),
                np.dtype(trt.nptype(engine.get_tensor_dtype(n))),
            )
            for n in names
        ]
    return [
        _Tensor(
            engine.get_binding_name(i),
            engine.binding_is_input(i),
            tuple(engine.get_binding_shape(i)),
            np.dtype(trt.nptype(engine.get_binding_dtype(i))),
        )
        for i in range(engine.num_bindings)
    ]


def _platform_key(stored: EngineKey, device: int) -> EngineKey:
    gpu = cuda_api().gpu_info(device)
    return EngineKey(
        stored.onnx_sha256,
        TRT_VERSION,
        gpu.name,
        f"{gpu.compute_capability[0]}.{gpu.compute_capability[1]}",
        stored.precision,
        stored.input_shapes,
        stored.calibration,
    )


class TensorRTBackend:
    """A deserialized engine with its execution context, stream and pinned/device buffers."""

    name = "tensorrt"

    def __init__(self, engine_path: Path, info: BundleInfo, precision: str, device: int = 0) -> None:
        self.path = engine_path
        self.info = info
        self.input_size = info.input_size
        self.classes = info.classes
        self.precision = precision
        self.device = device
        self._label_dtype = label_dtype(self.classes)
        api = cuda_api()
        self._gpu = api.gpu_info(device)
        self._session = api.open(device)
        try:
            with self._session.activate():
                self._engine = trt.Runtime(_TRT_LOGGER).deserialize_cuda_engine(engine_path.read_bytes())
                if self._engine is None:
                    raise EngineBuildError(
                        f"TensorRT {TRT_VERSION} cannot deserialize {engine_path} (built by another TensorRT "
                        "version or for another GPU?): rebuild it with `asymfusion build-engine MODEL.onnx`"
                    )
                self._context = self._engine.create_execution_context()
                self._tensors = _io_tensors(self._engine)
                names = tuple(t.name for t in self._tensors)
                # A single-modality model leaves rgb or depth unused, and TensorRT drops it.
                self._inputs = tuple(n for n in INPUT_NAMES if n in names)
                if sorted(names) != sorted(self._inputs + OUTPUT_NAMES) or not self._inputs:
                    raise EngineBuildError(
                        f"{engine_path} has I/O {names}, expected {INPUT_NAMES + OUTPUT_NAMES}"
                    )
                self._host = {t.name: self._session.pinned(t.shape, t.dtype) for t in self._tensors}
                self._device = {
                    t.name: self._session.malloc(self._host[t.name].nbytes) for t in self._tensors
                }
                if hasattr(self._context, "execute_async_v3"):
                    for t in self._tensors:
                        self._context.set_tensor_address(t.name, self._device[t.name])
            for _ in range(WARMUP_RUNS):
                self.run(np.zeros((*self.input_size, 3), np.uint8), np.zeros(self.input_size, np.float32))
        except BaseException:
            self._session.close()
            raise

    @classmethod
    def load(cls, path: Path, *, precision: Precision = Precision.FP16, device: int = 0) -> TensorRTBackend:
        """From an ONNX bundle (cached engine, built when missing) or a built ``.engine``/``.plan``."""
        if path.suffix == ".onnx":
            precision = effective_precision(precision)
            cache = EngineCache()
            result = build_engine(path, precision=precision, device=device, cache=cache)
            try:
                return cls(result.path, read_onnx_info(path), precision.value, device)
            except EngineBuildError:
                if not result.cached:
                    raise
                LOG.warning("cached engine %s does not load; rebuilding it", result.path)
                result.path.unlink(missing_ok=True)
                sidecar_path(result.path).unlink(missing_ok=True)
                rebuilt = build_engine(path, precision=precision, device=device, cache=cache)
                return cls(rebuilt.path, read_onnx_info(path), precision.value, device)
        sidecar = read_sidecar(path)
        try:
            stored = EngineKey.from_dict(sidecar["key"])
            info = BundleInfo.from_metadata(sidecar["metadata"], str(path))
        except (KeyError, TypeError, ValueError) as err:
            raise BackendError(f"malformed engine sidecar of {path}: {err!r}") from err
        mismatch = stored.platform_mismatch(_platform_key(stored, device))
        if mismatch:
            source = Path(sidecar.get("source", ""))
            if source.suffix == ".onnx" and source.is_file():
                LOG.warning(
                    "%s was built for another platform (%s); rebuilding from %s", path, mismatch, source
                )
                return cls.load(source, precision=Precision(stored.precision), device=device)
            raise EngineBuildError(
                f"{path} was built for another platform ({mismatch}) and its ONNX source {source} is gone: "
                "rebuild it on this machine with `asymfusion build-engine MODEL.onnx`"
            )
        return cls(path, info, stored.precision, device)

    def _execute(self) -> bool:
        if hasattr(self._context, "execute_async_v3"):
            return bool(self._context.execute_async_v3(self._session.stream_handle))
        bindings = [self._device[t.name] for t in self._tensors]
        return bool(
            self._context.execute_async_v2(bindings=bindings, stream_handle=self._session.stream_handle)
        )

    def run(self, rgb: np.ndarray, depth_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        check_inputs(rgb, depth_m, self.input_size)
        frame = {"rgb": rgb, "depth": depth_m}
        with self._session.activate():
            for name in self._inputs:
                np.copyto(self._host[name][0], frame[name])
                self._session.upload(self._device[name], self._host[name])
            if not self._execute():
                raise BackendError(f"TensorRT execution of {self.path} failed")
            for name in OUTPUT_NAMES:
                self._session.download(self._host[name], self._device[name])
            self._session.synchronize()
        return self._host["labels"][0].astype(self._label_dtype), self._host["confidence"][0].copy()

    def describe(self) -> str:
        return (
            f"tensorrt {TRT_VERSION} on {self._gpu.name} (sm {self._gpu.compute_capability[0]}"
            f"{self._gpu.compute_capability[1]}), {self.precision}, input {self.input_size[0]}x"
            f"{self.input_size[1]}, {len(self.classes)} classes ({self.classes.name}), {self.path.name}"
        )

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> TensorRTBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
