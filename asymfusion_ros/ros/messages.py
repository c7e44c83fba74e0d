"""Stateless conversions between ROS messages and numpy arrays (REP 118 encodings).

Readers are duck-typed: they read only field names (``height``, ``width``, ``encoding``,
``step``, ``is_bigendian``, ``data``), so rclpy messages and rosbags message objects both
work. Builders take a :class:`MessageFactory`, which makes messages of one library (rclpy's
generated classes, or a rosbags typestore), so the node and ``replay`` share this code.
No rclpy import here: replay runs without ROS.

Encodings are dispatched through tables (like depth_image_proc's ``DepthTraits``): adding
one is one table row, not a new branch.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from asymfusion_ros.classes import ClassSet
from asymfusion_ros.geometry import POINT_DTYPE, ClassTag
from asymfusion_ros.ros.problems import Problem


class MessageError(ValueError):
    """A message that cannot be converted; ``problem`` is the fault it counts as."""

    problem: Problem = Problem.BAD_MESSAGE


class EncodingError(MessageError):
    """An image encoding this reader does not handle."""

    problem = Problem.UNSUPPORTED_ENCODING


class TruncatedError(MessageError):
    """``step * height`` (or ``width * pixel size``) is more than the data holds."""

    problem = Problem.TRUNCATED_DATA


class EmptyImageError(MessageError):
    """An image with zero width or height."""

    problem = Problem.EMPTY_IMAGE


class OversizedInputError(MessageError):
    """An image that claims more pixels than the decode budget: refused before any is decoded."""

    problem = Problem.OVERSIZED_INPUT


DEFAULT_MAX_INPUT_PIXELS = 4096 * 4096
"""The decode budget unless the caller gives one (the node's ``max_input_pixels``): about 50 MB
of decoded RGB, 4x a 1920x1080 frame."""

CAMERA_INFO_SLACK = 4
"""An image may claim at most this many times the pixels of its camera_info (2x each side)."""


def check_pixels(width: int, height: int, max_pixels: int, what: str) -> None:
    """Raise OversizedInputError when ``width`` x ``height`` (as a header claims it) is over ``max_pixels``.

    Called with the claim, before anything is allocated for the pixels: a message of a few
    bytes must not cost gigabytes.
    """
    if width * height > max_pixels:
        raise OversizedInputError(
            f"{what} claims {width}x{height} = {width * height / 1e6:.1f} Mpx, "
            f"over the decode budget of {max_pixels / 1e6:.1f} Mpx "
            f"(max_input_pixels, or {CAMERA_INFO_SLACK}x the camera_info)"
        )


class _Layout(NamedTuple):
    """How one encoding stores a pixel: numpy dtype of a channel and channels per pixel."""

    dtype: np.dtype
    channels: int


# Colour encodings -> (layout, conversion of the (H, W, C) array to RGB uint8).
_COLOR: dict[str, tuple[_Layout, Callable[[np.ndarray], np.ndarray]]] = {
    "rgb8": (_Layout(np.dtype(np.uint8), 3), lambda a: a),
    "bgr8": (_Layout(np.dtype(np.uint8), 3), lambda a: a[..., ::-1]),
    "rgba8": (_Layout(np.dtype(np.uint8), 4), lambda a: a[..., :3]),
    "bgra8": (_Layout(np.dtype(np.uint8), 4), lambda a: a[..., 2::-1]),
    "mono8": (_Layout(np.dtype(np.uint8), 1), lambda a: np.repeat(a, 3, axis=2)),
}

# Depth encodings -> (layout, whether the depth_scale parameter applies). 16UC1 holds integer
# units of depth_scale metres (millimetres for most drivers), 32FC1 holds metres (REP 118).
_DEPTH: dict[str, tuple[_Layout, bool]] = {
    "16UC1": (_Layout(np.dtype(np.uint16), 1), True),
    "mono16": (_Layout(np.dtype(np.uint16), 1), True),
    "32FC1": (_Layout(np.dtype(np.float32), 1), False),
}

# Label encodings (class ids, 255 = void for NYU40) -> layout; ids are kept as they are.
_LABELS: dict[str, _Layout] = {
    "mono8": _Layout(np.dtype(np.uint8), 1),
    "mono16": _Layout(np.dtype(np.uint16), 1),
}

COLOR_ENCODINGS = tuple(_COLOR)
DEPTH_ENCODINGS = tuple(_DEPTH)
LABEL_ENCODINGS = tuple(_LABELS)


def byte_array(data: Any) -> np.ndarray:
    """The message's byte payload as a flat uint8 array, without a copy where possible."""
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8)
    if isinstance(data, (bytes, bytearray, memoryview)) or hasattr(data, "buffer_info"):
        return np.frombuffer(data, dtype=np.uint8)
    return np.asarray(data, dtype=np.uint8)


