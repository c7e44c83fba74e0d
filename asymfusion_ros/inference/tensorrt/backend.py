"""TensorRT backend: build (and cache) an engine from the ONNX bundle, run it on one CUDA stream.

Supported: TensorRT 8.5 and newer (JetPack 5.1+, 6.x; x86 wheels 8.5 to 10.x), written
against the documented ``tensorrt`` Python API of 8.5/8.6 and 10.x. 8.5 is the floor because
the bundle's UINT8 ``rgb`` input needs it (earlier parsers refuse UINT8 network inputs), and
8.5 also brought the named-tensor API used here (``num_io_tensors``, ``get_tensor_*``,
``set_tensor_address`` + ``execute_async_v3``, the only I/O API of 10.x). Where versions
differ, the choice follows what the installed module has:

* Network flags: ``EXPLICIT_BATCH`` before 10.x (deprecated and implied in 10.x).
* Weak typing (``BuilderFlag.FP16``/``INT8``) and implicit INT8 calibration: 8.5 to 10.x, gone
  in 11.x (see :func:`effective_precision`).

What the builder is asked (flags, workspace) is plain data in settings.py; keys and files in
engine_cache.py; calibration frames and their error handling in calibration.py; the graph
handed to the parser in onnx_graph.py. Host buffers are pinned, copies and execution go on
one explicit stream, and a few warm-up runs happen at load so the first camera frame does not
pay for lazy initialisation.
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
from asymfusion_ros.inference.files import write_atomically
from asymfusion_ros.inference.model_bundle import (
    INPUT_NAMES,
    OUTPUT_NAMES,
    BundleInfo,
    read_onnx_info,
    read_sidecar,
    sidecar_path,
)
from asymfusion_ros.inference.tensorrt.calibration import (
    CalibrationFeed,
    CalibrationSource,
    Frame,
    calibration_frames,
)
from asymfusion_ros.inference.tensorrt.cuda_memory import CudaSession, cuda_api
from asymfusion_ros.inference.tensorrt.engine_cache import EngineCache, EngineKey, engine_key
from asymfusion_ros.inference.tensorrt.onnx_graph import parser_bytes
from asymfusion_ros.inference.tensorrt.settings import (
    TENSORRT_FLOOR,
    BuilderSettings,
    builder_settings,
    tensorrt_supported,
)

LOG = logging.getLogger(__name__)
TRT_VERSION = str(trt.__version__)
WARMUP_RUNS = 3
_TRT_LOGGER = trt.Logger(trt.Logger.WARNING)


def _check_version() -> None:
    """TensorRT before 8.5 has neither the named-tensor API nor UINT8 inputs: say so, not AttributeError."""
    if not tensorrt_supported(trt):
        raise EngineBuildError(
            f"TensorRT {TRT_VERSION} is older than {TENSORRT_FLOOR} (JetPack 5.1), "
            "the oldest this package supports"
        )


class BuildResult(NamedTuple):
    path: Path
    seconds: float
    cached: bool


# Weak typing (BuilderFlag.FP16/INT8) and implicit INT8 calibration exist in TensorRT 8.5 to
# 10.x and are removed in 11.x (strongly typed networks only; JetPack ships 8.5/8.6/10.x). Where
# they are missing, FP16 falls back to an FP32 build and INT8 is refused, with the reason.
HAS_WEAK_TYPING = hasattr(trt.BuilderFlag, "FP16")
_CALIBRATOR_BASE: Any = getattr(trt, "IInt8EntropyCalibrator2", object)


class EntropyCalibrator(_CALIBRATOR_BASE):
    """TensorRT's view of a CalibrationFeed: copies each frame to the GPU; the logic is in the feed."""

    def __init__(self, feed: CalibrationFeed, session: CudaSession, input_size: tuple[int, int]) -> None:
        _CALIBRATOR_BASE.__init__(self)
        self.feed = feed
        self.session = session
        self.host = {
            "rgb": session.pinned((1, *input_size, 3), np.uint8),
            "depth": session.pinned((1, *input_size), np.float32),
        }
        self.device = {name: session.malloc(array.nbytes) for name, array in self.host.items()}

    def get_batch_size(self) -> int:
        return 1

    def get_batch(self, names: list[str], *args: Any) -> list[int] | None:
        return self.feed.next_batch(lambda frame: self._upload(frame, names))

    def _upload(self, frame: Frame, names: list[str]) -> list[int]:
        np.copyto(self.host["rgb"][0], frame[0])
        np.copyto(self.host["depth"][0], frame[1])
        for name in names:
            self.session.upload(self.device[name], self.host[name])
        self.session.synchronize()
        return [self.device[name] for name in names]

    def read_calibration_cache(self) -> bytes | None:
        return self.feed.read_cache()

    def write_calibration_cache(self, cache: Any) -> None:
        self.feed.write_cache(bytes(cache))


def _create_network(builder: Any) -> Any:
    flags = 0
    if int(TRT_VERSION.split(".")[0]) < 10 and hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH"):
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    return builder.create_network(flags)


