"""ros/messages.py: every encoding both ways, malformed images, builders for rclpy and rosbags."""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from asymfusion_ros.classes import load_classes
from asymfusion_ros.geometry import POINT_DTYPE, ClassTag
from asymfusion_ros.ros import messages as m

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)


def image(array: np.ndarray, encoding: str, *, pad: int = 0, bigendian: bool = False) -> SimpleNamespace:
    """A duck-typed Image (what rosbags gives) with optional row padding."""
    height, width = array.shape[:2]
    dtype = array.dtype.newbyteorder(">" if bigendian else "<")
    rows = np.ascontiguousarray(array.astype(dtype)).reshape(height, -1).view(np.uint8)
    padded = np.zeros((height, rows.shape[1] + pad), dtype=np.uint8)
    padded[:, : rows.shape[1]] = rows
    return SimpleNamespace(
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=int(bigendian),
        step=padded.shape[1],
        data=padded.reshape(-1),
    )


@pytest.mark.parametrize(
    ("encoding", "raw"),
    [
        ("rgb8", RGB),
        ("bgr8", RGB[..., ::-1]),
        ("rgba8", np.dstack([RGB, np.full(RGB.shape[:2], 7, np.uint8)])),
        ("bgra8", np.dstack([RGB[..., ::-1], np.full(RGB.shape[:2], 7, np.uint8)])),
    ],
)
@pytest.mark.parametrize("pad", [0, 3])
def test_colour_encodings_give_rgb(encoding: str, raw: np.ndarray, pad: int) -> None:
    np.testing.assert_array_equal(m.image_to_rgb(image(raw, encoding, pad=pad)), RGB)


def test_mono8_is_grey_rgb() -> None:
    grey = RGB[..., 0]
    np.testing.assert_array_equal(m.image_to_rgb(image(grey, "mono8")), np.dstack([grey] * 3))


@pytest.mark.parametrize("bigendian", [False, True])
def test_depth_16uc1_millimetres_and_scale(bigendian: bool) -> None:
    mm = np.array([[0, 1000, 2500], [65535, 1, 2]], dtype=np.uint16)
    depth = m.image_to_depth_m(image(mm, "16UC1", pad=2, bigendian=bigendian))
    assert depth.dtype == np.float32
    np.testing.assert_allclose(depth, mm * 0.001, rtol=1e-6)
    np.testing.assert_allclose(
        m.image_to_depth_m(image(mm, "16UC1"), depth_scale=0.0002), mm * 0.0002, rtol=1e-6
    )


def test_depth_32fc1_metres_keep_nan() -> None:
    metres = np.array([[np.nan, 1.5], [0.0, 2.25]], dtype=np.float32)
    np.testing.assert_array_equal(m.image_to_depth_m(image(metres, "32FC1"), depth_scale=5.0), metres)


@pytest.mark.parametrize(
    ("msg", "error"),
    [
        (image(RGB, "yuv422"), m.EncodingError),
        (
            SimpleNamespace(height=0, width=7, encoding="rgb8", is_bigendian=0, step=21, data=b""),
            m.EmptyImageError,
        ),
        (
            SimpleNamespace(
                height=5, width=7, encoding="rgb8", is_bigendian=0, step=21, data=bytes(21 * 5 - 1)
            ),
            m.TruncatedError,
        ),
        (
            SimpleNamespace(height=5, width=7, encoding="rgb8", is_bigendian=0, step=20, data=bytes(21 * 5)),
            m.TruncatedError,
        ),
    ],
    ids=["encoding", "empty", "short-data", "short-step"],
)
def test_bad_images_raise_message_errors(msg: SimpleNamespace, error: type[m.MessageError]) -> None:
    with pytest.raises(error) as info:
        m.image_to_rgb(msg)
    assert isinstance(info.value, ValueError)
    assert info.value.problem != m.MessageError.problem


def test_depth_reader_refuses_colour() -> None:
    with pytest.raises(m.EncodingError, match="rgb8"):
        m.image_to_depth_m(image(RGB, "rgb8"))


@pytest.mark.parametrize("pad", [0, 3])
def test_mono8_labels_keep_ids(pad: int) -> None:
    ids = np.array([[0, 1, 39], [255, 7, 12]], dtype=np.uint8)
    labels = m.image_to_labels(image(ids, "mono8", pad=pad))
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, ids)


@pytest.mark.parametrize("bigendian", [False, True])
def test_mono16_labels_keep_ids_in_native_order(bigendian: bool) -> None:
    ids = np.array([[0, 300, 65535], [255, 1, 40]], dtype=np.uint16)
    labels = m.image_to_labels(image(ids, "mono16", pad=2, bigendian=bigendian))
    assert labels.dtype == np.dtype(np.uint16)
    np.testing.assert_array_equal(labels, ids)


