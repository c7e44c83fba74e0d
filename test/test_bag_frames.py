"""Colour/depth frames out of rosbags (bags/frames.py), written with rosbags as a recorder would."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from asymfusion_ros.bags import BagReadError, BagWriter, typestore
from asymfusion_ros.bags.frames import bag_frames, is_bag
from asymfusion_ros.replay.make_bag import write_synthetic_bag
from asymfusion_ros.ros import messages


def test_bag_pairs_within_50_ms_inclusive_either_order(tmp_path: Path) -> None:
    factory = messages.rosbags_factory(typestore())
    ms = 1_000_000
    # (colour stamp, depth stamp, colour value): 50 ms apart pairs, 50 ms + 1 ns does not.
    frames = [(0, 50 * ms, 10), (1000 * ms, 1050 * ms + 1, 20), (2000 * ms, 2000 * ms, 30)]
    frames.append((3010 * ms, 3000 * ms, 40))  # depth first
    color, depth = "/camera/color/image_raw", "/camera/depth/image_raw"
    written = [(rgb_ns, color, np.full((64, 96, 3), v, np.uint8)) for rgb_ns, _, v in frames]
    written += [(depth_ns, depth, np.full((64, 96), 1000, np.uint16)) for _, depth_ns, _ in frames]
    written.sort(key=lambda item: item[0])
    bag = tmp_path / "skew_bag"
    with BagWriter(bag) as writer:
        header = messages.build_header(factory, 0, "camera")
        info = messages.build_camera_info(factory, header, np.diag([80.0, 80.0, 1.0]), 64, 96)
        writer.write("/camera/color/camera_info", info, 0)  # detect_topics wants one
        for stamp_ns, topic, array in written:
            header = messages.build_header(factory, stamp_ns, "camera")
            encoding = "16UC1" if array.ndim == 2 else None
            writer.write(topic, messages.build_image(factory, header, array, encoding), stamp_ns)
    paired = [int(rgb[0, 0, 0]) for rgb, _ in bag_frames(bag)]
    assert paired == [10, 30, 40]


def test_frames_in_metres_at_colour_size(tmp_path: Path) -> None:
    bag = tmp_path / "synthetic_bag"
    write_synthetic_bag(bag, frames=3, size=(48, 64))
    assert is_bag(bag) and is_bag(tmp_path / "x.mcap") and not is_bag(tmp_path)
    frames = list(bag_frames(bag))
    assert len(frames) == 3
    for rgb, depth in frames:
        assert rgb.shape == (48, 64, 3) and rgb.dtype == np.uint8
        assert depth.shape == (48, 64) and depth.dtype == np.float32
        assert 0.3 < float(np.median(depth[depth > 0])) < 15.0  # metres, not millimetres


def test_unreadable_bags_and_images_raise_bag_read_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mcap"
    garbage.write_bytes(b"not a bag at all")
    with pytest.raises(BagReadError):
        list(bag_frames(garbage))
    factory = messages.rosbags_factory(typestore())
    bag = tmp_path / "odd_depth"
    with BagWriter(bag) as writer:
        header = messages.build_header(factory, 0, "camera")
        writer.write(
            "/camera/color/camera_info", messages.build_camera_info(factory, header, np.eye(3), 4, 4), 0
        )
        writer.write(
            "/camera/color/image_raw", messages.build_image(factory, header, np.zeros((4, 4, 3), np.uint8)), 0
        )
        depth = messages.build_image(factory, header, np.ones((4, 4), np.uint16), "16UC1")
        depth.data = depth.data[:8]  # a truncated image: the encoding is fine, the pixels are not there
        writer.write("/camera/depth/image_raw", depth, 0)
    with pytest.raises(BagReadError, match="unusable"):
        list(bag_frames(bag))
