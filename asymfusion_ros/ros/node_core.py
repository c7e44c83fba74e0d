"""The segmentation node's work, in lifecycle steps, shared by the plain and the lifecycle node.

:class:`SegmentationCore` is attached to one rclpy node and does, step by step, what a
managed node's transitions ask: construction declares the parameters; :meth:`configure`
loads the model (a TensorRT build happens here) and creates the publishers;
:meth:`activate` subscribes and starts the worker and the diagnostics timer;
:meth:`deactivate` stops them, keeping the model; :meth:`cleanup` frees the model and the
publishers. ``node.SegmentationNode`` runs configure and activate at construction;
``lifecycle_node.SegmentationLifecycleNode`` runs each on its transition.

Threads: the executor runs the subscriptions (cheap: stamp checks and synchronisation) and
the diagnostics timer; one worker thread decodes, segments and publishes the newest
synchronised frame. A frame the worker never got to is replaced by the next one and
counted as a drop, so the executor never waits on inference and latency does not grow.

Each frame goes through ``frame_pipeline.FramePipeline``, the sequence replay runs too; the
core adds QoS, threads, the choice of outputs (enabled and subscribed) and publishing.
Outputs carry the colour image's header.

Inputs: ``rgb/image`` and ``depth/image`` as ``sensor_msgs/Image``, or with ``rgb_transport:
compressed`` / ``depth_transport: compressedDepth`` the CompressedImage topics image_transport
publishes beside them (``<resolved base topic>/<transport>``), decoded on the worker thread.
Depth in colour pixels is resized to the colour size (nearest neighbour); depth of another
camera (``depth/camera_info`` and the header frames say so) is registered with the extrinsic
from ``/tf_static`` or ``extrinsic.depth_to_colour``, as ``depth_registration`` says.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import (
    DurabilityPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import String
from visualization_msgs.msg import MarkerArray

from asymfusion_ros.inference.errors import BackendError
from asymfusion_ros.inference.pipeline import Segmenter
from asymfusion_ros.resources import ResourceError, resolve_model
from asymfusion_ros.ros import messages, outputs, params
from asymfusion_ros.ros.compressed import Transport, transport_topic
from asymfusion_ros.ros.depth_input import DepthCamera, extrinsic_from_pose
from asymfusion_ros.ros.diagnostics import PipelineStats, Snapshot, diagnostic_array
from asymfusion_ros.ros.frame_pipeline import NODE_OUTPUTS, FramePipeline
from asymfusion_ros.ros.problems import Problem
from asymfusion_ros.ros.sync import DEPTH, RGB, Synchronizer, create_sync
from asymfusion_ros.ros.transforms import TransformError, TransformTree

NODE_NAME = "asymfusion"

WARN_PERIOD_S = 5.0
"""Each kind of bad input is logged at most once per this many seconds (and always counted)."""

OUTPUT_QOS = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
LATCHED_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
TF_STATIC_QOS = QoSProfile(
    depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
"""tf2's static broadcaster QoS: every static transform sent before the node started still arrives."""
OUTPUT_TYPES: dict[str, Any] = {name: Image for name in NODE_OUTPUTS} | {
    "points": PointCloud2,
    "class_tags": MarkerArray,
    outputs.COMPRESSED_OVERLAY: CompressedImage,
}


class SyncedFrame(NamedTuple):
    """One matched colour/depth pair as received (Image or CompressedImage), and when it became
    complete (monotonic s)."""

    rgb: Image | CompressedImage
    depth: Image | CompressedImage
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


class _Active(NamedTuple):
    """What exists only while the node is active: inputs, timer, worker and its mailbox."""

    subscriptions: list[Any]
    timer: Any
    slot: LatestSlot
    worker: threading.Thread


