"""The core never imports rclpy: training, export and replay run on machines without ROS."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

RCLPY_MODULES = {
    "asymfusion_ros.ros.node",
    "asymfusion_ros.ros.node_core",
    "asymfusion_ros.ros.lifecycle_node",
    "asymfusion_ros.ros.diagnostics",
    "asymfusion_ros.ros.camera",
    "asymfusion_ros.ros.demo",
}
"""The ROS adapter's rclpy side; every other module must import without rclpy."""
EXCLUDED = {"asymfusion_ros.cli.__main__", "asymfusion_ros.inference.tensorrt.backend"}
"""Not importable as a library: the ``-m`` entry (runs the CLI) and ``import tensorrt`` at the top."""


def _core_modules() -> list[str]:
    """Every module of the package but those two sets."""
    import asymfusion_ros

    names = [m.name for m in pkgutil.walk_packages(asymfusion_ros.__path__, "asymfusion_ros.")]
    return [n for n in names if n not in RCLPY_MODULES | EXCLUDED]


CORE = _core_modules()


def test_core_modules_leave_rclpy_out() -> None:
    pytest.importorskip("torch")  # the walk imports the torch-only modules too
    code = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in CORE)
    code += "print(sorted(m for m in sys.modules if m.split('.')[0] in ('rclpy', 'rcl_interfaces')))"
    run = [sys.executable, "-c", code]
    result = subprocess.run(run, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", result.stdout