def _pixels(msg: Any, layout: _Layout, max_pixels: int = DEFAULT_MAX_INPUT_PIXELS) -> np.ndarray:
    """(H, W, C) view of an image message's rows, honouring ``step`` padding and endianness.

    The claimed size is checked against ``max_pixels`` first: the conversions that follow
    (padding dropped, grey to RGB, integers to float metres) copy the image.
    """
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise EmptyImageError(f"{msg.encoding} image is empty ({width}x{height})")
    check_pixels(width, height, max_pixels, f"{msg.encoding} image")
    row_bytes = width * layout.channels * layout.dtype.itemsize
    if step < row_bytes:
        raise TruncatedError(f"{msg.encoding} image {width}x{height}: step {step} < row size {row_bytes}")
    data = byte_array(msg.data)
    if data.size < step * (height - 1) + row_bytes:
        raise TruncatedError(
            f"{msg.encoding} image {width}x{height}, step {step}: "
            f"needs {step * height} bytes, has {data.size}"
        )
    if step == row_bytes:
        rows = data[: height * step].reshape(height, row_bytes)  # a view of the message buffer
    else:  # padded rows: one copy that drops the padding
        rows = np.ascontiguousarray(
            np.lib.stride_tricks.as_strided(data, shape=(height, row_bytes), strides=(step, 1))
        )
    dtype = layout.dtype
    if dtype.itemsize > 1:
        dtype = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    return rows.view(dtype).reshape(height, width, layout.channels)


def image_to_rgb(msg: Any, *, max_pixels: int = DEFAULT_MAX_INPUT_PIXELS) -> np.ndarray:
    """A colour image message -> (H, W, 3) uint8 RGB (rgb8, bgr8, rgba8, bgra8, mono8).

    OversizedInputError when its width x height is over ``max_pixels``.
    """
    entry = _COLOR.get(str(msg.encoding))
    if entry is None:
        raise EncodingError(f"colour encoding {msg.encoding!r} not supported (use one of {COLOR_ENCODINGS})")
    layout, to_rgb = entry
    return np.ascontiguousarray(to_rgb(_pixels(msg, layout, max_pixels)))


def image_to_depth_m(
    msg: Any, depth_scale: float = 0.001, *, max_pixels: int = DEFAULT_MAX_INPUT_PIXELS
) -> np.ndarray:
    """A depth image message -> (H, W) float32 metres; 0 and NaN stay as they are (invalid).

    16UC1 values are multiplied by ``depth_scale`` (metres per unit; 0.001 for millimetres);
    32FC1 is already metres. OversizedInputError when its width x height is over ``max_pixels``.
    """
    entry = _DEPTH.get(str(msg.encoding))
    if entry is None:
        raise EncodingError(f"depth encoding {msg.encoding!r} not supported (use one of {DEPTH_ENCODINGS})")
    layout, scaled = entry
    values = _pixels(msg, layout, max_pixels)[..., 0]
    if scaled:
        return values.astype(np.float32) * np.float32(depth_scale)
    return values.astype(np.float32, copy=False)


def image_to_labels(msg: Any) -> np.ndarray:
    """A label image message (mono8, mono16) -> (H, W) uint8 or uint16 class ids in native byte order."""
    layout = _LABELS.get(str(msg.encoding))
    if layout is None:
        raise EncodingError(
            f"label encoding {msg.encoding!r} not supported (use {' or '.join(LABEL_ENCODINGS)})"
        )
    return np.ascontiguousarray(_pixels(msg, layout)[..., 0], dtype=layout.dtype)


def camera_info_to_k(msg: Any) -> np.ndarray:
    """The 3x3 intrinsics of a CameraInfo (field ``k``, or ``K`` in ROS 1 style records)."""
    values = getattr(msg, "k", None)
    if values is None:
        values = msg.K
    k = np.asarray(values, dtype=np.float64)
    if k.size != 9:
        raise MessageError(f"camera_info K has {k.size} values, expected 9")
    return k.reshape(3, 3)


