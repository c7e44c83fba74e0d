"""``asymfusion doctor`` on this CPU machine, and with the TensorRT / CUDA probes stubbed at their
import boundary: a fake ``tensorrt`` module on sys.path and a fake CUDA binding in place of
``cuda_memory.cuda_api``, for a machine with TensorRT 10 and a GPU and one with TensorRT 8.4."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from asymfusion_ros.cli import doctor, main
from asymfusion_ros.cli.doctor import Mark
from asymfusion_ros.inference import loader
from asymfusion_ros.inference.tensorrt import cuda_memory
from asymfusion_ros.inference.tensorrt.cuda_memory import GpuInfo
from asymfusion_ros.resources import resolve_model

ORIN = GpuInfo("Orin", (8, 7), 16, 32 * 2**30)


def _doctor_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    status = main(["doctor", "--json", *args])
    return status, json.loads(capsys.readouterr().out)


def _by_name(report: dict) -> dict[str, dict]:
    return {check["name"]: check for check in report["checks"]}


def _fake_tensorrt(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, version: str, named_tensors: bool
) -> None:
    """A ``tensorrt`` package that imports: 8.5+ has ``ICudaEngine.num_io_tensors``, 8.4 does not."""
    package = tmp_path / "fake_site" / "tensorrt"
    package.mkdir(parents=True)
    attribute = "    num_io_tensors = 2\n" if named_tensors else "    pass\n"
    package.joinpath("__init__.py").write_text(
        f'__version__ = "{version}"\n\n\nclass ICudaEngine:\n{attribute}'
    )
    # Whatever `import tensorrt` leaves in sys.modules goes at teardown: setitem records that the
    # name was absent (or what it held), delitem makes the import below find the fake package.
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    monkeypatch.delitem(sys.modules, "tensorrt")
    monkeypatch.syspath_prepend(str(package.parent))


def _fake_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    api = SimpleNamespace(name="pycuda", device_count=lambda: 1, gpu_info=lambda device: ORIN)
    monkeypatch.setattr(cuda_memory, "cuda_api", lambda: api)


RCLPY_HERE = importlib.util.find_spec("rclpy") is not None


@pytest.fixture
def ros_machine() -> None:
    """The node can run only where rclpy imports (the torch-less Python 3.10 venv has none)."""
    if not RCLPY_HERE:
        pytest.skip("rclpy is not installed here: the node cannot run, doctor rightly exits 1")


@pytest.fixture
def cpu_machine(ros_machine: None) -> None:
    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("TensorRT is installed here: not the CPU machine")


def test_cpu_machine_runs_onnx_runtime_on_cpu_and_says_why(cpu_machine: None, capsys) -> None:
    status = main(["doctor"])
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert status == 0 and lines[-1] == "the node can run here"
    assert all(line[0] in "✓✗–" for line in lines[:-1])
    auto = next(line for line in lines if "auto backend" in line)
    assert "ONNX Runtime CPU" in auto and "`import tensorrt` finds no TensorRT" in auto
    tensorrt = next(line for line in lines if " tensorrt " in line)
    assert tensorrt.startswith("–") and "fix: " in tensorrt and "JetPack" in tensorrt
    model = next(line for line in lines if line.startswith("✓ model"))
    assert "640x480 frame segmented in" in model and "CPUExecutionProvider" in model


def test_json_report(cpu_machine: None, capsys) -> None:
    status, report = _doctor_json(capsys)
    checks = _by_name(report)
    assert status == 0 and report["node_can_run"] is True
    assert {"python", "ros2", "dds", "auto backend", "tensorrt", "cuda gpu", "onnxruntime", "torch"} <= set(
        checks
    )
    assert {"engine cache", "model", "rosbags", "ray"} <= set(checks)
    assert checks["auto backend"]["data"]["backend"] == "onnxruntime"
    assert checks["model"]["ok"] and checks["model"]["data"]["ms"]["first_frame"] > 0
    assert "CPUExecutionProvider" in checks["onnxruntime"]["data"]["providers"]
    assert checks["tensorrt"]["mark"] == Mark.ABSENT.value and not checks["tensorrt"]["required"]


def test_tensorrt_present_with_a_gpu(monkeypatch, tmp_path) -> None:
    _fake_tensorrt(monkeypatch, tmp_path, "10.3.0", named_tensors=True)
    _fake_gpu(monkeypatch)
    monkeypatch.setenv("ASYMFUSION_CACHE_DIR", str(tmp_path / "cache"))
    assert loader.tensorrt_unusable_reason() is None and loader.tensorrt_usable()
    tensorrt, gpu = doctor.check_tensorrt(), doctor.check_gpu()
    assert tensorrt.mark is Mark.OK and "TensorRT 10.3.0 (floor 8.5)" in tensorrt.detail
    assert gpu.mark is Mark.OK and "Orin (compute 8.7), seen through pycuda" in gpu.detail
    auto, kind = doctor.check_auto(resolve_model("default"))
    assert kind is not None and kind.value == "tensorrt" and auto.detail.startswith("TensorRT for")
    cache = doctor.check_engine_cache(required=True)
    assert cache.mark is Mark.OK and cache.required and str(tmp_path / "cache" / "engines") in cache.detail


def test_tensorrt_too_old_falls_back_to_onnx_runtime(
    ros_machine: None, monkeypatch, tmp_path, capsys
) -> None:
    _fake_tensorrt(monkeypatch, tmp_path, "8.4.3", named_tensors=False)
    _fake_gpu(monkeypatch)
    assert loader.tensorrt_unusable_reason() == "TensorRT 8.4.3 is older than the 8.5 floor"
    status, report = _doctor_json(capsys)
    checks = _by_name(report)
    assert status == 0 and report["node_can_run"] is True
    assert checks["tensorrt"]["mark"] == Mark.FAIL.value and "JetPack 5.1" in checks["tensorrt"]["fix"]
    assert checks["cuda gpu"]["ok"] and checks["auto backend"]["data"]["backend"] == "onnxruntime"
    assert (
        "TensorRT passed over, TensorRT 8.4.3 is older than the 8.5 floor" in checks["auto backend"]["detail"]
    )
    assert checks["model"]["ok"] and not checks["engine cache"]["required"]


def test_what_stops_the_node_exits_1_with_one_error_line(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setenv("ROS_DOMAIN_ID", "999")
    assert main(["doctor", "--model", str(tmp_path / "missing.onnx")]) == 1
    captured = capsys.readouterr()
    failed = ["dds", "model"] if RCLPY_HERE else ["ros2", "dds", "model"]
    assert {line.split()[1] for line in captured.out.splitlines() if line.startswith("✗")} == set(failed)
    assert "ROS_DOMAIN_ID to an integer 0-232" in captured.out
    errors = captured.err.strip().splitlines()
    assert len(errors) == 1
    assert errors[0].startswith(f"error: the node cannot run here: fix {', '.join(failed)}")
