"""``asymfusion doctor``: what a robot builder runs first on a new Jetson or laptop.

One line per check, ✓ (fine), ✗ (broken) or – (absent, and only needed for something else),
with the fix beside what is not fine. The backend line states the rule ``auto`` follows by
calling it (inference/loader.py), so the doctor cannot disagree with the node. Exit status 0
when the node can run here (Python, rclpy, a valid ROS domain, the model loads and segments a
frame), 1 otherwise; ``--json`` prints the same checks for scripts.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from asymfusion_ros import __version__
from asymfusion_ros.inference.base import BackendKind
from asymfusion_ros.inference.errors import BackendError
from asymfusion_ros.resources import ResourceError, resolve_model

__all__ = ["EXAMPLES", "Check", "Mark", "add_arguments", "run", "run_checks"]

MIN_PYTHON = (3, 10)
CAMERA_SIZE = (480, 640)  # (H, W) of the frame the model is tried on: a typical RGB-D camera
MAX_DOMAIN_ID = 232  # ROS 2's largest valid ROS_DOMAIN_ID

# Example command lines, shown at the end of this subcommand's --help (cli/__init__.py).
EXAMPLES: tuple[str, ...] = (
    "asymfusion doctor",
    "asymfusion doctor --model my_model.onnx --json",
)


class Mark(str, Enum):
    OK = "✓"
    FAIL = "✗"
    ABSENT = "–"


@dataclass(frozen=True)
class Check:
    """One line of the report. ``required``: the node cannot run here while it fails."""

    name: str
    mark: Mark
    detail: str
    fix: str = ""
    required: bool = False
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def blocks_node(self) -> bool:
        return self.required and self.mark is not Mark.OK

    def line(self) -> str:
        fix = f"  fix: {self.fix}" if self.fix and self.mark is not Mark.OK else ""
        return f"{self.mark.value} {self.name:<14} {self.detail}{fix}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "mark": self.mark.value, "ok": self.mark is Mark.OK}


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_python() -> Check:
    found = platform.python_version()
    detail = f"Python {found}, asymfusion_ros {__version__}"
    if sys.version_info[:2] >= MIN_PYTHON:
        return Check("python", Mark.OK, detail, required=True)
    floor = ".".join(map(str, MIN_PYTHON))
    return Check("python", Mark.FAIL, detail, f"use Python {floor} or newer (ROS 2 Humble's)", required=True)


def _ros_distro() -> str | None:
    """The sourced distro, else the one of pip-installed ``ros-<distro>-rclpy`` wheels."""
    if os.environ.get("ROS_DISTRO"):
        return os.environ["ROS_DISTRO"]
    for dist in importlib.metadata.distributions():
        match = re.fullmatch(r"ros-([a-z]+)-rclpy", dist.metadata["Name"] or "")
        if match:
            return f"{match.group(1)} (pip wheels)"
    return None


def check_rclpy() -> Check:
    distro = _ros_distro()
    where = f"ROS 2 {distro}" if distro else "no ROS 2 distro found (ROS_DISTRO unset)"
    try:
        import rclpy  # noqa: F401
    except ImportError as err:
        fix = "source /opt/ros/<distro>/setup.bash, or pip install -e '.[ros]' (the Kilted wheels)"
        return Check("ros2", Mark.FAIL, f"{where}; rclpy does not import: {err}", fix, required=True)
    version = _version("rclpy")
    return Check("ros2", Mark.OK, f"{where}; rclpy {version + ' ' if version else ''}imports", required=True)


def _rmw() -> str:
    chosen = os.environ.get("RMW_IMPLEMENTATION")
    try:
        from rclpy.utilities import get_rmw_implementation_identifier

        used = get_rmw_implementation_identifier()
    except (ImportError, RuntimeError):
        return chosen or "unset (the distro's default)"
    return used if chosen else f"{used} (RMW_IMPLEMENTATION unset: the default)"


def check_dds() -> Check:
    domain = os.environ.get("ROS_DOMAIN_ID", "")
    scope = os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE") or "unset (SUBNET)"
    if os.environ.get("ROS_LOCALHOST_ONLY") == "1":
        scope += ", ROS_LOCALHOST_ONLY=1"
    detail = f"{_rmw()}, ROS_DOMAIN_ID {domain or 'unset (0)'}, discovery range {scope}"
    if domain and not (domain.isdigit() and int(domain) <= MAX_DOMAIN_ID):
        fix = f"set ROS_DOMAIN_ID to an integer 0-{MAX_DOMAIN_ID}, the same on every machine of the robot"
        return Check("dds", Mark.FAIL, detail, fix, required=True)
    if "LOCALHOST" in scope or scope.startswith("OFF") or "LOCALHOST_ONLY" in scope:
        detail += ": other machines will not see this node"
    return Check("dds", Mark.OK, detail, required=True)


def check_tensorrt() -> Check:
    if importlib.util.find_spec("tensorrt") is None:
        fix = "only for NVIDIA GPUs: JetPack 5.1+ ships it; on x86, NVIDIA's tensorrt wheels"
        return Check("tensorrt", Mark.ABSENT, "not installed", fix)
    from asymfusion_ros.inference.tensorrt.settings import TENSORRT_FLOOR, below_floor

    try:
        import tensorrt
    except (ImportError, OSError) as err:
        return Check("tensorrt", Mark.FAIL, f"does not import: {err}", "reinstall it for this Python")
    found = getattr(tensorrt, "__version__", "?")
    too_old = below_floor(tensorrt)
    if too_old is None:
        return Check(
            "tensorrt", Mark.OK, f"TensorRT {found} (floor {TENSORRT_FLOOR})", data={"version": found}
        )
    fix = f"JetPack 5.1 or newer (TensorRT {TENSORRT_FLOOR}+); until then `auto` runs ONNX Runtime"
    return Check("tensorrt", Mark.FAIL, too_old, fix, data={"version": found})


def check_gpu() -> Check:
    from asymfusion_ros.inference.tensorrt import cuda_memory

    try:
        api = cuda_memory.cuda_api()
        gpu = api.gpu_info(0)
    except BackendError:
        fix = "only for TensorRT: the NVIDIA driver, and pycuda or cuda-python built for its CUDA"
        return Check("cuda gpu", Mark.ABSENT, "no CUDA GPU visible", fix)
    major, minor = gpu.compute_capability
    detail = f"{gpu.name} (compute {major}.{minor}), seen through {api.name}"
    return Check("cuda gpu", Mark.OK, detail, data={"name": gpu.name})


def check_onnxruntime() -> Check:
    version = _version("onnxruntime") or _version("onnxruntime-gpu")
    if importlib.util.find_spec("onnxruntime") is None:
        return Check(
            "onnxruntime", Mark.ABSENT, "not installed", "pip install onnxruntime (onnxruntime-gpu for CUDA)"
        )
    import onnxruntime as ort

    providers = ort.get_available_providers()
    detail = f"ONNX Runtime {version or ort.__version__}, providers {', '.join(providers)}"
    return Check("onnxruntime", Mark.OK, detail, data={"providers": providers})


def check_torch() -> Check:
    version = _version("torch")
    if version is None or importlib.util.find_spec("torch") is None:
        return Check(
            "torch", Mark.ABSENT, "not installed", "only to train or run .pt checkpoints: pip install torch"
        )
    return Check("torch", Mark.OK, f"PyTorch {version}")


def check_auto(model: Path) -> tuple[Check, BackendKind | None]:
    """Which backend ``auto`` picks for ``model``, and why (loader.resolve_kind, the node's rule)."""
    from asymfusion_ros.inference.loader import resolve_kind, tensorrt_unusable_reason

    try:
        kind = resolve_kind(model, BackendKind.AUTO)
    except BackendError as err:
        fix = "give a .onnx, .engine/.plan or .pt model"
        return Check("auto backend", Mark.FAIL, str(err), fix, required=True), None
    if kind is BackendKind.ONNXRUNTIME:
        why = tensorrt_unusable_reason()
        where = "CPU"
        if importlib.util.find_spec("onnxruntime") is not None:
            from asymfusion_ros.inference.onnxruntime_backend import CUDA_PROVIDER, execution_providers

            first = execution_providers()[0]
            where = "CUDA" if (first if isinstance(first, str) else first[0]) == CUDA_PROVIDER else "CPU"
        detail = f"ONNX Runtime {where} for {model.name}: TensorRT passed over, {why}"
    elif kind is BackendKind.TENSORRT:
        detail = f"TensorRT for {model.name}" + (
            ": 8.5+ imports and a CUDA GPU is visible" if model.suffix == ".onnx" else ""
        )
    else:
        detail = f"PyTorch for {model.name} (a .pt checkpoint)"
    return Check("auto backend", Mark.OK, detail, data={"backend": kind.value, "model": str(model)}), kind


def check_engine_cache(required: bool) -> Check:
    from asymfusion_ros.inference.tensorrt.engine_cache import CACHE_ENV, EngineCache

    folder = EngineCache().engines
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    writable = os.access(existing, os.W_OK | os.X_OK)
    state = "writable" if existing == folder else f"to be created, {existing} writable"
    detail = f"{folder} ({state if writable else 'not writable'})"
    if writable:
        return Check("engine cache", Mark.OK, detail, required=required)
    return Check(
        "engine cache", Mark.FAIL, detail, f"set {CACHE_ENV} to a writable folder", required=required
    )


def check_model(model: Path) -> Check:
    """Load ``model`` on ``auto`` and segment one camera-sized frame, timing both."""
    from asymfusion_ros.inference.pipeline import Segmenter

    try:
        t0 = time.perf_counter()
        segmenter = Segmenter.from_path(model, backend="auto")
        t1 = time.perf_counter()
        rgb = np.full((*CAMERA_SIZE, 3), 128, np.uint8)
        depth_m = np.full(CAMERA_SIZE, 2.0, np.float32)
        segmenter.segment(rgb, depth_m)
        t2 = time.perf_counter()
    except BackendError as err:
        return Check(
            "model", Mark.FAIL, str(err), "see the auto backend line; --model picks another", required=True
        )
    ms = {"load": round((t1 - t0) * 1e3, 1), "first_frame": round((t2 - t1) * 1e3, 1)}
    detail = (
        f"loaded in {ms['load']:.0f} ms, one {CAMERA_SIZE[1]}x{CAMERA_SIZE[0]} frame segmented in "
        f"{ms['first_frame']:.0f} ms (first run): {segmenter.describe()}"
    )
    return Check("model", Mark.OK, detail, required=True, data={"ms": ms})


def check_extra(module: str, distribution: str, purpose: str, extra: str) -> Check:
    version = _version(distribution)
    if version is None or importlib.util.find_spec(module) is None:
        return Check(distribution, Mark.ABSENT, f"not installed ({purpose})", f"pip install '.[{extra}]'")
    return Check(distribution, Mark.OK, f"{distribution} {version} ({purpose})")


def run_checks(model_name: str = "default") -> list[Check]:
    """Every check, in the order printed."""
    basics: list[Callable[[], Check]] = [check_python, check_rclpy, check_dds]
    checks = [probe() for probe in basics]
    try:
        model = resolve_model(model_name, suffixes=(".onnx", ".engine", ".plan", ".pt"))
    except ResourceError as err:
        checks.append(Check("model", Mark.FAIL, str(err), "give a model file with --model", required=True))
        model = None
    kind = None
    if model is not None:
        auto, kind = check_auto(model)
        checks.append(auto)
    checks += [check_tensorrt(), check_gpu(), check_onnxruntime(), check_torch()]
    checks.append(check_engine_cache(required=kind is BackendKind.TENSORRT))
    if model is not None and kind is not None:
        checks.append(check_model(model))
    checks.append(check_extra("rosbags", "rosbags", "asymfusion replay, make-bag", "bags"))
    checks.append(check_extra("ray", "ray", "asymfusion replay --ray", "fleet"))
    return checks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default="default",
        help="the model to try: a shipped model's name or a file (default: default)",
    )
    parser.add_argument("--json", action="store_true", help="the checks as JSON on stdout, for scripts")


def run(args: argparse.Namespace) -> int:
    checks = run_checks(args.model)
    can_run = not any(c.blocks_node for c in checks)
    if args.json:
        print(json.dumps({"node_can_run": can_run, "checks": [c.to_dict() for c in checks]}, indent=2))
    else:
        print("\n".join(c.line() for c in checks))
    if not can_run:
        failed = ", ".join(c.name for c in checks if c.blocks_node)
        print(f"error: the node cannot run here: fix {failed} (the ✗ lines)", file=sys.stderr)
        return 1
    if not args.json:
        print("the node can run here")
    return 0