def stamp_to_ns(stamp: Any) -> int:
    """A builtin_interfaces/Time -> int nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


# ------------------------------------------------------------------------------------------
# Builders


@dataclasses.dataclass(frozen=True)
class MessageFactory:
    """Makes messages of one library from a type name like ``'sensor_msgs/msg/Image'``.

    ``lookup`` maps the name to a class. rclpy classes fill unset fields themselves;
    rosbags classes are dataclasses that need every field, so ``new`` fills the missing
    ones with zero values (recursively for nested messages). ``numpy_blobs``: uint8[]
    fields take a numpy array (rosbags) rather than bytes (rclpy's fast path).
    """

    lookup: Callable[[str], Any]
    numpy_blobs: bool = False

    def new(self, msgtype: str, **values: Any) -> Any:
        cls = self.lookup(msgtype)
        if dataclasses.is_dataclass(cls):
            for field in dataclasses.fields(cls):
                # rosbags annotates constants as the string "ClassVar[...]", which dataclasses lists.
                if field.name not in values and not str(field.type).startswith("ClassVar"):
                    values[field.name] = self._zero(str(field.type))
        return cls(**values)

    def blob(self, array: np.ndarray) -> Any:
        """A uint8[] field value holding ``array``'s bytes."""
        flat = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
        return flat.copy() if self.numpy_blobs else flat.tobytes()

    def _zero(self, annotation: str) -> Any:
        if annotation in ("int", "float", "bool", "str"):
            return {"int": 0, "float": 0.0, "bool": False, "str": ""}[annotation]
        if annotation.startswith("list["):
            return []
        if annotation.startswith("np.ndarray"):
            return np.zeros(0, dtype=np.uint8)
        return self.new(annotation.replace("__", "/"))


def rclpy_factory() -> MessageFactory:
    """Messages of rclpy's generated classes (imports the message packages lazily)."""

    def lookup(msgtype: str) -> Any:
        package, _, name = msgtype.split("/")
        return getattr(importlib.import_module(f"{package}.msg"), name)

    return MessageFactory(lookup)


def rosbags_factory(typestore: Any) -> MessageFactory:
    """Messages of a rosbags typestore (``rosbags.typesys.get_typestore(...)``)."""
    return MessageFactory(lambda msgtype: typestore.types[msgtype], numpy_blobs=True)


def build_header(factory: MessageFactory, stamp_ns: int, frame_id: str) -> Any:
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    stamp = factory.new("builtin_interfaces/msg/Time", sec=sec, nanosec=nanosec)
    return factory.new("std_msgs/msg/Header", stamp=stamp, frame_id=frame_id)


# numpy array kind -> encoding, for the images the node and the camera publish.
_IMAGE_ENCODING: dict[tuple[str, int, int], str] = {
    ("u", 1, 3): "rgb8",
    ("u", 1, 1): "mono8",
    ("u", 2, 1): "mono16",
    ("f", 4, 1): "32FC1",
}


def build_image(factory: MessageFactory, header: Any, array: np.ndarray, encoding: str | None = None) -> Any:
    """(H, W) or (H, W, C) array -> sensor_msgs/Image in the machine's byte order.

    The encoding follows the array (uint8x3 rgb8, uint8 mono8, uint16 mono16, float32 32FC1)
    unless given, e.g. ``16UC1`` for a uint16 depth image.
    """
    channels = 1 if array.ndim == 2 else int(array.shape[2])
    if encoding is None:
        encoding = _IMAGE_ENCODING.get((array.dtype.kind, array.dtype.itemsize, channels))
        if encoding is None:
            raise MessageError(f"no image encoding for {array.dtype} arrays with {channels} channels")
    height, width = int(array.shape[0]), int(array.shape[1])
    return factory.new(
        "sensor_msgs/msg/Image",
        header=header,
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=int(sys.byteorder == "big"),
        step=width * channels * array.dtype.itemsize,
        data=factory.blob(array),
    )


# POINT_DTYPE field kinds -> sensor_msgs/PointField datatype constants.
_POINT_FIELD_TYPE = {("f", 4): "FLOAT32", ("u", 4): "UINT32", ("f", 8): "FLOAT64", ("u", 1): "UINT8"}


def build_point_cloud(factory: MessageFactory, header: Any, points: np.ndarray) -> Any:
    """POINT_DTYPE points -> PointCloud2 (little-endian, as geometry lays them out).

    A 2-D array is an organized cloud (rows x cols, invalid points NaN, ``is_dense``
    false); a 1-D array holds valid points only (height 1, ``is_dense`` true).
    """
    if points.dtype != POINT_DTYPE:
        raise MessageError(f"points must have geometry.POINT_DTYPE, got {points.dtype}")
    point_field = factory.lookup("sensor_msgs/msg/PointField")
    fields = []
    for name in POINT_DTYPE.names or ():
        dtype, offset = POINT_DTYPE.fields[name][:2]  # type: ignore[index]
        datatype = getattr(point_field, _POINT_FIELD_TYPE[(dtype.kind, dtype.itemsize)])
        fields.append(
            factory.new("sensor_msgs/msg/PointField", name=name, offset=offset, datatype=datatype, count=1)
        )
    organized = points.ndim == 2
    height, width = (int(points.shape[0]), int(points.shape[1])) if organized else (1, int(points.size))
    return factory.new(
        "sensor_msgs/msg/PointCloud2",
        header=header,
        height=height,
        width=width,
        fields=fields,
        is_bigendian=False,
        point_step=POINT_DTYPE.itemsize,
        row_step=POINT_DTYPE.itemsize * width,
        data=factory.blob(points),
        is_dense=not organized,
    )


def point_cloud_to_array(msg: Any) -> np.ndarray:
    """A PointCloud2 written by :func:`build_point_cloud` -> POINT_DTYPE array (rows, cols).

    For consumers of the node (tests, the demo, replay): it checks the layout rather than
    decoding arbitrary clouds.
    """
    names = [f.name for f in msg.fields]
    if names != list(POINT_DTYPE.names or ()) or int(msg.point_step) != POINT_DTYPE.itemsize:
        raise MessageError(f"point cloud fields {names} (step {msg.point_step}) are not geometry.POINT_DTYPE")
    data = byte_array(msg.data)
    count = int(msg.height) * int(msg.width)
    if data.size < count * POINT_DTYPE.itemsize:
        raise TruncatedError(f"point cloud {msg.width}x{msg.height} has {data.size} bytes")
    return data[: count * POINT_DTYPE.itemsize].view(POINT_DTYPE).reshape(int(msg.height), int(msg.width))


def _pose(factory: MessageFactory, position: Sequence[float]) -> Any:
    """A Pose at ``position`` with the identity orientation, set explicitly: rclpy defaults the
    quaternion's w to 1, rosbags (no defaults) to 0, and both must write the same bytes."""
    x, y, z = (float(v) for v in position)
    return factory.new(
        "geometry_msgs/msg/Pose",
        position=factory.new("geometry_msgs/msg/Point", x=x, y=y, z=z),
        orientation=factory.new("geometry_msgs/msg/Quaternion", x=0.0, y=0.0, z=0.0, w=1.0),
    )


def build_class_tags(
    factory: MessageFactory,
    header: Any,
    tags: Sequence[ClassTag],
    classes: ClassSet,
    *,
    text_height_m: float = 0.12,
) -> Any:
    """Class tags -> MarkerArray: a DELETEALL, then one TEXT_VIEW_FACING marker per class.

    The DELETEALL first clears the tags of classes no longer in view; marker ids are the
    label ids, so a class keeps its marker from frame to frame.
    """
    marker_type = "visualization_msgs/msg/Marker"
    marker_cls = factory.lookup(marker_type)
    markers = [
        factory.new(
            marker_type,
            header=header,
            ns="class_tags",
            action=marker_cls.DELETEALL,
            pose=_pose(factory, (0.0, 0.0, 0.0)),
        )
    ]
    for tag in tags:
        red, green, blue = classes.colors[tag.label] if tag.label < len(classes) else (255, 255, 255)
        markers.append(
            factory.new(
                marker_type,
                header=header,
                ns="class_tags",
                id=int(tag.label),
                type=marker_cls.TEXT_VIEW_FACING,
                action=marker_cls.ADD,
                pose=_pose(factory, tag.centroid),
                scale=factory.new("geometry_msgs/msg/Vector3", x=0.0, y=0.0, z=float(text_height_m)),
                color=factory.new("std_msgs/msg/ColorRGBA", r=red / 255, g=green / 255, b=blue / 255, a=1.0),
                text=f"{tag.name} ({tag.count})",
            )
        )
    return factory.new("visualization_msgs/msg/MarkerArray", markers=markers)


def build_camera_info(factory: MessageFactory, header: Any, k: np.ndarray, height: int, width: int) -> Any:
    """A pinhole CameraInfo without distortion (plumb_bob, zeros), P = [K | 0], R = I."""
    k = np.asarray(k, dtype=np.float64).reshape(3, 3)
    p = np.zeros((3, 4), dtype=np.float64)
    p[:, :3] = k
    return factory.new(
        "sensor_msgs/msg/CameraInfo",
        header=header,
        height=int(height),
        width=int(width),
        distortion_model="plumb_bob",
        d=np.zeros(5, dtype=np.float64),
        k=k.reshape(-1),
        r=np.eye(3, dtype=np.float64).reshape(-1),
        p=p.reshape(-1),
    )
