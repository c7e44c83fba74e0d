"""Where TensorRT engines, timing caches and INT8 calibration caches live, and when one is valid.

An engine is valid only for the exact ONNX bytes, TensorRT version, GPU model, compute
capability, precision and input shapes it was built for, so all of them go into its key and
its file name: a changed model, an upgraded JetPack or another GPU gives another key, hence a
rebuild, never a stale engine. The GPU is told apart by its SM count and total memory too
(every Orin module reports the same name and compute capability), and the key also holds the
builder settings (flags, workspace) and this package's version, which change what is built.
Every file is written atomically (temporary file in the same folder, fsync, ``os.replace``),
so a build killed half-way never leaves a truncated engine that the next start would try to
load.

Folder: ``$ASYMFUSION_CACHE_DIR`` or ``~/.cache/asymfusion_ros``, engines under ``engines/``.
No tensorrt import here: keys and files are plain data, testable on any machine.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from asymfusion_ros import __version__
from asymfusion_ros.inference.base import Precision
from asymfusion_ros.inference.files import sha256_file, write_atomically
from asymfusion_ros.inference.model_bundle import sidecar_path
from asymfusion_ros.inference.tensorrt.cuda_memory import GpuInfo
from asymfusion_ros.inference.tensorrt.onnx_graph import input_shapes
from asymfusion_ros.inference.tensorrt.settings import BuilderSettings

CACHE_ENV = "ASYMFUSION_CACHE_DIR"


def cache_root() -> Path:
    """The cache folder: ``$ASYMFUSION_CACHE_DIR`` if set, else ``~/.cache/asymfusion_ros``."""
    override = os.environ.get(CACHE_ENV)
    return Path(override).expanduser() if override else Path.home() / ".cache" / "asymfusion_ros"


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on. ``calibration`` fingerprints the INT8 calibration data."""

    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: str  # "8.7"
    gpu_sm_count: int
    gpu_memory_bytes: int
    precision: str
    builder: str  # BuilderSettings.describe()
    package_version: str
    input_shapes: tuple[tuple[str, tuple[int, ...]], ...]
    calibration: str = ""

    def digest(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["input_shapes"] = [[name, list(shape)] for name, shape in self.input_shapes]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EngineKey:
        shapes = tuple((str(name), tuple(int(d) for d in shape)) for name, shape in data["input_shapes"])
        return cls(**{**data, "input_shapes": shapes})

    def platform_mismatch(self, other: EngineKey) -> str | None:
        """How ``other`` (this machine) differs in TensorRT / GPU from this key, or None."""
        diffs = [
            f"{f} {getattr(self, f)!r} here {getattr(other, f)!r}"
            for f in PLATFORM_FIELDS
            if getattr(self, f) != getattr(other, f)
        ]
        return ", ".join(diffs) or None

    def on_platform(self, gpu: GpuInfo, tensorrt_version: str) -> EngineKey:
        """This key with the platform fields of ``gpu`` and ``tensorrt_version`` (this machine)."""
        return replace(self, tensorrt_version=tensorrt_version, **_gpu_fields(gpu))


PLATFORM_FIELDS = ("tensorrt_version", "gpu_name", "compute_capability", "gpu_sm_count", "gpu_memory_bytes")
"""The key fields an engine file cannot be carried across (see :meth:`EngineKey.platform_mismatch`)."""


def _gpu_fields(gpu: GpuInfo) -> dict[str, Any]:
    major, minor = gpu.compute_capability
    return {
        "gpu_name": gpu.name,
        "compute_capability": f"{major}.{minor}",
        "gpu_sm_count": gpu.sm_count,
        "gpu_memory_bytes": gpu.memory_bytes,
    }


def engine_key(
    onnx_path: Path, settings: BuilderSettings, gpu: GpuInfo, tensorrt_version: str, calibration: str = ""
) -> EngineKey:
    """The key of the engine built from ``onnx_path`` with ``settings`` on ``gpu``.

    ``calibration`` (the INT8 calibration data's fingerprint) enters INT8 keys only: an FP16 or
    FP32 engine does not depend on it, and a later load (which has no calibration data) must
    find the engine that ``build-engine --precision fp16 --calib X`` built.
    """
    return EngineKey(
        onnx_sha256=sha256_file(onnx_path),
        tensorrt_version=tensorrt_version,
        **_gpu_fields(gpu),
        precision=settings.precision.value,
        builder=settings.describe(),
        package_version=__version__,
        input_shapes=input_shapes(onnx_path),
        calibration=calibration if settings.precision is Precision.INT8 else "",
    )


class EngineCache:
    """The engine folder: lookup by key, atomic store with a JSON sidecar, timing/calibration caches."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or cache_root()
        self.engines = self.root / "engines"

    def engine_path(self, key: EngineKey, stem: str) -> Path:
        return self.engines / f"{stem}-{key.precision}-{key.digest()}.engine"

    def lookup(self, key: EngineKey, stem: str) -> Path | None:
        """The cached engine for ``key`` when both it and its sidecar exist and agree, else None."""
        path = self.engine_path(key, stem)
        sidecar = sidecar_path(path)
        if not (path.is_file() and sidecar.is_file()):
            return None
        try:
            stored = EngineKey.from_dict(json.loads(sidecar.read_text())["key"])
        except (ValueError, KeyError, TypeError):
            return None
        return path if stored == key else None

    def lookup_any_calibration(self, key: EngineKey, stem: str) -> Path | None:
        """The newest cached engine matching ``key`` whatever its calibration data (INT8 engines are
        built once with ``build-engine --calib``; loading the bundle later must find them)."""
        found = []
        for path in self.engines.glob(f"{stem}-{key.precision}-*.engine"):
            try:
                stored = EngineKey.from_dict(json.loads(sidecar_path(path).read_text())["key"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if replace(stored, calibration=key.calibration) == key:
                found.append((path.stat().st_mtime_ns, path))
        return max(found)[1] if found else None

    def store(self, key: EngineKey, stem: str, engine: bytes, metadata: dict[str, str], source: Path) -> Path:
        """Write the sidecar, then the engine (an engine file present means a complete entry).

        ``source`` is stored resolved: a rebuild after a platform change finds it whatever the
        working directory then is (``ros2 launch`` starts nodes elsewhere).
        """
        path = self.engine_path(key, stem)
        sidecar = {"key": key.to_dict(), "metadata": metadata, "source": str(source.resolve())}
        write_atomically(sidecar_path(path), json.dumps(sidecar, indent=1).encode())
        return write_atomically(path, engine)

    def discard(self, key: EngineKey, stem: str) -> None:
        """Remove an entry that turned out unloadable (then it is rebuilt)."""
        path = self.engine_path(key, stem)
        path.unlink(missing_ok=True)
        sidecar_path(path).unlink(missing_ok=True)

    def timing_cache_path(self, key: EngineKey) -> Path:
        """Shared by every model on this TensorRT + GPU: kernel timings do not depend on the model."""
        platform = hashlib.sha256("|".join(str(getattr(key, f)) for f in PLATFORM_FIELDS).encode())
        return self.engines / f"timing-{platform.hexdigest()[:16]}.cache"

    def calibration_cache_path(self, key: EngineKey, stem: str) -> Path:
        """Per model and calibration data: the INT8 scales TensorRT computed, reused across rebuilds."""
        ident = hashlib.sha256(f"{key.onnx_sha256}|{key.calibration}".encode()).hexdigest()[:16]
        return self.engines / f"{stem}-calib-{ident}.cache"
