"""The core never imports rclpy: training, export and replay run on machines without ROS."""

from __future__ import annotations

import subprocess
import sys

CORE = [
    "asymfusion_ros.fusion",
    "asymfusion_ros.data",
    "asymfusion_ros.inference",
    "asymfusion_ros.inference.pipeline",
    "asymfusion_ros.geometry",
    "asymfusion_ros.metrics",
    "asymfusion_ros.replay",
    # the ROS adapter's pure parts, which replay shares with the node
    "asymfusion_ros.ros.messages",
    "asymfusion_ros.ros.frames",
    "asymfusion_ros.ros.outputs",
    "asymfusion_ros.ros.sync",
    "asymfusion_ros.ros.params",
]


def test_core_modules_leave_rclpy_out() -> None:
    code = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in CORE)
    code += "print(sorted(m for m in sys.modules if m.split('.')[0] in ('rclpy', 'rcl_interfaces')))"
    run = [sys.executable, "-c", code]
    result = subprocess.run(run, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", result.stdout
