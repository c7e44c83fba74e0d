"""The ``asymfusion`` node: synchronised RGB-D in, labels, overlay, labeled cloud and tags out.

Threads: the executor runs the subscriptions (cheap: stamp checks and synchronisation) and
the diagnostics timer; one worker thread decodes, segments and publishes the newest
synchronised frame. A frame the worker never got to is replaced by the next one and
counted as a drop, so the executor never waits on inference and latency does not grow.

Each frame goes through ``frame_pipeline.FramePipeline``, the sequence replay runs too; the
node adds QoS, threads, the choice of outputs (enabled and subscribed) and publishing.
Outputs carry the colour image's header. Depth of another size than colour is resized to
it with nearest-neighbour (no invented depths at edges); K stays the colour camera's, so
feed depth registered to colour (e.g. RealSense ``aligned_depth_to_color``).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import (
    DurabilityPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import String
from visualization_msgs.msg import MarkerArray

from asymfusion_ros.inference.errors import BackendError
from asymfusion_ros.inference.pipeline import Segmenter
from asymfusion_ros.resources import ResourceError, resolve_model
from asymfusion_ros.ros import messages, params
from asymfusion_ros.ros.diagnostics import PipelineStats, Snapshot, diagnostic_array
from asymfusion_ros.ros.frame_pipeline import OUTPUTS, FramePipeline
from asymfusion_ros.ros.problems import Problem
from asymfusion_ros.ros.sync import DEPTH, RGB, Synchronizer, create_sync

WARN_PERIOD_S = 5.0
"""Each kind of bad input is logged at most once per this many seconds (and always counted)."""

OUTPUT_QOS = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
LATCHED_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


class SyncedFrame(NamedTuple):
    """One matched colour/depth pair as received, and when it became complete (monotonic s)."""

    rgb: Image
    depth: Image
    arrived_s: float


class LatestSlot:
    """A one-item mailbox: ``put`` replaces what is waiting, ``take`` blocks until an item or close."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: SyncedFrame | None = None
        self._closed = False

    def put(self, item: SyncedFrame) -> bool:
        """Store ``item``; True when it replaced one nobody took (a dropped frame)."""
        with self._cond:
            replaced = self._item is not None
            self._item = item
            self._cond.notify()
            return replaced

    def take(self) -> SyncedFrame | None:
        """The waiting item (emptying the slot), or None once closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed)
            item, self._item = self._item, None
            return None if self._closed else item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class SegmentationNode(Node):
    """RGB-D semantic segmentation: topics, parameters and diagnostics as the README lists them."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("asymfusion", **kwargs)
        self._settings = params.declare(self)
        model_path = resolve_model(self._settings.model)
        self.segmenter = Segmenter.from_path(
            model_path,
            backend=self._settings.backend,
            precision=self._settings.precision,
            device=self._settings.device,
        )
        self.classes = self.segmenter.classes
        self._pipeline = FramePipeline(self.segmenter, messages.rclpy_factory())
        self.stats = PipelineStats()
        self._info: dict[str, str] = {
            "backend": self.segmenter.describe(),
            "model": str(model_path),
            "classes": f"{self.classes.name} ({len(self.classes)})",
        }
        self._loggers = {p: rclpy.logging.get_logger(self.get_logger().name) for p in Problem}

        types = {"points": PointCloud2, "class_tags": MarkerArray}
        self._pub = {
            name: self.create_publisher(types.get(name, Image), f"segmentation/{name}", OUTPUT_QOS)
            for name in OUTPUTS
        }
        self._classes_pub = self.create_publisher(String, "segmentation/classes", LATCHED_QOS)
        self._classes_pub.publish(String(data=self.classes.to_json()))
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._last_snapshot: Snapshot | None = None

        self._camera_info: CameraInfo | None = None
        self._last_stamp_ns: list[int | None] = [None, None]
        self._sync_lock = threading.Lock()
        self._sync = self._new_sync()
        qos = self._input_qos()
        self.create_subscription(Image, "rgb/image", lambda m: self._on_image(RGB, m), qos)
        self.create_subscription(Image, "depth/image", lambda m: self._on_image(DEPTH, m), qos)
        self.create_subscription(CameraInfo, "rgb/camera_info", self._on_camera_info, qos)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.create_timer(1.0, self._publish_diagnostics)

        self._slot = LatestSlot()
        self._worker = threading.Thread(target=self._work, name="asymfusion-worker", daemon=True)
        self._worker.start()
        self.get_logger().info(f"segmenting with {self._info['backend']} ({model_path.name})")

    # -- executor side -----------------------------------------------------------------------

    def _input_qos(self) -> QoSProfile:
        """SensorDataQoS (best effort, keep last 5), with the reliability the parameter asks."""
        reliable = self._settings.qos_reliability == "reliable"
        return QoSProfile(
            depth=qos_profile_sensor_data.depth,
            history=qos_profile_sensor_data.history,
            durability=qos_profile_sensor_data.durability,
            reliability=ReliabilityPolicy.RELIABLE if reliable else qos_profile_sensor_data.reliability,
        )

    def _new_sync(self) -> Synchronizer:
        return create_sync(2, self._settings.sync_queue_size, self._settings.sync_slop, self._on_synced)

    def _on_image(self, index: int, msg: Image) -> None:
        stamp_ns = messages.stamp_to_ns(msg.header.stamp)
        with self._sync_lock:
            last = self._last_stamp_ns[index]
            if last is not None and stamp_ns < last:
                # A bag that loops or a restarted clock: stale items could never match again.
                self._sync = self._new_sync()
                self._last_stamp_ns = [None, None]
                self._problem(
                    Problem.CLOCK_JUMP, f"stamp went back {(last - stamp_ns) / 1e9:.3f} s; sync reset"
                )
            self._last_stamp_ns[index] = stamp_ns
            sync = self._sync
        sync.add(index, stamp_ns, msg)

    def _on_synced(self, rgb: Image, depth: Image) -> None:
        replaced = self._slot.put(SyncedFrame(rgb, depth, time.monotonic()))
        self.stats.frame_in(replaced)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg

    def _on_set_parameters(self, changes: list[Parameter]) -> SetParametersResult:
        try:
            updated = params.apply(self._settings, [(p.name, p.value) for p in changes])
        except params.ParameterError as err:
            return SetParametersResult(successful=False, reason=str(err))
        changed = params.changed_fields(self._settings, updated)
        self._settings = updated
        if {"sync_queue_size", "sync_slop"} & set(changed):
            with self._sync_lock:
                self._sync = self._new_sync()
        return SetParametersResult(successful=True)

    def _publish_diagnostics(self) -> None:
        snap = self.stats.snapshot()
        stamp = self.get_clock().now().to_msg()
        array = diagnostic_array(stamp, f"{self.get_name()}: segmentation", self.get_fully_qualified_name(),
                                 snap, self._last_snapshot, self._info)  # fmt: skip
        self._diag_pub.publish(array)
        self._last_snapshot = snap

    def _problem(self, problem: Problem, detail: str) -> None:
        """Count a bad input and warn, at most once per WARN_PERIOD_S for each kind."""
        count = self.stats.problem(problem)
        self._loggers[problem].warning(
            f"{problem.value} (#{count}): {detail}", throttle_duration_sec=WARN_PERIOD_S
        )

    # -- worker side -------------------------------------------------------------------------

    def _work(self) -> None:
        while (frame := self._slot.take()) is not None:
            try:
                self._process(frame)
                continue
            except messages.MessageError as err:  # an undecodable input (frame_pipeline.InputError)
                self._problem(err.problem, str(err))
            except BackendError as err:
                self._problem(Problem.INFERENCE_ERROR, str(err))
            except Exception as err:  # the worker must outlive any one frame
                self._problem(Problem.INFERENCE_ERROR, f"{type(err).__name__}: {err}")
            self.stats.frame_failed()

    def _process(self, frame: SyncedFrame) -> None:
        settings = self._settings
        # An output is computed only when enabled and somebody subscribes to it.
        wanted = {
            name
            for name, pub in self._pub.items()
            if getattr(settings, f"publish_{name}") and pub.get_subscription_count() > 0
        }
        if not wanted:
            self.stats.frame_skipped()
            return
        done = self._pipeline.process(frame.rgb, frame.depth, self._camera_info, settings, wanted)
        for problem in done.problems:
            self._problem(problem.problem, problem.detail)
        for name, msg in done.messages.items():
            self._pub[name].publish(msg)
        inference_ms = float(sum(done.segmentation.timings_ms.values()))
        self.stats.frame_out((time.monotonic() - frame.arrived_s) * 1e3, inference_ms)

    def destroy_node(self) -> None:
        self._slot.close()
        self._worker.join(timeout=10.0)
        super().destroy_node()


def main(args: Sequence[str] | None = None) -> int:
    """Console script ``asymfusion_node`` (``ros2 run asymfusion_ros asymfusion_node``)."""
    rclpy.init(args=None if args is None else list(args))
    node: SegmentationNode | None = None
    try:
        node = SegmentationNode()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (params.ParameterError, ResourceError, BackendError) as err:
        rclpy.logging.get_logger("asymfusion").fatal(f"cannot start: {err}")
        return 1
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
