"""The node on robot inputs over real DDS: compressed transports, unregistered depth.

- Compressed: a real NYUv2 frame sent as compressed colour (PNG or JPEG q90) and compressedDepth
  (PNG or RVL) on image_transport's topics beside remapped base topics gives the labels of the
  raw frame: identical when both are lossless, on >= 98 % of pixels with JPEG. Bytes that do not
  decode are counted as ``decode_error`` and skipped; the node goes on.
- Decompression bombs: a message of every codec (JPEG, PNG colour, PNG 16UC1/32FC1 and RVL
  compressedDepth, raw Image) whose header claims 60000x60000 is counted as ``oversized_input``
  and given up on undecoded; the good frames after it come out, and every frame is accounted for
  (frames_in = out + drops + skipped + failed + in_flight).
- Registration: depth in its own camera's frame (another frame_id and K, a known baseline) is
  refused until the depth camera_info arrives, then registered (``auto``), refused (``off``) or
  resized as it is (``assume_registered``), as the parameter says.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from bombs import COMPRESSED_BOMBS, RAW_BOMBS, raw_bomb  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from ros_harness import Harness, send_until, wall_frame  # noqa: E402
from sensor_msgs.msg import CameraInfo, CompressedImage  # noqa: E402

from asymfusion_ros.inference.pipeline import Segmenter  # noqa: E402
from asymfusion_ros.registration import register_depth  # noqa: E402
from asymfusion_ros.ros import compressed, messages  # noqa: E402
from asymfusion_ros.ros.problems import Problem  # noqa: E402

pytestmark = pytest.mark.ros

NYU_K = np.array([[518.8579, 0.0, 325.5824], [0.0, 519.4696, 253.7362], [0.0, 0.0, 1.0]])
NYU_DEPTH_SCALE = 1 / 5000  # metres per unit of the sample's depth PNGs (its README)
SIZE = (240, 320)
"""(H, W): the sample at half size keeps DDS and the tiny model quick."""
CAMERA = "/transport_cam"


@pytest.fixture(scope="module")
def nyu_frame(nyu_sample: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rgb uint8, depth in millimetres uint16, K) of a real frame at SIZE."""
    height, width = SIZE
    bgr = cv2.imread(str(nyu_sample / "rgb" / "000433.png"), cv2.IMREAD_COLOR)
    raw = cv2.imread(str(nyu_sample / "depth" / "000433.png"), cv2.IMREAD_UNCHANGED)
    rgb = np.ascontiguousarray(cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)[..., ::-1])
    depth = cv2.resize(raw, (width, height), interpolation=cv2.INTER_NEAREST)
    depth_mm = np.round(depth.astype(np.float64) * NYU_DEPTH_SCALE * 1000).astype(np.uint16)
    k = NYU_K.copy()
    k[:2] *= width / 640
    return rgb, depth_mm, k


@pytest.fixture(scope="module")
def transport_harness(context: Any, tiny_onnx: Path) -> Iterator[Harness]:
    h = Harness(
        context, tiny_onnx, "/transport_test", connect=False,
        remap={"rgb/image": f"{CAMERA}/color/image_raw", "depth/image": f"{CAMERA}/depth/image_raw"},
        rgb_transport="compressed", depth_transport="compressedDepth",
        **{"qos.reliability": "reliable", "publish.points": False, "publish.class_tags": False},
    )  # fmt: skip
    yield h
    h.close()