def _parse(network: Any, onnx_path: Path) -> Any:
    data, unused = parser_bytes(onnx_path)
    if unused:
        LOG.info("%s: inputs %s feed no node; the engine leaves them out", onnx_path, unused)
    parser = trt.OnnxParser(network, _TRT_LOGGER)
    if not parser.parse(data):
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


def _configure(builder: Any, config: Any, settings: BuilderSettings) -> None:
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, settings.workspace_bytes)
    if "FP16" in settings.set_flags and not getattr(builder, "platform_has_fast_fp16", True):  # gone in 10.x
        LOG.warning("this GPU has no fast FP16; TensorRT will pick FP32 kernels where faster")
    for name in settings.set_flags:
        config.set_flag(getattr(trt.BuilderFlag, name))
    for name in settings.clear_flags:
        config.clear_flag(getattr(trt.BuilderFlag, name))


def _load_timing_cache(config: Any, path: Path) -> None:
    """Kernel timings of earlier builds on this platform; a fresh cache when the file is refused."""
    data = path.read_bytes() if path.is_file() else b""
    cache = config.create_timing_cache(data) if data else None
    if cache is not None and config.set_timing_cache(cache, ignore_mismatch=False):
        return
    if data:
        LOG.warning(
            "timing cache %s is unusable (corrupt, or from another TensorRT/GPU); starting anew", path
        )
    config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)


def build_engine(
    onnx_path: Path,
    *,
    precision: Precision = Precision.FP16,
    device: int = 0,
    calibration: CalibrationSource | None = None,
    cache: EngineCache | None = None,
) -> BuildResult:
    """The engine for ``onnx_path`` on this GPU: from the cache when its key matches, else built.

    INT8 calibration frames are read and checked before the build; an error while TensorRT
    consumes them is raised once the build returns, and no calibration cache is written then.
    """
    _check_version()
    cache = cache or EngineCache()
    settings = builder_settings(effective_precision(precision))
    onnx_path = onnx_path.resolve()
    info = read_onnx_info(onnx_path)  # a bundle, or a BackendError naming the file
    api = cuda_api()
    if api.device_count() <= device:
        raise EngineBuildError(f"no CUDA device {device} (found {api.device_count()}) to build {onnx_path}")
    gpu = api.gpu_info(device)
    int8 = settings.precision is Precision.INT8
    key = engine_key(onnx_path, settings, gpu, TRT_VERSION, calibration.fingerprint if calibration else "")
    if int8 and calibration is None:
        calibrated = cache.lookup_any_calibration(key, onnx_path.stem)
        if calibrated is not None:
            return BuildResult(calibrated, 0.0, True)
        raise EngineBuildError(
            f"INT8 needs calibration frames: `asymfusion build-engine {onnx_path} --precision int8 "
            "--calib DIR_OR_BAG` builds the engine once, later loads find it in the cache"
        )
    cached = cache.lookup(key, onnx_path.stem)
    if cached is not None:
        return BuildResult(cached, 0.0, True)
    feed = None
    if int8 and calibration is not None:
        frames = calibration_frames(calibration.frames, info.input_size, limit=calibration.limit)
        feed = CalibrationFeed(frames, cache.calibration_cache_path(key, onnx_path.stem))
    start = time.perf_counter()
    session = api.open(device)
    try:
        with session.activate():
            builder = trt.Builder(_TRT_LOGGER)
            network = _create_network(builder)
            parser = _parse(network, onnx_path)
            config = builder.create_builder_config()
            _configure(builder, config, settings)
            timing_path = cache.timing_cache_path(key)
            _load_timing_cache(config, timing_path)
            if feed is not None:
                config.int8_calibrator = EntropyCalibrator(feed, session, info.input_size)
            serialized = builder.build_serialized_network(network, config)
            del parser
            if feed is not None:
                feed.raise_error()  # TensorRT only printed it; the build result is not to be trusted
            if serialized is None:
                raise EngineBuildError(
                    f"TensorRT {TRT_VERSION} failed to build {onnx_path} ({settings.describe()}); "
                    "its log above says why"
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
        _check_version()
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
                # A single-modality model leaves rgb or depth unused; the build leaves it out.
                self._inputs = tuple(n for n in INPUT_NAMES if n in names)
                if sorted(names) != sorted(self._inputs + OUTPUT_NAMES) or not self._inputs:
                    raise EngineBuildError(
                        f"{engine_path} has I/O {names}, expected {INPUT_NAMES + OUTPUT_NAMES}"
                    )
                self._host = {t.name: self._session.pinned(t.shape, t.dtype) for t in self._tensors}
                self._device = {
                    t.name: self._session.malloc(self._host[t.name].nbytes) for t in self._tensors
                }
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
        mismatch = stored.platform_mismatch(stored.on_platform(cuda_api().gpu_info(device), TRT_VERSION))
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

    def run(self, rgb: np.ndarray, depth_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        check_inputs(rgb, depth_m, self.input_size)
        frame = {"rgb": rgb, "depth": depth_m}
        with self._session.activate():
            for name in self._inputs:
                np.copyto(self._host[name][0], frame[name])
                self._session.upload(self._device[name], self._host[name])
            if not self._context.execute_async_v3(self._session.stream_handle):
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
