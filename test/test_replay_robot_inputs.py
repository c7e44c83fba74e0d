"""Replay of bags recorded as robots record them, read with no topic flags.

- Compressed: two real NYUv2 frames (../shared/nyuv2_sample, K and depth scale from its README)
  as JPEG ``compressed`` colour and PNG ``compressedDepth`` depth, on the topics
  ``realsense2_camera`` uses with ``align_depth.enable:=true``; replay must find them, process
  every frame and put each cloud point at the frame's own depth.
- Unregistered depth: depth in its own camera's frame, with its camera_info and the driver's
  ``/tf_static``; replay registers it where the geometry puts it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from asymfusion_ros.bags import BagReader, BagWriter, typestore
from asymfusion_ros.inference.pipeline import Segmenter
from asymfusion_ros.registration import register_depth
from asymfusion_ros.replay.runner import ReplayConfig, replay
from asymfusion_ros.ros import compressed, messages
from asymfusion_ros.ros.params import Settings

NYU_K = np.array([[518.8579, 0.0, 325.5824], [0.0, 519.4696, 253.7362], [0.0, 0.0, 1.0]])
DEPTH_SCALE = 1 / 5000  # metres per unit of the sample's depth PNGs
ROOT = "/camera/camera"
RGB = f"{ROOT}/color/image_raw"
DEPTH = f"{ROOT}/aligned_depth_to_color/image_raw"
FRAME_ID = "camera_color_optical_frame"
REPEATS = 3
"""Each of the two real frames is recorded this often (10 Hz), so the bag has 6 frames."""


def real_frames(sample: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(rgb uint8, depth in the sample's own units uint16) of each real frame."""
    out = []
    for name in sorted((sample / "rgb").glob("*.png")):
        bgr = cv2.imread(str(name), cv2.IMREAD_COLOR)
        depth = cv2.imread(str(sample / "depth" / name.name), cv2.IMREAD_UNCHANGED)
        out.append((np.ascontiguousarray(bgr[..., ::-1]), depth.astype(np.uint16)))
    return out


def write_realsense_bag(
    path: Path, frames: list[tuple[np.ndarray, np.ndarray]], *, raw_too: bool = False
) -> int:
    """The frames as JPEG (q90) + PNG compressedDepth, camera_info beside each; ``raw_too``: colour
    recorded raw as well. Returns the number of frames written."""
    factory = messages.rosbags_factory(typestore())
    count = 0
    with BagWriter(path) as writer:
        for i in range(REPEATS * len(frames)):
            rgb, depth = frames[i % len(frames)]
            stamp = 1_700_000_000 * 10**9 + i * 100_000_000
            header = messages.build_header(factory, stamp, FRAME_ID)
            height, width = depth.shape
            info = messages.build_camera_info(factory, header, NYU_K, height, width)
            writer.write(f"{ROOT}/color/camera_info", info, stamp + 1_000_000)
            writer.write(f"{ROOT}/aligned_depth_to_color/camera_info", info, stamp + 1_000_000)
            png = compressed.build_compressed_image(factory, header, *compressed.encode_depth(depth, "png"))
            writer.write(f"{DEPTH}/compressedDepth", png, stamp + 2_000_000)
            jpeg = compressed.build_compressed_image(
                factory, header, *compressed.encode_rgb(rgb, "jpeg", quality=90)
            )
            writer.write(f"{RGB}/compressed", jpeg, stamp + 3_000_000)
            if raw_too:
                writer.write(RGB, messages.build_image(factory, header, rgb, "rgb8"), stamp + 3_000_000)
            count += 1
    return count


def test_compressed_realsense_bag_replays_with_no_topic_flags(
    nyu_sample: Path, segmenter: Segmenter, tmp_path: Path
) -> None:
    frames = real_frames(nyu_sample)
    written = write_realsense_bag(tmp_path / "robot", frames)
    out = tmp_path / "out"
    settings = Settings(depth_scale=DEPTH_SCALE, points_stride=4)
    report = replay(ReplayConfig(bag=tmp_path / "robot", out=out, progress=False, node=settings), segmenter)

    assert (
        report.topics["rgb"] == f"{RGB}/compressed" and report.topics["depth"] == f"{DEPTH}/compressedDepth"
    )
    assert report.topics["info"] == f"{ROOT}/color/camera_info"
    assert report.frames == written and not report.skipped and not report.problems, report.skipped
    assert "decompress" in report.latency()  # decoding is its own stage

    with BagReader(out) as bag:
        clouds = [bag.deserialize(m) for m in bag.messages(["/camera/segmentation/points"])]
        assert bag.topics()[f"{RGB}/compressed"].msgcount == written  # inputs copied beside the outputs
    assert len(clouds) == written
    for i, cloud in enumerate(clouds):
        depth_m = frames[i % len(frames)][1] * DEPTH_SCALE
        points = messages.point_cloud_to_array(cloud).reshape(-1)
        assert points.size > 1000
        # every point back-projects onto a pixel whose recorded depth is the point's z
        u = np.round(NYU_K[0, 0] * points["x"] / points["z"] + NYU_K[0, 2]).astype(int)
        v = np.round(NYU_K[1, 1] * points["y"] / points["z"] + NYU_K[1, 2]).astype(int)
        np.testing.assert_allclose(points["z"], depth_m[v, u], rtol=1e-6)
        assert np.all(u % 4 == 0) and np.all(v % 4 == 0)  # the stride's pixels