class CompressedCamera:
    """Publishes CompressedImage colour and depth where image_transport would, beside the remapped bases."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.rgb = h.probe.create_publisher(CompressedImage, f"{CAMERA}/color/image_raw/compressed", 5)
        self.depth = h.probe.create_publisher(CompressedImage, f"{CAMERA}/depth/image_raw/compressedDepth", 5)
        self.info = h.probe.create_publisher(CameraInfo, "rgb/camera_info", 5)
        h.wait_for(lambda: all(p.get_subscription_count() for p in (self.rgb, self.depth, self.info)), 10.0,
                   "the node to subscribe to the compressed topics")  # fmt: skip

    def send(
        self, rgb: tuple[str, bytes], depth: tuple[str, bytes], k: np.ndarray, shape: tuple[int, int]
    ) -> int:
        """Publish one frame until its labels come back; returns its stamp."""
        factory = self.h.factory
        sent: list[int] = []
        for _ in range(20):
            sent.append(self.h.stamp())
            header = messages.build_header(factory, sent[-1], "camera_color_optical_frame")
            self.info.publish(messages.build_camera_info(factory, header, k, *shape))
            self.depth.publish(compressed.build_compressed_image(factory, header, *depth))
            self.rgb.publish(compressed.build_compressed_image(factory, header, *rgb))
            try:
                self.h.wait_for(lambda: any(s in self.h.received["labels"] for s in sent), 1.0, "labels")
            except AssertionError:
                continue
            return next(s for s in sent if s in self.h.received["labels"])
        raise AssertionError("no labels for the compressed frame")


def labels_of(h: Harness, stamp: int) -> np.ndarray:
    return messages.image_to_rgb(h.received["labels"][stamp])[..., 0]


@pytest.mark.parametrize(
    ("colour", "depth", "agreement"),
    [("png", "png", 1.0), ("png", "rvl", 1.0), ("jpeg", "png", 0.98), ("jpeg", "rvl", 0.98)],
)
def test_compressed_inputs_give_the_labels_of_raw_frames(
    transport_harness: Harness,
    segmenter: Segmenter,
    nyu_frame: Any,
    colour: str,
    depth: str,
    agreement: float,
) -> None:
    h = transport_harness
    assert h.probe.count_subscribers(f"{CAMERA}/color/image_raw/compressed") == 1  # remapped base + transport
    rgb, depth_mm, k = nyu_frame
    raw = segmenter.segment(
        rgb, depth_mm.astype(np.float32) * np.float32(0.001)
    ).labels  # what raw frames give
    assert len(np.unique(raw)) > 1  # more than one class, so agreement says something
    camera = CompressedCamera(h)
    encoded = (compressed.encode_rgb(rgb, colour, quality=90), compressed.encode_depth(depth_mm, depth))
    stamp = camera.send(*encoded, k, SIZE)
    labels = labels_of(h, stamp)
    if agreement == 1.0:
        np.testing.assert_array_equal(labels, raw)
    else:
        assert float(np.mean(labels == raw)) >= agreement
    decompress_ms = h.node.core.stats.snapshot().stage_p50_ms["decompress"]
    assert math.isfinite(decompress_ms) and decompress_ms > 0  # its own stage in /diagnostics


def test_bytes_that_do_not_decode_are_counted_and_skipped(transport_harness: Harness, nyu_frame: Any) -> None:
    h = transport_harness
    rgb, depth_mm, k = nyu_frame
    camera = CompressedCamera(h)
    before = h.problems()[Problem.DECODE_ERROR.value]
    fmt, data = compressed.encode_rgb(rgb, "jpeg")
    factory = h.factory
    for _ in range(20):
        header = messages.build_header(factory, h.stamp(), "camera_color_optical_frame")
        camera.depth.publish(
            compressed.build_compressed_image(factory, header, *compressed.encode_depth(depth_mm))
        )
        camera.rgb.publish(compressed.build_compressed_image(factory, header, fmt, data[: len(data) // 8]))
        try:
            h.wait_for(lambda: h.problems()[Problem.DECODE_ERROR.value] > before, 1.0, "decode_error counted")
            break
        except AssertionError:
            continue
    assert h.problems()[Problem.DECODE_ERROR.value] > before
    camera.send(compressed.encode_rgb(rgb, "png"), compressed.encode_depth(depth_mm), k, SIZE)  # still alive


# -- decompression bombs ------------------------------------------------------------------------

OVERSIZED = Problem.OVERSIZED_INPUT


def refuse(h: Harness, publish: Callable[[int], None], what: str) -> None:
    """Publish a frame (``publish(stamp)``) every second until the node counts it as oversized_input."""
    before = h.node.core.stats.snapshot().problems[OVERSIZED]
    for _ in range(20):
        publish(h.stamp())
        try:
            h.wait_for(lambda: h.node.core.stats.snapshot().problems[OVERSIZED] > before, 1.0, what)
            return
        except AssertionError:
            continue
    raise AssertionError(f"{what} was never counted as {OVERSIZED.value}")


def assert_accounted(h: Harness, before: Any) -> None:
    """Once the worker is idle: every frame since ``before`` is out, dropped, skipped or failed, and
    every failure was an oversized input."""
    stats = h.node.core.stats
    h.wait_for(lambda: stats.snapshot().in_flight == 0, 10.0, "the worker to finish")
    after = stats.snapshot()
    delta = {name: getattr(after, name) - getattr(before, name)
             for name in ("frames_in", "frames_out", "drops", "skipped", "failed")}  # fmt: skip
    assert delta["frames_in"] == delta["frames_out"] + delta["drops"] + delta["skipped"] + delta["failed"]
    assert delta["failed"] == after.problems[OVERSIZED] - before.problems[OVERSIZED] > 0, delta
    assert delta["frames_out"] > 0


@pytest.mark.parametrize("name", list(COMPRESSED_BOMBS))
def test_compressed_bombs_are_refused_and_good_frames_still_come_out(
    transport_harness: Harness, nyu_frame: Any, name: str
) -> None:
    h = transport_harness
    rgb, depth_mm, k = nyu_frame
    camera = CompressedCamera(h)
    good = (compressed.encode_rgb(rgb, "jpeg"), compressed.encode_depth(depth_mm, "rvl"))
    which, make = COMPRESSED_BOMBS[name]
    bomb = make()
    before = h.node.core.stats.snapshot()

    def publish(stamp: int) -> None:
        header = messages.build_header(h.factory, stamp, "camera_color_optical_frame")
        rgb_half, depth_half = (bomb, good[1]) if which == "rgb" else (good[0], bomb)
        camera.depth.publish(compressed.build_compressed_image(h.factory, header, *depth_half))
        camera.rgb.publish(compressed.build_compressed_image(h.factory, header, *rgb_half))

    refuse(h, publish, f"a {name} bomb")
    camera.send(*good, k, SIZE)
    assert_accounted(h, before)


@pytest.fixture(scope="module")
def raw_harness(context: Any, tiny_onnx: Path) -> Iterator[Harness]:
    h = Harness(context, tiny_onnx, "/bomb_test", **{"publish.points": False, "publish.class_tags": False})
    yield h
    h.close()


def test_raw_bombs_are_refused_and_the_budget_is_a_live_parameter(raw_harness: Harness) -> None:
    h = raw_harness
    frame = wall_frame()
    before = h.node.core.stats.snapshot()
    for encoding, which in RAW_BOMBS.items():

        def publish(stamp: int, encoding: str = encoding, which: str = which) -> None:
            header = messages.build_header(h.factory, stamp, "camera_color_optical_frame")
            good_rgb = messages.build_image(h.factory, header, frame.rgb)
            good_depth = messages.build_image(h.factory, header, frame.depth_m)
            bomb = raw_bomb(h.factory, header, encoding)
            h.camera.publish_messages(rgb=bomb if which == "rgb" else good_rgb,
                                      depth=bomb if which == "depth" else good_depth)  # fmt: skip

        refuse(h, publish, f"a raw {encoding} bomb")
        h.send(frame)
    assert_accounted(h, before)

    # a budget below the camera's frames refuses them too; set back, they come out again
    assert h.node.set_parameters([Parameter("max_input_pixels", value=48 * 64 - 1)])[0].successful
    try:
        refuse(h, lambda stamp: h.camera.publish(frame, stamp), "a frame over a lowered budget")
    finally:
        assert h.node.set_parameters([Parameter("max_input_pixels", value=4096 * 4096)])[0].successful
    h.send(frame)
    refused = h.node.set_parameters([Parameter("max_input_pixels", value=0)])[0]
    assert not refused.successful and "max_input_pixels" in refused.reason


# -- registration -----------------------------------------------------------------------------

BASELINE_M = 0.05
"""The depth camera sits this far along the colour camera's +x (its pose in the colour frame)."""
COLOUR_K = np.array([[60.0, 0.0, 32.0], [0.0, 60.0, 24.0], [0.0, 0.0, 1.0]])
DEPTH_K = np.array([[50.0, 0.0, 31.0], [0.0, 50.0, 23.0], [0.0, 0.0, 1.0]])


