"""make-bag writes a real rosbag2 (read back with rosbags) that looks like a camera recording."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from asymfusion_ros.bags import BagReader
from asymfusion_ros.cli import main
from asymfusion_ros.data.synthetic import SyntheticScenes
from asymfusion_ros.replay import make_bag
from asymfusion_ros.ros import compressed, messages

SIZE = (64, 80)  # (H, W)


def _read(path: Path) -> dict[str, list]:
    """Deserialised messages by topic, in recording order, with their log times."""
    out: dict[str, list] = {}
    with BagReader(path) as bag:
        for message in bag.messages():
            out.setdefault(message.topic, []).append((message.log_ns, bag.deserialize(message)))
    return out


@pytest.mark.parametrize("fmt", ["mcap", "sqlite3"])
def test_make_bag_writes_camera_streams_with_ground_truth(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "bag"
    status = main(
        [
            "make-bag",
            "--synthetic",
            "--frames",
            "4",
            "--size",
            "80x64",
            "--rate",
            "15",
            "--seed",
            "3",
            "--format",
            fmt,
            "-o",
            str(out),
        ]
    )
    assert status == 0
    assert any(out.glob("*.mcap" if fmt == "mcap" else "*.db3"))
    streams = _read(out)
    topics = (make_bag.RGB_TOPIC, make_bag.DEPTH_TOPIC, make_bag.INFO_TOPIC, make_bag.LABEL_TOPIC)
    assert sorted(streams) == sorted(topics)
    assert all(len(streams[t]) == 4 for t in topics)

    sample = SyntheticScenes(size=SIZE, seed=3).frame(0)
    rgb_msg = streams[make_bag.RGB_TOPIC][0][1]
    depth_msg = streams[make_bag.DEPTH_TOPIC][0][1]
    label_msg = streams[make_bag.LABEL_TOPIC][0][1]
    info_msg = streams[make_bag.INFO_TOPIC][0][1]
    assert (rgb_msg.encoding, depth_msg.encoding, label_msg.encoding) == ("rgb8", "16UC1", "mono8")
    assert rgb_msg.header.frame_id == depth_msg.header.frame_id == make_bag.FRAME_ID
    np.testing.assert_array_equal(messages.image_to_rgb(rgb_msg), sample.rgb)
    depth_mm = messages.image_to_depth_m(depth_msg, depth_scale=1.0)
    np.testing.assert_array_equal(
        depth_mm, np.round(sample.depth_m * 1000)
    )  # lossless: synthetic depth is whole mm
    np.testing.assert_allclose(messages.camera_info_to_k(info_msg), sample.K)
    assert sample.labels is not None
    np.testing.assert_array_equal(messages.image_to_rgb(label_msg)[..., 0], sample.labels)

    for i in range(4):
        rgb_ns = messages.stamp_to_ns(streams[make_bag.RGB_TOPIC][i][1].header.stamp)
        depth_ns = messages.stamp_to_ns(streams[make_bag.DEPTH_TOPIC][i][1].header.stamp)
        assert 0 < depth_ns - rgb_ns < 10_000_000  # a few ms apart, as real RGB-D drivers are
        assert messages.stamp_to_ns(streams[make_bag.INFO_TOPIC][i][1].header.stamp) == rgb_ns
        assert messages.stamp_to_ns(streams[make_bag.LABEL_TOPIC][i][1].header.stamp) == rgb_ns
        assert streams[make_bag.RGB_TOPIC][i][0] > rgb_ns  # logged after it was stamped
    periods = np.diff([messages.stamp_to_ns(m.header.stamp) for _, m in streams[make_bag.RGB_TOPIC]])
    assert np.all(np.abs(periods - 1e9 / 15) < 5e6)  # 15 Hz with sub-ms jitter


def test_make_bag_is_deterministic_and_refuses_to_overwrite(tmp_path: Path) -> None:
    args = ["make-bag", "--synthetic", "--frames", "2", "--size", "80x64", "--format", "sqlite3"]
    assert main([*args, "-o", str(tmp_path / "a")]) == 0
    assert main([*args, "-o", str(tmp_path / "b")]) == 0
    a, b = _read(tmp_path / "a"), _read(tmp_path / "b")
    assert [t for t, _ in a[make_bag.DEPTH_TOPIC]] == [t for t, _ in b[make_bag.DEPTH_TOPIC]]
    assert main([*args, "-o", str(tmp_path / "a")]) == 2


def test_make_bag_rejects_bad_size(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["make-bag", "--synthetic", "--frames", "2", "--size", "640", "-o", "x"])
    assert exit_info.value.code == 2
    assert "WxH" in capsys.readouterr().err


@pytest.mark.parametrize("codec", ["png", "rvl"])
def test_make_bag_compressed_writes_image_transport_topics(tmp_path: Path, codec: str) -> None:
    out = tmp_path / "bag"
    args = ["make-bag", "--synthetic", "--frames", "3", "--size", "80x64", "--seed", "3", "--compressed"]
    assert main([*args, "--depth-codec", codec, "--jpeg-quality", "95", "-o", str(out)]) == 0
    streams = _read(out)
    rgb_topic, depth_topic = f"{make_bag.RGB_TOPIC}/compressed", f"{make_bag.DEPTH_TOPIC}/compressedDepth"
    assert sorted(streams) == sorted((rgb_topic, depth_topic, make_bag.INFO_TOPIC, make_bag.LABEL_TOPIC))
    rgb_msg, depth_msg = streams[rgb_topic][0][1], streams[depth_topic][0][1]
    assert (rgb_msg.format, depth_msg.format) == (
        "rgb8; jpeg compressed bgr8",
        f"16UC1; compressedDepth {codec}",
    )
    sample = SyntheticScenes(size=SIZE, seed=3).frame(0)
    depth_mm = compressed.compressed_to_depth_m(depth_msg, depth_scale=1.0)
    np.testing.assert_array_equal(depth_mm, np.round(sample.depth_m * 1000))  # lossless
    rgb = compressed.compressed_to_rgb(rgb_msg).astype(np.int16)
    bgr = cv2.cvtColor(sample.rgb, cv2.COLOR_RGB2BGR)
    ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
    expected = cv2.cvtColor(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB).astype(np.int16)
    assert ok and np.abs(rgb - expected).mean() < 0.5  # the frame, JPEG-encoded at quality 95
    assert main([*args, "--jpeg-quality", "0", "-o", str(tmp_path / "bad")]) == 2
