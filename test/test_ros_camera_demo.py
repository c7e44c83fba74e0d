"""``asymfusion camera`` and ``asymfusion demo`` as a user runs them (subprocesses, real DDS)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from asymfusion_ros.ros import messages  # noqa: E402
from asymfusion_ros.ros.camera import folder_frames  # noqa: E402

pytestmark = pytest.mark.ros


def test_folder_frames_convert_depth_units(nyu_sample: Path) -> None:
    (frame, *_) = folder_frames(nyu_sample, (240, 320), depth_scale=1 / 5000)
    assert frame.rgb.shape == (240, 320, 3) and frame.depth_m.shape == (240, 320)
    valid = frame.depth_m[frame.depth_m > 0]
    assert 0.5 < float(np.median(valid)) < 6.0  # an indoor room, in metres
    assert frame.K[0, 0] == pytest.approx(518.8579 / 2)


@pytest.fixture()
def listener() -> Iterator[tuple[Any, dict[str, list[Any]], threading.Condition]]:
    from sensor_msgs.msg import CameraInfo, Image

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("camera_listener", namespace="/camera_test", context=ctx)
    got: dict[str, list[Any]] = {"rgb": [], "depth": [], "info": []}
    cond = threading.Condition()

    def keep(name: str) -> Any:
        def callback(msg: Any) -> None:
            with cond:
                got[name].append(msg)
                cond.notify_all()

        return callback

    node.create_subscription(Image, "rgb/image", keep("rgb"), 10)
    node.create_subscription(Image, "depth/image", keep("depth"), 10)
    node.create_subscription(CameraInfo, "rgb/camera_info", keep("info"), 10)
    executor = rclpy.executors.SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    yield node, got, cond
    executor.shutdown()
    thread.join(timeout=5)
    node.destroy_node()
    rclpy.shutdown(context=ctx)


def test_camera_publishes_a_driver_like_stream(listener: Any) -> None:
    _, got, cond = listener
    args = "camera --synthetic --size 160x128 --rate 20 --loop 2 --frame-id cam_optical"
    args += " --ros-args -r __ns:=/camera_test"
    command = [sys.executable, "-m", "asymfusion_ros.cli", *args.split()]
    process = subprocess.Popen(
        command, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        with cond:
            assert cond.wait_for(lambda: min(len(v) for v in got.values()) >= 3, timeout=30), got
    finally:
        process.terminate()
        process.wait(timeout=10)
    rgb, depth, info = got["rgb"][-1], got["depth"][-1], got["info"][-1]
    assert (rgb.encoding, depth.encoding) == ("rgb8", "16UC1")
    assert (rgb.height, rgb.width, info.height, info.width) == (128, 160, 128, 160)
    assert rgb.header.frame_id == depth.header.frame_id == info.header.frame_id == "cam_optical"
    stamps = {messages.stamp_to_ns(m.header.stamp) for m in got["rgb"]}
    assert stamps & {messages.stamp_to_ns(m.header.stamp) for m in got["depth"]}  # same stamp per frame
    assert messages.camera_info_to_k(info)[0, 0] > 0
    # 160x128, not smaller: the NYUv2 frame border and the holes at depth edges would leave
    # fewer than half the pixels of an 80x64 frame with depth, and the median at 0.
    assert 0.3 < float(np.median(messages.image_to_depth_m(depth))) < 10.0


def test_demo_writes_figures_and_snapshots(tiny_onnx: Path, tmp_path: Path) -> None:
    out = tmp_path / "demo_out"
    args = f"demo --seconds 3 --out {out} --model {tiny_onnx} --backend onnxruntime --size 128x96 --loop 3"
    command = [sys.executable, "-m", "asymfusion_ros.cli", *args.split()]
    started = time.monotonic()
    result = subprocess.run(
        command, env=dict(os.environ), capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "fps" in result.stdout and "dropped" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_out"] > 0 and summary["fps"] > 0 and summary["latency_p50_ms"] > 0
    # Every frame is accounted for; one may still be pending and one in the worker when the
    # last /diagnostics went out (seen under load: 41 in, 16 out, 24 dropped, 1 in flight).
    assert 0 <= summary["in_flight"] <= 2
    assert summary["frames_in"] == (
        summary["frames_out"] + summary["drops"] + summary["failed"] + summary["in_flight"]
    )
    assert summary["node_exit_code"] == 0  # SIGINT: the node's try/finally shut it down cleanly
    for name, shape in (("overlay.png", (96, 128, 3)), ("labels.png", (96, 128, 3)), ("cloud.png", None)):
        image = cv2.imread(str(out / name))
        assert image is not None and (shape is None or image.shape == shape), name
    assert time.monotonic() - started < 60