def step_depth() -> np.ndarray:
    """A box 1.0 m away in front of a wall 2.0 m away, as the depth camera (48x64) sees them."""
    depth = np.full((48, 64), 2.0, np.float32)
    depth[12:36, 20:40] = 1.0
    return depth


@pytest.fixture(scope="module")
def registration_harness(context: Any, tiny_onnx: Path) -> Iterator[Harness]:
    h = Harness(
        context, tiny_onnx, "/registration_test",
        **{"extrinsic.source": "parameter",
           "extrinsic.depth_to_colour": [BASELINE_M, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
           "points.stride": 1, "points.organized": True},
    )  # fmt: skip
    yield h
    h.close()


def send_unregistered(h: Harness, depth_info: Any, done: Any, what: str) -> int:
    """Colour (COLOUR_K) and depth in ``camera_depth_optical_frame`` (DEPTH_K), until ``done(stamp)``."""
    factory, rng = h.factory, np.random.default_rng(1)
    info_pub = getattr(h, "_depth_info_pub", None) or h.probe.create_publisher(
        CameraInfo, "depth/camera_info", 5
    )
    h._depth_info_pub = info_pub  # type: ignore[attr-defined]

    def make(stamp: int) -> tuple[Any, Any, Any]:
        colour_header = messages.build_header(factory, stamp, "camera_color_optical_frame")
        depth_header = messages.build_header(factory, stamp, "camera_depth_optical_frame")
        if depth_info is not None:
            info_pub.publish(messages.build_camera_info(factory, depth_header, DEPTH_K, 48, 64))
        return (
            messages.build_image(factory, colour_header, rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)),
            messages.build_image(factory, depth_header, step_depth()),
            messages.build_camera_info(factory, colour_header, COLOUR_K, 48, 64),
        )

    return send_until(h, make, done, what, timeout=20.0, every_s=1.0)


