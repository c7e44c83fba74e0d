"""The node's parameters: one table, declared once with descriptors, validated with a reason.

Each row names the ROS parameter, the :class:`Settings` field it fills, its default, a
description, a range or a closed set of choices, and whether it can change while the node
runs. Parameters whose change needs a restart (the model, the runtime, the subscriptions'
QoS) are declared ``read_only``, so rclpy refuses a live change with a reason; the rest are
checked in the node's on-set callback by :func:`apply`.

Only :func:`descriptor` and :func:`declare` touch rclpy (imported there), so ``replay``
can take the node's defaults from :class:`Settings` without ROS.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from asymfusion_ros.inference.base import BackendKind, Precision
from asymfusion_ros.registration import DepthRegistration
from asymfusion_ros.ros.compressed import Transport
from asymfusion_ros.ros.messages import CAMERA_INFO_SLACK, DEFAULT_MAX_INPUT_PIXELS

EXTRINSIC_SOURCES = ("tf_static", "parameter")
"""Where the depth->colour extrinsic of unregistered depth comes from (``extrinsic.source``)."""


class ParameterError(ValueError):
    """A parameter value the node cannot use; the message is the reason given to the caller."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every parameter's current value; replaced whole on a change, so readers never see half."""

    model: str = "default"
    backend: str = BackendKind.AUTO.value
    precision: str = Precision.FP16.value
    device: int = 0
    sync_queue_size: int = 10
    sync_slop: float = 0.05
    qos_reliability: str = "best_effort"
    publish_labels: bool = True
    publish_color: bool = True
    publish_overlay: bool = True
    publish_confidence: bool = True
    publish_points: bool = True
    publish_class_tags: bool = True
    points_stride: int = 2
    points_min_range: float = 0.1
    points_max_range: float = 10.0
    points_organized: bool = False
    overlay_alpha: float = 0.5
    overlay_jpeg_quality: int = 90
    tags_min_points: int = 50
    depth_scale: float = 0.001
    max_input_pixels: int = DEFAULT_MAX_INPUT_PIXELS
    rgb_transport: str = Transport.RAW.value
    depth_transport: str = Transport.RAW.value
    depth_registration: str = DepthRegistration.AUTO.value
    extrinsic_source: str = "tf_static"
    extrinsic_depth_to_colour: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
    """x y z (metres) qx qy qz qw of the depth frame in the colour frame (tf2's order)."""


class Param(NamedTuple):
    """One ROS parameter: name, description, and how its value is constrained."""

    name: str
    description: str
    read_only: bool = False
    bounds: tuple[float, float] | None = None  # inclusive range (ints or floats)
    choices: tuple[str, ...] = ()
    positive: bool = False  # strictly > 0 (a range cannot say it)

    @property
    def field(self) -> str:
        return self.name.replace(".", "_")

    @property
    def default(self) -> Any:
        return getattr(Settings(), self.field)


# fmt: off
PARAMS: tuple[Param, ...] = (
    Param("model", "model bundle: 'default', a shipped model's name, or a path (.onnx/.engine/.pt)", True),
    Param("backend", "runtime: auto picks TensorRT with a GPU, else ONNX Runtime", True,
          choices=tuple(k.value for k in BackendKind)),
    Param("precision", "TensorRT / Torch-CUDA precision (CPU runs fp32)", True,
          choices=tuple(p.value for p in Precision)),
    Param("device", "CUDA device index", True, bounds=(0, 64)),
    Param("sync.queue_size", "approximate-time sync: messages kept per input", bounds=(1, 1000)),
    Param("sync.slop", "approximate-time sync: largest stamp spread of a match, seconds (> 0)",
          bounds=(0.0, 10.0), positive=True),
    Param("qos.reliability", "subscriptions' reliability (SensorDataQoS otherwise)", True,
          choices=("best_effort", "reliable")),
    Param("publish.labels", "publish segmentation/labels (mono8, mono16 past 255 classes)"),
    Param("publish.color", "publish segmentation/color (rgb8 class colours)"),
    Param("publish.overlay", "publish segmentation/overlay (rgb8 colours over the image)"),
    Param("publish.confidence", "publish segmentation/confidence (32FC1, max softmax)"),
    Param("publish.points", "publish segmentation/points (labeled PointCloud2)"),
    Param("publish.class_tags", "publish segmentation/class_tags (MarkerArray text per class)"),
    Param("points.stride", "cloud: take every n-th pixel in both directions", bounds=(1, 64)),
    Param("points.min_range", "cloud: nearest depth kept, metres", bounds=(0.0, 100.0)),
    Param("points.max_range", "cloud: farthest depth kept, metres (> min_range)", bounds=(0.0, 100.0),
          positive=True),
    Param("points.organized", "cloud: keep the (rows, cols) image layout, invalid points NaN"),
    Param("overlay.alpha", "overlay: weight of the class colours", bounds=(0.0, 1.0)),
    Param("overlay.jpeg_quality", "segmentation/overlay/compressed: JPEG quality", bounds=(1, 100)),
    Param("tags.min_points", "class tags: points a class needs in the cloud to get a tag", bounds=(1, 10**7)),
    Param("depth_scale", "16UC1 depth: metres per unit (0.001 = millimetres)", bounds=(0.0, 1.0),
          positive=True),
    Param("max_input_pixels", "decode budget: an image whose header claims more pixels (width x height), "
          f"or more than {CAMERA_INFO_SLACK}x its camera_info's, is refused undecoded (oversized_input)",
          bounds=(1, 2**30)),
    Param("rgb_transport", "colour input: raw (rgb/image) or compressed (<rgb/image>/compressed)", True,
          choices=(Transport.RAW.value, Transport.COMPRESSED.value)),
    Param("depth_transport", "depth input: raw (depth/image) or compressedDepth "
          "(<depth/image>/compressedDepth)", True,
          choices=(Transport.RAW.value, Transport.COMPRESSED_DEPTH.value)),
    Param("depth_registration", "depth not in colour pixels: auto registers it, off refuses it, "
          "assume_registered never checks", choices=tuple(m.value for m in DepthRegistration)),
    Param("extrinsic.source", "depth->colour extrinsic for registration: tf_static or parameter "
          "(extrinsic.depth_to_colour)", choices=EXTRINSIC_SOURCES),
    Param("extrinsic.depth_to_colour", "depth frame in the colour frame: x y z (m) qx qy qz qw"),
)
# fmt: on

