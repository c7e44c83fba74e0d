"""The node under test and a probe node (camera + output subscribers) on one executor thread.

Real rclpy and DDS (loopback, see conftest.py): the probe publishes camera messages and
records every output by stamp; tests wait on conditions with timeouts, never fixed sleeps.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, PointCloud2
from std_msgs.msg import String
from visualization_msgs.msg import MarkerArray

from asymfusion_ros.data.sample import RGBDSample
from asymfusion_ros.ros import messages
from asymfusion_ros.ros.camera import FramePublisher
from asymfusion_ros.ros.node import SegmentationNode

OUTPUTS = {
    "labels": Image,
    "color": Image,
    "overlay": Image,
    "confidence": Image,
    "points": PointCloud2,
    "class_tags": MarkerArray,
}
KEEP = 20
"""Messages kept per output (the newest)."""
K = np.array([[60.0, 0.0, 32.0], [0.0, 60.0, 24.0], [0.0, 0.0, 1.0]])


def wall_frame(height: int = 48, width: int = 64, depth_m: float = 2.0, seed: int = 0) -> RGBDSample:
    """A textured wall facing the camera at ``depth_m`` metres."""
    rgb = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    k = K.copy()
    k[0, 2], k[1, 2] = width / 2, height / 2
    return RGBDSample(rgb, np.full((height, width), depth_m, np.float32), None, k)


class Harness:
    """One node (a SegmentationNode unless ``node_type`` says) plus a probe, in ``namespace``,
    spun by a background executor; waits for the two to connect unless ``connect`` is False
    (a lifecycle node has no topics before it is configured and activated, a node on compressed
    transports none of the raw ones). ``remap``: the node's remapping rules (from -> to)."""

    def __init__(
        self,
        context: Any,
        model: Path,
        namespace: str,
        *,
        node_type: type[Node] = SegmentationNode,
        connect: bool = True,
        remap: dict[str, str] | None = None,
        **overrides: Any,
    ) -> None:
        self.context = context
        params = [Parameter("model", value=str(model)), Parameter("backend", value="onnxruntime")]
        params += [Parameter(name, value=value) for name, value in overrides.items()]
        rules = [arg for name, to in (remap or {}).items() for arg in ("-r", f"{name}:={to}")]
        self.node: Any = node_type(
            context=context,
            namespace=namespace,
            parameter_overrides=params,
            cli_args=["--ros-args", *rules] if rules else None,
        )
        self.probe = rclpy.create_node("probe", namespace=namespace, context=context)
        self.camera = FramePublisher(self.probe)
        self.factory = messages.rclpy_factory()
        self._cond = threading.Condition()
        self.received: dict[str, dict[int, Any]] = defaultdict(dict)
        self.counts: dict[str, int] = defaultdict(int)
        self.diagnostics: list[DiagnosticArray] = []
        self.classes: list[str] = []
        for name, msg_type in OUTPUTS.items():
            self.probe.create_subscription(msg_type, f"segmentation/{name}", self._recorder(name), 10)
        latched = QoSProfile(
            depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
        )
        self.probe.create_subscription(
            String, "segmentation/classes", lambda m: self._add(self.classes, m.data), latched
        )
        self.probe.create_subscription(
            DiagnosticArray, "/diagnostics", lambda m: self._add(self.diagnostics, m), 10
        )
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.probe)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()
        if connect:
            self.wait_for(self.connected, 10.0, "probe and node to discover each other")

    def connected(self) -> bool:
        """Every output has the probe as subscriber and every camera topic the node."""
        publishers = self.node.core.publishers
        outputs = all(publishers[name].get_subscription_count() > 0 for name in OUTPUTS if name in publishers)
        return outputs and self.camera.matched()

    def _recorder(self, name: str) -> Callable[[Any], None]:
        def record(msg: Any) -> None:
            with self._cond:
                header = msg.markers[0].header if isinstance(msg, MarkerArray) else msg.header
                kept = self.received[name]
                kept[messages.stamp_to_ns(header.stamp)] = msg
                self.counts[name] += 1
                if len(kept) > KEEP:  # bounded, so a load test measures the node, not this record
                    del kept[next(iter(kept))]
                self._cond.notify_all()

        return record

    def _add(self, target: list[Any], item: Any) -> None:
        with self._cond:
            target.append(item)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Block until ``predicate()`` holds (re-checked on every message, at least every 50 ms)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
                self._cond.wait(min(left, 0.05))

    def problems(self) -> dict[str, int]:
        return {p.value: n for p, n in self.node.core.stats.snapshot().problems.items()}

    def stamp(self) -> int:
        return int(self.probe.get_clock().now().nanoseconds)

    def send(self, frame: RGBDSample, outputs: tuple[str, ...] = ("labels",), timeout: float = 10.0) -> int:
        """Publish ``frame`` (again, with a new stamp, every 0.5 s: inputs are best effort) until
        every output in ``outputs`` came back for one stamp; returns that stamp."""
        deadline = time.monotonic() + timeout
        sent: list[int] = []

        def done() -> bool:
            return any(all(s in self.received[o] for o in outputs) for s in sent)

        while time.monotonic() < deadline:
            sent.append(self.stamp())
            self.camera.publish(frame, sent[-1])
            try:
                self.wait_for(done, min(0.5, max(deadline - time.monotonic(), 0.01)), f"outputs {outputs}")
            except AssertionError:
                continue
            return next(s for s in sent if all(s in self.received[o] for o in outputs))
        raise AssertionError(f"no {outputs} within {timeout} s of publishing")

    def close(self) -> None:
        self.executor.shutdown()
        self._thread.join(timeout=5.0)
        self.node.destroy_node()
        self.probe.destroy_node()


def send_until(
    harness: Harness, make: Any, done: Any, what: str, timeout: float = 10.0, every_s: float = 0.5
) -> int:
    """Publish ``make(stamp)`` -> (rgb, depth, info) every ``every_s`` until ``done(stamp)`` holds."""
    sent: list[int] = []
    for _ in range(int(timeout / every_s)):
        sent.append(harness.stamp())
        rgb, depth, info = make(sent[-1])
        harness.camera.publish_messages(rgb=rgb, depth=depth, info=info)
        try:
            harness.wait_for(lambda: any(done(s) for s in sent), every_s, what)
        except AssertionError:
            continue
        return next(s for s in sent if done(s))
    raise AssertionError(f"timed out waiting for {what}")