def cloud_depth(h: Harness, stamp: int) -> np.ndarray:
    """z of the organized stride-1 cloud as an image, 0 where no point."""
    points = messages.point_cloud_to_array(h.received["points"][stamp])
    return np.nan_to_num(points["z"], nan=0.0)


def test_unregistered_depth_is_handled_as_the_parameter_says(registration_harness: Harness) -> None:
    h = registration_harness
    unregistered = Problem.UNREGISTERED_DEPTH.value

    # auto, before any depth camera_info: the frames say another camera, but no K to register with
    before = h.problems()[unregistered]
    send_unregistered(h, None, lambda s: h.problems()[unregistered] > before, "a refused frame")

    # auto, with the depth camera_info: registered where the geometry puts it
    stamp = send_unregistered(h, DEPTH_K, lambda s: s in h.received["points"], "registered outputs")
    transform = np.eye(4)
    transform[0, 3] = BASELINE_M
    expected = register_depth(step_depth(), DEPTH_K, COLOUR_K, (64, 48), transform)
    np.testing.assert_allclose(cloud_depth(h, stamp), expected, atol=1e-3)
    # the box's left edge: depth column 20 at 1 m lands on colour column cx + f (x + b) / z
    left = 32 + 60 * ((20 - 31) / 50 * 1.0 + BASELINE_M) / 1.0
    box_columns = np.flatnonzero(np.isclose(cloud_depth(h, stamp)[24], 1.0, atol=1e-3))
    assert abs(box_columns.min() - left) <= 1.0
    assert math.isfinite(h.node.core.stats.snapshot().stage_p50_ms["register"])

    # off: refused, nothing published, counted
    assert h.node.set_parameters([Parameter("depth_registration", value="off")])[0].successful
    try:
        before = h.problems()[unregistered]
        refused = send_unregistered(h, DEPTH_K, lambda s: h.problems()[unregistered] > before, "refused")
        assert refused not in h.received["labels"]
    finally:
        h.node.set_parameters([Parameter("depth_registration", value="auto")])

    # assume_registered: the depth image is taken as it is (resized: same size here)
    assert h.node.set_parameters([Parameter("depth_registration", value="assume_registered")])[0].successful
    try:
        stamp = send_unregistered(h, DEPTH_K, lambda s: s in h.received["points"], "unchecked outputs")
        np.testing.assert_allclose(cloud_depth(h, stamp), step_depth(), atol=1e-3)
    finally:
        h.node.set_parameters([Parameter("depth_registration", value="auto")])