BY_NAME = {p.name: p for p in PARAMS}


def descriptor(param: Param) -> Any:
    """The ParameterDescriptor rclpy enforces (ranges, read-only) and tools show (description)."""
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

    desc = ParameterDescriptor(description=param.description, read_only=param.read_only)
    if param.choices:
        desc.additional_constraints = "one of: " + ", ".join(param.choices)
    elif param.positive:
        desc.additional_constraints = "> 0"
    if param.bounds is not None:
        low, high = param.bounds
        if isinstance(param.default, int) and not isinstance(param.default, bool):
            desc.integer_range = [IntegerRange(from_value=int(low), to_value=int(high), step=1)]
        else:
            desc.floating_point_range = [FloatingPointRange(from_value=float(low), to_value=float(high))]
    return desc


def check(param: Param, value: Any) -> None:
    """Raise ParameterError with the reason when ``value`` is not acceptable for ``param``."""
    expected = type(param.default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if expected is tuple:
        _check_pose(param, value)
        return
    if type(value) is not expected:
        raise ParameterError(f"{param.name} must be a {expected.__name__}, got {value!r}")
    if param.choices and value not in param.choices:
        raise ParameterError(f"{param.name} must be one of {', '.join(param.choices)}; got {value!r}")
    if param.bounds is not None and not param.bounds[0] <= value <= param.bounds[1]:
        low, high = param.bounds
        raise ParameterError(f"{param.name} must be within [{low}, {high}], got {value}")
    if param.positive and not value > 0:
        raise ParameterError(f"{param.name} must be > 0, got {value}")
    if param.name == "model" and not str(value).strip():
        raise ParameterError("model must name a model ('default', a shipped name or a path), got ''")


def _check_pose(param: Param, value: Any) -> None:
    """A translation and a quaternion: seven finite numbers, the quaternion not zero."""
    try:
        numbers = [float(v) for v in value if not isinstance(v, (bool, str))]
    except TypeError:
        numbers = []
    if len(numbers) != 7 or len(numbers) != len(value) or not all(abs(v) < float("inf") for v in numbers):
        raise ParameterError(f"{param.name} must be 7 finite numbers (x y z qx qy qz qw), got {value!r}")
    if sum(v * v for v in numbers[3:]) < 1e-12:
        raise ParameterError(f"{param.name}: the quaternion {numbers[3:]} has no direction")


def apply(current: Settings, changes: Iterable[tuple[str, Any]]) -> Settings:
    """``current`` with ``changes`` (name, value) applied; ParameterError names the first fault.

    Checks each value, then the relations between them (min_range < max_range), so a change
    of both in one call is judged on the result.
    """
    updates: dict[str, Any] = {}
    for name, value in changes:
        param = BY_NAME.get(name)
        if param is None:
            continue  # not ours (use_sim_time, qos overrides): rclpy handles those
        check(param, value)
        if isinstance(param.default, tuple):
            value = tuple(float(v) for v in value)
        updates[param.field] = float(value) if isinstance(param.default, float) else value
    result = dataclasses.replace(current, **updates)
    if result.points_min_range >= result.points_max_range:
        raise ParameterError(
            f"points.min_range ({result.points_min_range}) must be below "
            f"points.max_range ({result.points_max_range})"
        )
    return result


def declare(node: Any) -> Settings:
    """Declare every parameter on ``node`` (once) and return the checked start-up values."""
    from rclpy.exceptions import ParameterException

    try:
        declared = node.declare_parameters("", [(p.name, p.default, descriptor(p)) for p in PARAMS])
    except ParameterException as err:  # an override of the wrong type or out of range
        raise ParameterError(str(err)) from err
    return apply(Settings(), [(p.name, p.value) for p in declared])


def changed_fields(before: Settings, after: Settings) -> Sequence[str]:
    """Names of the Settings fields that differ (the node rebuilds only what they touch)."""
    return [f.name for f in dataclasses.fields(Settings) if getattr(before, f.name) != getattr(after, f.name)]