class SegmentationCore:
    """RGB-D semantic segmentation on ``node``: topics, parameters and diagnostics as docs/node.md lists.

    A lifecycle node's publishers are managed (silent unless active); a plain node's are not.
    """

    def __init__(self, node: Node) -> None:
        self.node = node
        self.settings = params.declare(node)
        node.add_on_set_parameters_callback(self._on_set_parameters)
        self.stats = PipelineStats()
        self.segmenter: Segmenter | None = None
        self.info: dict[str, str] = {}
        self.publishers: dict[str, Any] = {}
        self._pipeline: FramePipeline | None = None
        self._classes_pub: Any = None
        self._diag_pub: Any = None
        self._last_snapshot: Snapshot | None = None
        self._loggers = {p: rclpy.logging.get_logger(node.get_logger().name) for p in Problem}
        self._camera_info: CameraInfo | None = None
        self._depth_info: CameraInfo | None = None
        self._tf_static = TransformTree()
        self._last_stamp_ns: list[int | None] = [None, None]
        self._sync_lock = threading.Lock()
        self._sync: Synchronizer | None = None
        self._active: _Active | None = None

    # -- lifecycle steps -----------------------------------------------------------------------

    def configure(self) -> None:
        """Load the model and create the publishers; raises ResourceError, BackendError."""
        settings = self.settings
        model_path = resolve_model(settings.model)
        segmenter = Segmenter.from_path(
            model_path, backend=settings.backend, precision=settings.precision, device=settings.device
        )
        self.segmenter = segmenter
        self._pipeline = FramePipeline(segmenter, messages.rclpy_factory())
        self.info = {
            "backend": segmenter.describe(),
            "model": str(model_path),
            "classes": f"{segmenter.classes.name} ({len(segmenter.classes)})",
        }
        self.publishers = {
            name: self._publisher(OUTPUT_TYPES[name], f"segmentation/{name}", OUTPUT_QOS)
            for name in NODE_OUTPUTS
        }
        self._classes_pub = self._publisher(String, "segmentation/classes", LATCHED_QOS)
        self._diag_pub = self._publisher(DiagnosticArray, "/diagnostics", 10)
        self.node.get_logger().info(f"segmenting with {self.info['backend']} ({model_path.name})")

    def activate(self) -> None:
        """Publish the class set, subscribe to the inputs, start the worker and the diagnostics."""
        if self.segmenter is None or self._pipeline is None:
            raise RuntimeError("activate() before configure()")
        self._classes_pub.publish(String(data=self.segmenter.classes.to_json()))
        with self._sync_lock:
            self._sync = self._new_sync()
            self._last_stamp_ns = [None, None]
        qos = self._input_qos()
        node = self.node
        subscriptions = [
            self._image_subscription(RGB, "rgb/image", Transport(self.settings.rgb_transport), qos),
            self._image_subscription(DEPTH, "depth/image", Transport(self.settings.depth_transport), qos),
            node.create_subscription(CameraInfo, "rgb/camera_info", self._on_camera_info, qos),
            node.create_subscription(CameraInfo, "depth/camera_info", self._on_depth_info, qos),
        ]
        try:
            from tf2_msgs.msg import TFMessage  # on every ROS install; absent from the pip wheels
        except ImportError:
            node.get_logger().info(
                "tf2_msgs not importable: /tf_static not read (extrinsic.source:=parameter)"
            )
        else:
            subscriptions.append(node.create_subscription(TFMessage, "/tf_static", self._on_tf_static,
                                                          TF_STATIC_QOS))  # fmt: skip
        timer = node.create_timer(1.0, self._publish_diagnostics)
        slot = LatestSlot()
        worker = threading.Thread(
            target=self._work, args=(slot, self._pipeline), name="asymfusion-worker", daemon=True
        )
        self._active = _Active(subscriptions, timer, slot, worker)
        worker.start()

    def deactivate(self) -> None:
        """Unsubscribe and stop the worker (after its current frame); the model stays loaded."""
        active, self._active = self._active, None
        if active is None:
            return
        for subscription in active.subscriptions:
            self.node.destroy_subscription(subscription)
        self.node.destroy_timer(active.timer)
        active.slot.close()
        active.worker.join(timeout=10.0)
        with self._sync_lock:
            self._sync = None

    def cleanup(self) -> None:
        """Free the model and destroy the publishers (back to a freshly constructed core)."""
        self.deactivate()
        for publisher in [*self.publishers.values(), self._classes_pub, self._diag_pub]:
            if publisher is None:
                continue
            if isinstance(self.node, LifecycleNode):
                self.node.destroy_lifecycle_publisher(publisher)
            else:
                self.node.destroy_publisher(publisher)
        self.publishers, self._classes_pub, self._diag_pub = {}, None, None
        self.segmenter, self._pipeline, self._camera_info, self._depth_info = None, None, None, None

    def _image_subscription(self, index: int, name: str, transport: Transport, qos: QoSProfile) -> Any:
        """``name`` (remappable) for raw images, else image_transport's ``<resolved name>/<transport>``."""
        if transport is Transport.RAW:
            return self.node.create_subscription(Image, name, lambda m: self._on_image(index, m), qos)
        topic = transport_topic(self.node.resolve_topic_name(name), transport)
        return self.node.create_subscription(CompressedImage, topic, lambda m: self._on_image(index, m), qos)

    def _publisher(self, msg_type: Any, topic: str, qos: QoSProfile | int) -> Any:
        if isinstance(self.node, LifecycleNode):
            return self.node.create_lifecycle_publisher(msg_type, topic, qos)
        return self.node.create_publisher(msg_type, topic, qos)

    # -- executor side -----------------------------------------------------------------------

    def _input_qos(self) -> QoSProfile:
        """SensorDataQoS (best effort, keep last 5), with the reliability the parameter asks."""
        reliable = self.settings.qos_reliability == "reliable"
        return QoSProfile(
            depth=qos_profile_sensor_data.depth,
            history=qos_profile_sensor_data.history,
            durability=qos_profile_sensor_data.durability,
            reliability=ReliabilityPolicy.RELIABLE if reliable else qos_profile_sensor_data.reliability,
        )

    def _new_sync(self) -> Synchronizer:
        return create_sync(2, self.settings.sync_queue_size, self.settings.sync_slop, self._on_synced)

    def _on_image(self, index: int, msg: Image | CompressedImage) -> None:
        stamp_ns = messages.stamp_to_ns(msg.header.stamp)
        with self._sync_lock:
            if self._sync is None:  # a message delivered while deactivating
                return
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

    def _on_synced(self, rgb: Image | CompressedImage, depth: Image | CompressedImage) -> None:
        active = self._active
        if active is not None:
            replaced = active.slot.put(SyncedFrame(rgb, depth, time.monotonic()))
            self.stats.frame_in(replaced)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg

    def _on_depth_info(self, msg: CameraInfo) -> None:
        self._depth_info = msg

    def _on_tf_static(self, msg: Any) -> None:
        try:
            for stamped in msg.transforms:
                self._tf_static.add(stamped)
        except TransformError as err:  # an edge that joins nothing, a quaternion of length 0
            self._problem(Problem.BAD_MESSAGE, f"/tf_static: {err}")

    def _depth_camera(self, settings: params.Settings) -> DepthCamera:
        """The depth camera_info and the extrinsic source ``extrinsic.source`` names."""
        if settings.extrinsic_source == "parameter":
            return DepthCamera(self._depth_info, extrinsic_from_pose(settings.extrinsic_depth_to_colour))
        return DepthCamera(self._depth_info, self._tf_static.lookup)

    def _on_set_parameters(self, changes: list[Parameter]) -> SetParametersResult:
        try:
            updated = params.apply(self.settings, [(p.name, p.value) for p in changes])
        except params.ParameterError as err:
            return SetParametersResult(successful=False, reason=str(err))
        changed = params.changed_fields(self.settings, updated)
        self.settings = updated
        if {"sync_queue_size", "sync_slop"} & set(changed):
            with self._sync_lock:
                if self._sync is not None:
                    self._sync = self._new_sync()
        return SetParametersResult(successful=True)

    def _publish_diagnostics(self) -> None:
        snap = self.stats.snapshot()
        node = self.node
        stamp = node.get_clock().now().to_msg()
        array = diagnostic_array(stamp, f"{node.get_name()}: segmentation", node.get_fully_qualified_name(),
                                 snap, self._last_snapshot, self.info)  # fmt: skip
        self._diag_pub.publish(array)
        self._last_snapshot = snap

    def _problem(self, problem: Problem, detail: str) -> None:
        """Count a bad input and warn, at most once per WARN_PERIOD_S for each kind."""
        count = self.stats.problem(problem)
        self._loggers[problem].warning(
            f"{problem.value} (#{count}): {detail}", throttle_duration_sec=WARN_PERIOD_S
        )

    # -- worker side -------------------------------------------------------------------------

    def _work(self, slot: LatestSlot, pipeline: FramePipeline) -> None:
        while (frame := slot.take()) is not None:
            try:
                self._process(pipeline, frame)
                continue
            except messages.MessageError as err:  # an undecodable input (frame_pipeline.InputError)
                self._problem(err.problem, str(err))
            except BackendError as err:
                self._problem(Problem.INFERENCE_ERROR, str(err))
            except Exception as err:  # the worker must outlive any one frame
                self._problem(Problem.INFERENCE_ERROR, f"{type(err).__name__}: {err}")
            self.stats.frame_failed()

    def _process(self, pipeline: FramePipeline, frame: SyncedFrame) -> None:
        settings = self.settings
        # An output is computed only when enabled and somebody subscribes to it.
        wanted = {
            name
            for name, pub in self.publishers.items()
            if getattr(settings, f"publish_{outputs.toggle(name)}") and pub.get_subscription_count() > 0
        }
        if not wanted:
            self.stats.frame_skipped()
            return
        done = pipeline.process(frame.rgb, frame.depth, self._camera_info, settings, wanted,
                                depth_camera=self._depth_camera(settings))  # fmt: skip
        for problem in done.problems:
            self._problem(problem.problem, problem.detail)
        for name, msg in done.messages.items():
            self.publishers[name].publish(msg)
        inference_ms = float(sum(done.segmentation.timings_ms.values()))
        self.stats.frame_out((time.monotonic() - frame.arrived_s) * 1e3, inference_ms, done.timings_ms)


def spin(make_node: Callable[[], Node]) -> int:
    """Run the node ``make_node`` builds until Ctrl-C or shutdown; 1 when it cannot start.

    The console scripts of both node classes: the node is destroyed (worker stopped) and
    rclpy shut down in ``finally``.
    """
    node: Node | None = None
    try:
        node = make_node()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (params.ParameterError, ResourceError, BackendError) as err:
        rclpy.logging.get_logger(NODE_NAME).fatal(f"cannot start: {err}")
        return 1
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