def test_a_stream_recorded_raw_and_compressed_is_read_raw(
    nyu_sample: Path, segmenter: Segmenter, tmp_path: Path
) -> None:
    frames = real_frames(nyu_sample)[:1]
    written = write_realsense_bag(tmp_path / "both", frames, raw_too=True)
    report = replay(ReplayConfig(bag=tmp_path / "both", progress=False, max_frames=written), segmenter)
    assert report.topics["rgb"] == RGB and report.topics["depth"] == f"{DEPTH}/compressedDepth"
    assert any(f"{RGB}/compressed not read" in w and "raw" in w for w in report.warnings), report.warnings
    assert report.frames == written


def _tf_static(factory: Any, stamp: int, edges: list[tuple[str, str, float]]) -> Any:
    """A TFMessage of (parent, child, x offset in metres) edges, rotation identity."""
    transforms = [
        factory.new(
            "geometry_msgs/msg/TransformStamped",
            header=messages.build_header(factory, stamp, parent),
            child_frame_id=child,
            transform=factory.new(
                "geometry_msgs/msg/Transform",
                translation=factory.new("geometry_msgs/msg/Vector3", x=x, y=0.0, z=0.0),
                rotation=factory.new("geometry_msgs/msg/Quaternion", x=0.0, y=0.0, z=0.0, w=1.0),
            ),
        )
        for parent, child, x in edges
    ]
    return factory.new("tf2_msgs/msg/TFMessage", transforms=transforms)


BASELINE_M = 0.05
COLOUR_K = np.array([[60.0, 0.0, 32.0], [0.0, 60.0, 24.0], [0.0, 0.0, 1.0]])
DEPTH_K = np.array([[50.0, 0.0, 31.0], [0.0, 50.0, 23.0], [0.0, 0.0, 1.0]])


def test_unregistered_depth_is_registered_with_the_bags_tf_static(
    segmenter: Segmenter, tmp_path: Path
) -> None:
    factory = messages.rosbags_factory(typestore())
    depth = np.full((48, 64), 2.0, np.float32)
    depth[12:36, 20:40] = 1.0  # a box in front of a wall
    start = 1_700_000_000 * 10**9
    with BagWriter(tmp_path / "kinect") as writer:
        edges = [("camera_link", "camera_color_optical_frame", 0.0),
                 ("camera_link", "camera_depth_optical_frame", BASELINE_M)]  # fmt: skip
        tf = _tf_static(factory, start, edges)
        writer.write("/tf_static", tf, start, latched=True)
        for i in range(3):
            stamp = start + (i + 1) * 100_000_000
            colour = messages.build_header(factory, stamp, "camera_color_optical_frame")
            depth_header = messages.build_header(factory, stamp, "camera_depth_optical_frame")
            rgb = np.random.default_rng(i).integers(0, 256, (48, 64, 3), dtype=np.uint8)
            writer.write(
                "/camera/color/camera_info",
                messages.build_camera_info(factory, colour, COLOUR_K, 48, 64),
                stamp,
            )
            depth_info = messages.build_camera_info(factory, depth_header, DEPTH_K, 48, 64)
            writer.write("/camera/depth/camera_info", depth_info, stamp)
            writer.write(
                "/camera/depth/image_raw", messages.build_image(factory, depth_header, depth), stamp + 1
            )
            writer.write("/camera/color/image_raw", messages.build_image(factory, colour, rgb), stamp + 2)
    settings = Settings(points_stride=1, points_organized=True)
    out = tmp_path / "out"
    report = replay(ReplayConfig(bag=tmp_path / "kinect", out=out, progress=False, node=settings), segmenter)
    assert report.topics["depth_info"] == "/camera/depth/camera_info"
    assert report.frames == 3 and not report.skipped, report.skipped
    assert "register" in report.latency()

    transform = np.eye(4)
    transform[0, 3] = BASELINE_M
    expected = register_depth(depth, DEPTH_K, COLOUR_K, (64, 48), transform)
    with BagReader(out) as bag:
        clouds = [bag.deserialize(m) for m in bag.messages(["/camera/segmentation/points"])]
    assert len(clouds) == 3
    for cloud in clouds:
        z = np.nan_to_num(messages.point_cloud_to_array(cloud)["z"], nan=0.0)
        np.testing.assert_allclose(z, expected, atol=1e-5)

    # --depth-registration off: every frame refused, saying how to align; assume_registered: unchecked
    def with_registration(mode: str) -> Any:
        cfg = ReplayConfig(bag=tmp_path / "kinect", progress=False, node=Settings(depth_registration=mode))
        return replay(cfg, segmenter)

    refused = with_registration("off")
    assert refused.frames == 0 and sum(refused.skipped.values()) == 3
    assert any("not registered" in reason and "align_depth" in reason for reason in refused.skipped)
    unchecked = with_registration("assume_registered")
    assert unchecked.frames == 3 and "register" not in unchecked.latency()
