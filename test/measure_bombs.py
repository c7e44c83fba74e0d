"""The decompression-bomb measurement of docs/robot_inputs.md (a script, not a test).

``python test/measure_bombs.py bags OUT``: ``OUT/compressed`` and ``OUT/raw``, the two real
NYUv2 frames (640x480, ../shared/nyuv2_sample) with a bomb of every kind between each two
good frames (test/bombs.py). ``python test/measure_bombs.py node BAG [SECONDS]``: starts the
node (``asymfusion_node``, ONNX Runtime, the shipped model) on the bag's transport, publishes
the good frames, then the whole bag, then the good frames again, each for SECONDS at 5 Hz, with
every output subscribed; prints the node's RSS in each phase and its /diagnostics counters.
Needs ROS_DOMAIN_ID and ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST set by the caller.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from bombs import DEPTH_TOPIC, INFO_TOPIC, RGB_TOPIC, write_bomb_bag

from asymfusion_ros.bags import BagReader

SAMPLE = Path(__file__).resolve().parent.parent.parent / "shared" / "nyuv2_sample"
NYU_K = np.array([[518.8579, 0.0, 325.5824], [0.0, 519.4696, 253.7362], [0.0, 0.0, 1.0]])


def write_bags(out: Path) -> None:
    frames = []
    for name in sorted((SAMPLE / "rgb").glob("*.png")):
        rgb = np.ascontiguousarray(cv2.imread(str(name))[..., ::-1])
        depth = cv2.imread(str(SAMPLE / "depth" / name.name), cv2.IMREAD_UNCHANGED)
        depth_mm = (depth // 5).astype(np.uint16)  # the sample's units are 1/5 mm (its README)
        frames.append((rgb, depth_mm))
    for transport in ("compressed", "raw"):
        good, bombs = write_bomb_bag(out / transport, transport, frames, NYU_K)
        print(f"{out / transport}: {good} good frames, {bombs} bombs")


def measure_node(bag: Path, seconds: float) -> None:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
    from visualization_msgs.msg import MarkerArray

    types = {"sensor_msgs/msg/Image": Image, "sensor_msgs/msg/CompressedImage": CompressedImage,
             "sensor_msgs/msg/CameraInfo": CameraInfo}  # fmt: skip
    with BagReader(bag) as reader:
        recorded = [(m.topic, deserialize_message(m.raw, types[m.msgtype])) for m in reader.messages()]
    compressed = any(topic.endswith("/compressed") for topic, _ in recorded)
    transports = ("compressed", "compressedDepth") if compressed else ("raw", "raw")
    params = {"backend": "onnxruntime", "qos.reliability": "reliable", "rgb_transport": transports[0],
              "depth_transport": transports[1]}  # fmt: skip
    remaps = {"rgb/image": RGB_TOPIC, "depth/image": DEPTH_TOPIC, "rgb/camera_info": INFO_TOPIC}
    args = [f"{sys.prefix}/bin/asymfusion_node", "--ros-args"]
    args += [arg for name, value in params.items() for arg in ("-p", f"{name}:={value}")]
    args += [arg for name, topic in remaps.items() for arg in ("-r", f"{name}:={topic}")]
    node = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)

    def rss_mb() -> float:
        status = Path(f"/proc/{node.pid}/status").read_text()
        return next(int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmRSS:"))

    rclpy.init()
    probe = rclpy.create_node("bomb_probe")
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    publishers = {topic: probe.create_publisher(type(msg), topic, qos) for topic, msg in recorded}
    counters: dict[str, str] = {}

    def on_diagnostics(array: Any) -> None:
        counters.update({value.key: value.value for value in array.status[0].values})

    probe.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
    outputs = {"labels": Image, "color": Image, "overlay": Image, "confidence": Image, "points": PointCloud2,
               "class_tags": MarkerArray}  # fmt: skip
    for name, kind in outputs.items():  # every output wanted: nothing is skipped for want of a subscriber
        probe.create_subscription(kind, f"/segmentation/{name}", lambda _: None, 10)
    threading.Thread(target=rclpy.spin, args=(probe,), daemon=True).start()
    while not all(p.get_subscription_count() for p in publishers.values()):
        time.sleep(0.2)

    frames = [recorded[i : i + 3] for i in range(0, len(recorded), 3)]  # camera_info, depth, colour
    good = frames[0::2]

    def play(which: list[list[tuple[str, Any]]], duration_s: float) -> list[float]:
        samples, end, i = [], time.monotonic() + duration_s, 0
        while time.monotonic() < end:
            stamp = probe.get_clock().now().to_msg()
            for topic, msg in which[i % len(which)]:
                msg.header.stamp = stamp
                publishers[topic].publish(msg)
            i += 1
            time.sleep(0.2)
            samples.append(rss_mb())
        return samples

    try:
        play(good, 10.0)  # warm-up: model, DDS, allocator
        steady, during, after = play(good, seconds), play(frames, seconds), play(good, seconds)
        time.sleep(2.5)  # the last /diagnostics

        def settled(samples: list[float]) -> float:
            return statistics.median(samples[len(samples) // 2 :])

        print(f"node RSS: steady {settled(steady):.0f} MB, peak with bombs {max(during):.0f} MB, "
              f"after {settled(after):.0f} MB (medians of each phase's second half)")  # fmt: skip
        keys = ("frames_in", "frames_out", "drops", "skipped_unsubscribed", "failed", "in_flight",
                "oversized_input", "decode_error", "inference_error")  # fmt: skip
        print({key: counters.get(key) for key in keys})
    finally:
        node.terminate()
        log = node.communicate(timeout=30)[1]
        rclpy.try_shutdown()
    print("\n".join(line for line in log.splitlines() if "oversized_input" in line))


if __name__ == "__main__":
    if sys.argv[1] == "bags":
        write_bags(Path(sys.argv[2]))
    else:
        measure_node(Path(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 20.0)
