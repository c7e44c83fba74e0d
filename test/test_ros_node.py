"""The node end to end over real DDS: every output, headers, geometry, encodings, bad input.

One node (tiny ONNX model) serves the module; each test works on fresh stamps and compares
counters before and after, so the order of tests does not matter.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from ros_harness import OUTPUTS, Harness, send_until, wall_frame  # noqa: E402

from asymfusion_ros.classes import ClassSet  # noqa: E402
from asymfusion_ros.inference.pipeline import Segmenter  # noqa: E402
from asymfusion_ros.ros import messages  # noqa: E402
from asymfusion_ros.ros.node import SegmentationNode  # noqa: E402
from asymfusion_ros.ros.problems import Problem  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.fixture(scope="module")
def harness(context: Any, tiny_onnx: Path) -> Iterator[Harness]:
    h = Harness(context, tiny_onnx, "/node_test", **{"tags.min_points": 1})
    yield h
    h.close()


def test_every_output_carries_the_input_header_and_camera_size(
    harness: Harness, segmenter: Segmenter
) -> None:
    frame = wall_frame(48, 64, depth_m=2.0)
    stamp = harness.send(frame, tuple(OUTPUTS))
    out = {name: harness.received[name][stamp] for name in OUTPUTS}
    for name, msg in out.items():
        header = msg.markers[0].header if name == "class_tags" else msg.header
        assert messages.stamp_to_ns(header.stamp) == stamp, name
        assert header.frame_id == "camera_color_optical_frame", name
    for name, encoding in (
        ("labels", "mono8"),
        ("color", "rgb8"),
        ("overlay", "rgb8"),
        ("confidence", "32FC1"),
    ):
        assert (out[name].height, out[name].width, out[name].encoding) == (48, 64, encoding)

    expected = segmenter.segment(frame.rgb, frame.depth_m)
    labels = messages.image_to_rgb(out["labels"])[..., 0]
    np.testing.assert_array_equal(labels, expected.labels)
    confidence = messages.image_to_depth_m(out["confidence"])
    np.testing.assert_allclose(confidence, expected.confidence, atol=1e-5)

    cloud = out["points"]
    assert [(f.name, f.offset, f.datatype) for f in cloud.fields] == [
        ("x", 0, 7), ("y", 4, 7), ("z", 8, 7), ("rgb", 12, 7), ("label", 16, 6), ("confidence", 20, 7)
    ]  # fmt: skip
    assert not cloud.is_bigendian and cloud.point_step == 24 and cloud.height == 1
    points = messages.point_cloud_to_array(cloud).reshape(-1)
    assert points.size == 24 * 32  # stride 2, every pixel valid
    np.testing.assert_allclose(points["z"], 2.0, atol=1e-3)  # the wall at 2 m
    assert abs(float(points["x"].min()) + 32 / 60 * 2) < 0.05  # left edge: (0 - cx) / fx * z
    np.testing.assert_array_equal(points["label"], expected.labels[::2, ::2].reshape(-1))

    markers = out["class_tags"].markers
    assert markers[0].action == markers[0].DELETEALL
    assert {m.id for m in markers[1:]} == set(np.unique(points["label"]).tolist())
    assert all(m.type == m.TEXT_VIEW_FACING and abs(m.pose.position.z - 2.0) < 1e-3 for m in markers[1:])


def test_classes_are_latched_json(harness: Harness) -> None:
    harness.wait_for(lambda: bool(harness.classes), 5.0, "segmentation/classes")
    classes = harness.node.core.segmenter.classes
    assert ClassSet.from_json(harness.classes[-1]) == classes
    assert json.loads(harness.classes[-1])["classes"][0]["name"] == classes.names[0]


def test_diagnostics_report_rates_and_every_counter(harness: Harness) -> None:
    harness.send(wall_frame())
    count = len(harness.diagnostics)
    harness.wait_for(lambda: len(harness.diagnostics) > count, 5.0, "/diagnostics")
    status = harness.diagnostics[-1].status[0]
    values = {kv.key: kv.value for kv in status.values}
    for key in (
        "fps",
        "latency_p50_ms",
        "latency_p95_ms",
        "drops",
        "backend",
        "model",
        *(p.value for p in Problem),
    ):
        assert key in values, key
    assert "onnxruntime" in values["backend"] and values["model"].endswith(".onnx")
    assert int(values["frames_out"]) >= 1


BASE = wall_frame(48, 64, seed=3)


def colour_message(harness: Harness, encoding: str, stamp: int) -> Any:
    rgb = BASE.rgb
    array = {
        "rgb8": rgb,
        "bgr8": rgb[..., ::-1],
        "rgba8": np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]),
        "bgra8": np.dstack([rgb[..., ::-1], np.full(rgb.shape[:2], 255, np.uint8)]),
        "mono8": rgb[..., 1],
    }[encoding]
    header = messages.build_header(harness.factory, stamp, "camera_color_optical_frame")
    return messages.build_image(harness.factory, header, np.ascontiguousarray(array), encoding)


def depth_message(harness: Harness, encoding: str, stamp: int, depth_m: np.ndarray | None = None) -> Any:
    depth_m = BASE.depth_m if depth_m is None else depth_m
    header = messages.build_header(harness.factory, stamp, "camera_color_optical_frame")
    if encoding == "16UC1":
        return messages.build_image(
            harness.factory, header, np.round(depth_m * 1000).astype(np.uint16), "16UC1"
        )
    return messages.build_image(harness.factory, header, depth_m.astype(np.float32), "32FC1")


def info_message(harness: Harness, stamp: int, k: np.ndarray = BASE.K) -> Any:
    header = messages.build_header(harness.factory, stamp, "camera_color_optical_frame")
    return messages.build_camera_info(harness.factory, header, k, 48, 64)


def good_frame(harness: Harness, stamp: int, depth_m: np.ndarray | None = None) -> tuple[Any, Any, Any]:
    """rgb8 colour, 16UC1 depth (``depth_m`` or the base frame's) and camera_info, all at ``stamp``."""
    return (
        colour_message(harness, "rgb8", stamp),
        depth_message(harness, "16UC1", stamp, depth_m),
        info_message(harness, stamp),
    )


@pytest.mark.parametrize("colour", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8"])
@pytest.mark.parametrize("depth", ["16UC1", "32FC1"])
def test_encodings(harness: Harness, segmenter: Segmenter, colour: str, depth: str) -> None:
    stamp = send_until(
        harness,
        lambda s: (
            colour_message(harness, colour, s),
            depth_message(harness, depth, s),
            info_message(harness, s),
        ),
        lambda s: s in harness.received["labels"] and s in harness.received["points"],
        f"labels for {colour} + {depth}",
    )
    rgb = np.dstack([BASE.rgb[..., 1]] * 3) if colour == "mono8" else BASE.rgb
    expected = segmenter.segment(rgb, BASE.depth_m).labels
    np.testing.assert_array_equal(messages.image_to_rgb(harness.received["labels"][stamp])[..., 0], expected)
    points = messages.point_cloud_to_array(harness.received["points"][stamp])
    np.testing.assert_allclose(points["z"], 2.0, atol=1e-3)


def raw_image(stamp: int, encoding: str, height: int, width: int, step: int, data: bytes) -> Any:
    from sensor_msgs.msg import Image

    msg = Image(height=height, width=width, encoding=encoding, step=step, data=data)
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 10**9)
    msg.header.frame_id = "camera_color_optical_frame"
    return msg


BAD_INPUTS = {
    "unsupported-encoding": (
        Problem.UNSUPPORTED_ENCODING,
        lambda h, s: (
            raw_image(s, "yuv422", 48, 64, 128, bytes(128 * 48)),
            depth_message(h, "16UC1", s),
            None,
        ),
    ),
    "truncated-data": (
        Problem.TRUNCATED_DATA,
        lambda h, s: (raw_image(s, "rgb8", 48, 64, 192, bytes(192 * 47)), depth_message(h, "16UC1", s), None),
    ),
    "zero-size": (
        Problem.EMPTY_IMAGE,
        lambda h, s: (raw_image(s, "rgb8", 0, 0, 0, b""), depth_message(h, "16UC1", s), None),
    ),
    "nan-depth": (
        Problem.INVALID_DEPTH,
        lambda h, s: (
            colour_message(h, "rgb8", s),
            depth_message(h, "32FC1", s, np.full((48, 64), np.nan)),
            None,
        ),
    ),
    "all-zero-depth": (
        Problem.INVALID_DEPTH,
        lambda h, s: (colour_message(h, "rgb8", s), depth_message(h, "16UC1", s, np.zeros((48, 64))), None),
    ),
    "zero-intrinsics": (
        Problem.MISSING_CAMERA_INFO,
        lambda h, s: (
            colour_message(h, "rgb8", s),
            depth_message(h, "16UC1", s),
            info_message(h, s, np.zeros((3, 3))),
        ),
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_counted_and_survived(harness: Harness, case: str) -> None:
    problem, make = BAD_INPUTS[case]
    before = harness.problems()[problem.value]
    send_until(
        harness, lambda s: make(harness, s), lambda s: harness.problems()[problem.value] > before, case
    )
    # Still alive and well: a good frame goes through (and restores the camera_info).
    stamp = send_until(
        harness,
        lambda s: good_frame(harness, s),
        lambda s: s in harness.received["points"],
        "a good frame after bad input",
    )
    assert harness.received["labels"][stamp].width == 64


def test_clock_jump_resets_the_sync(harness: Harness) -> None:
    before = harness.problems()[Problem.CLOCK_JUMP.value]
    harness.send(wall_frame())
    harness.camera.publish(wall_frame(), harness.stamp() - 60 * 10**9)  # a bag that looped
    harness.wait_for(lambda: harness.problems()[Problem.CLOCK_JUMP.value] > before, 5.0, "clock jump counted")
    harness.send(wall_frame())  # the sync works again after the reset


def test_depth_of_another_size_is_resized_to_colour(harness: Harness) -> None:
    before = harness.problems()[Problem.SIZE_MISMATCH.value]
    stamp = send_until(
        harness,
        lambda s: good_frame(harness, s, np.full((24, 32), 1.5)),
        lambda s: s in harness.received["points"] and s in harness.received["labels"],
        "outputs from depth at half size",
    )  # fmt: skip
    assert (harness.received["labels"][stamp].height, harness.received["labels"][stamp].width) == (48, 64)
    np.testing.assert_allclose(
        messages.point_cloud_to_array(harness.received["points"][stamp])["z"], 1.5, atol=1e-3
    )
    assert harness.problems()[Problem.SIZE_MISMATCH.value] > before


def test_missing_camera_info_still_publishes_images(context: Any, tiny_onnx: Path) -> None:
    h = Harness(context, tiny_onnx, "/no_info_test")
    try:
        stamp = send_until(
            h,
            lambda s: (colour_message(h, "rgb8", s), depth_message(h, "16UC1", s), None),
            lambda s: s in h.received["overlay"] and h.problems()[Problem.MISSING_CAMERA_INFO.value] > 0,
            "overlay without camera_info",
        )
        assert stamp not in h.received["points"] and stamp not in h.received["class_tags"]
    finally:
        h.close()


def test_bad_parameters_are_refused_with_a_reason(harness: Harness) -> None:
    from rclpy.parameter import Parameter

    node = harness.node
    refused = {
        "overlay.alpha": 1.5,
        "sync.slop": 0.0,
        "points.min_range": 20.0,
        "backend": "tensorrt",
        "qos.reliability": "reliable",
        "points.stride": "two",
    }
    for name, value in refused.items():
        (result,) = node.set_parameters([Parameter(name, value=value)])
        assert not result.successful and result.reason, name
    assert node.get_parameter("overlay.alpha").value == 0.5


def test_live_parameters_take_effect(harness: Harness) -> None:
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient

    client = AsyncParameterClient(harness.probe, harness.node.get_fully_qualified_name())
    assert client.wait_for_services(5.0)

    def set_remote(**values: Any) -> list[Any]:
        future = client.set_parameters([Parameter(k.replace("__", "."), value=v) for k, v in values.items()])
        harness.wait_for(future.done, 5.0, "parameter service")
        return list(future.result().results)  # type: ignore[union-attr]

    bad = set_remote(points__max_range=-1.0)
    assert not bad[0].successful and "max_range" in bad[0].reason
    try:
        assert all(
            r.successful for r in set_remote(points__stride=4, points__organized=True, sync__queue_size=3)
        )
        stamp = harness.send(wall_frame(), ("points",))
        cloud = harness.received["points"][stamp]
        assert (cloud.height, cloud.width, cloud.is_dense) == (12, 16, False)
    finally:
        set_remote(points__stride=2, points__organized=False, sync__queue_size=10)


def test_bad_startup_parameters_raise_a_clear_error(context: Any, tiny_onnx: Path) -> None:
    from rclpy.parameter import Parameter

    from asymfusion_ros.resources import ResourceError
    from asymfusion_ros.ros.params import ParameterError

    with pytest.raises(ParameterError, match="backend"):
        SegmentationNode(context=context, parameter_overrides=[Parameter("backend", value="cuda")])
    with pytest.raises(ResourceError, match="no_such_model"):
        SegmentationNode(context=context, parameter_overrides=[Parameter("model", value="no_such_model")])


def test_frames_are_not_segmented_when_every_output_is_off(harness: Harness) -> None:
    from rclpy.parameter import Parameter

    node = harness.node
    toggles = [f"publish.{name}" for name in OUTPUTS]
    before = node.core.stats.snapshot().skipped
    assert all(r.successful for r in node.set_parameters([Parameter(t, value=False) for t in toggles]))
    try:
        stamp = send_until(
            harness,
            lambda s: good_frame(harness, s),
            lambda s: node.core.stats.snapshot().skipped > before,
            "a skipped frame",
        )
        assert all(stamp not in harness.received[name] for name in OUTPUTS)
    finally:
        node.set_parameters([Parameter(t, value=True) for t in toggles])
    harness.send(wall_frame(), ("labels", "overlay"))


def test_the_shipped_default_model_runs(context: Any) -> None:
    from asymfusion_ros.resources import ResourceError, resolve_model

    try:
        resolve_model("default", suffixes=(".onnx",))
    except ResourceError as err:
        pytest.skip(f"no shipped ONNX model: {err}")
    h = Harness(context, Path("default"), "/default_model_test")
    try:
        stamp = h.send(wall_frame(96, 128), ("labels", "points"))
        assert h.received["labels"][stamp].width == 128
        assert "asymfusion_r18_synthetic" in h.node.core.info["model"]
    finally:
        h.close()


def test_the_compressed_overlay_is_a_jpeg_of_the_overlay_only_while_subscribed(harness: Harness) -> None:
    from sensor_msgs.msg import CompressedImage

    from asymfusion_ros.ros import compressed

    received: dict[int, Any] = {}
    publisher = harness.node.core.publishers["overlay/compressed"]
    assert publisher.get_subscription_count() == 0  # nobody asked: not computed (the other tests ran so)
    sub = harness.probe.create_subscription(
        CompressedImage,
        "segmentation/overlay/compressed",
        lambda m: received.setdefault(messages.stamp_to_ns(m.header.stamp), m),
        10,
    )
    try:
        harness.wait_for(lambda: publisher.get_subscription_count() > 0, 10.0, "the JPEG overlay subscriber")
        stamp = send_until(
            harness,
            lambda s: good_frame(harness, s),
            lambda s: s in received and s in harness.received["overlay"],
            "overlay and its JPEG",
        )
        overlay = messages.image_to_rgb(harness.received["overlay"][stamp])
        assert (received[stamp].format, bytes(received[stamp].data)) == compressed.encode_rgb(
            overlay, quality=90
        )
    finally:
        harness.probe.destroy_subscription(sub)