@pytest.mark.parametrize("encoding", ["rgb8", "16UC1", "32FC1"])
def test_label_reader_refuses_other_encodings(encoding: str) -> None:
    raw = np.zeros((2, 3, 3) if encoding == "rgb8" else (2, 3), dtype=np.uint8)
    expected = f"label encoding '{encoding}' not supported .use mono8 or mono16."
    with pytest.raises(m.EncodingError, match=expected):
        m.image_to_labels(image(raw, encoding))


def sample_points(organized: bool) -> np.ndarray:
    points = np.zeros((2, 3), dtype=POINT_DTYPE)
    points["z"] = np.arange(6, dtype=np.float32).reshape(2, 3) + 1
    points["label"] = 4
    return points if organized else points.reshape(-1)


def humble_typestore() -> Any:
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_HUMBLE)


def factories() -> list:
    found = [pytest.param(m.rosbags_factory(humble_typestore()), id="rosbags")]
    try:
        import sensor_msgs.msg  # noqa: F401
    except ImportError:
        return found
    return [*found, pytest.param(m.rclpy_factory(), id="rclpy")]


def serialize(factory: m.MessageFactory, msg: object) -> bytes:
    """CDR bytes of a message: proves it is complete and well typed for its library."""
    if factory.numpy_blobs:
        return bytes(humble_typestore().serialize_cdr(msg, msg.__msgtype__))  # type: ignore[attr-defined]
    from rclpy.serialization import serialize_message

    return bytes(serialize_message(msg))


@pytest.mark.parametrize("factory", factories())
def test_builders_round_trip(factory: m.MessageFactory) -> None:
    header = m.build_header(factory, 1_700_000_000_123_456_789, "camera_color_optical_frame")
    assert m.stamp_to_ns(header.stamp) == 1_700_000_000_123_456_789

    for array in (RGB, RGB[..., 0], np.arange(35, dtype=np.uint16).reshape(5, 7)):
        msg = m.build_image(factory, header, array)
        serialize(factory, msg)
        if array.ndim == 3:
            np.testing.assert_array_equal(m.image_to_rgb(msg), array)
    depth_mm = np.arange(35, dtype=np.uint16).reshape(5, 7) * 100
    msg = m.build_image(factory, header, depth_mm, "16UC1")
    np.testing.assert_allclose(m.image_to_depth_m(msg), depth_mm / 1000, rtol=1e-6)
    confidence = np.linspace(0, 1, 35, dtype=np.float32).reshape(5, 7)
    np.testing.assert_array_equal(m.image_to_depth_m(m.build_image(factory, header, confidence)), confidence)

    for organized in (False, True):
        points = sample_points(organized)
        cloud = m.build_point_cloud(factory, header, points)
        serialize(factory, cloud)
        assert [f.name for f in cloud.fields] == ["x", "y", "z", "rgb", "label", "confidence"]
        assert [f.offset for f in cloud.fields] == [0, 4, 8, 12, 16, 20]
        assert cloud.is_dense is not organized and not cloud.is_bigendian
        np.testing.assert_array_equal(m.point_cloud_to_array(cloud).reshape(points.shape), points)

    classes = load_classes("nyu40")
    tags = [ClassTag(1, "floor", (0.0, 1.0, 2.0), 50), ClassTag(0, "wall", (0.5, -1.0, 3.0), 80)]
    array_msg = m.build_class_tags(factory, header, tags, classes)
    serialize(factory, array_msg)
    first, *texts = array_msg.markers
    assert first.action == 3 and [t.id for t in texts] == [1, 0]  # DELETEALL, then one per class
    assert texts[0].type == 9 and texts[0].text.startswith("floor") and texts[0].pose.position.z == 2.0
    assert (texts[1].color.r, texts[1].color.g) == tuple(c / 255 for c in classes.colors[0][:2])

    k = np.array([[500.0, 0, 320], [0, 510, 240], [0, 0, 1]])
    info = m.build_camera_info(factory, header, k, 480, 640)
    serialize(factory, info)
    np.testing.assert_array_equal(m.camera_info_to_k(info), k)


def test_native_byte_order_flag() -> None:
    factory = m.rosbags_factory(humble_typestore())
    msg = m.build_image(factory, m.build_header(factory, 0, "f"), np.zeros((2, 2), np.float32))
    assert msg.is_bigendian == int(sys.byteorder == "big")
