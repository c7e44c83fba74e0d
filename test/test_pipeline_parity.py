"""The live node and bag replay publish the same output messages for the same input, to the byte.

Both run ``ros/frame_pipeline.py``; this checks it end to end. A bag written with rosbags is
replayed with an output bag, and its input messages are published to the live node over
real DDS (loopback), one frame at a time. Every output the node published, serialised to
CDR by rclpy, must equal what replay wrote. Fast CDR leaves alignment padding bytes unset,
so the node's CDR goes through one rosbags round trip (deserialise, serialise: padding
written as zeros) before the comparison; every field's bytes still count.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from ros_harness import OUTPUTS, Harness  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from asymfusion_ros.bags import BagReader, typestore  # noqa: E402
from asymfusion_ros.inference.pipeline import Segmenter  # noqa: E402
from asymfusion_ros.replay import make_bag  # noqa: E402
from asymfusion_ros.replay.runner import ReplayConfig, replay  # noqa: E402
from asymfusion_ros.ros.messages import stamp_to_ns  # noqa: E402

pytestmark = pytest.mark.ros

FRAMES = 4
SIZE = (48, 64)
INPUTS = {make_bag.INFO_TOPIC: CameraInfo, make_bag.DEPTH_TOPIC: Image, make_bag.RGB_TOPIC: Image}
"""The camera topics, in the order the node gets them (camera_info first, colour last)."""


@pytest.fixture()
def harness(tiny_onnx: Path) -> Iterator[Harness]:
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    h = Harness(ctx, tiny_onnx, "/parity_test")
    yield h
    h.close()
    rclpy.shutdown(context=ctx)


def _stamp(msg: Any) -> int:
    return stamp_to_ns((msg.markers[0] if hasattr(msg, "markers") else msg).header.stamp)


def _replayed(bag: Path, segmenter: Segmenter, out: Path) -> tuple[dict[tuple[str, int], bytes], str]:
    """Replay ``bag`` into ``out``: (output name, stamp) -> CDR as written, and the classes JSON."""
    report = replay(ReplayConfig(bag=bag, out=out, progress=False), segmenter)
    assert report.frames == FRAMES and not report.skipped and not report.problems
    written: dict[tuple[str, int], bytes] = {}
    with BagReader(out) as reader:
        topics = [f"/camera/segmentation/{name}" for name in (*OUTPUTS, "classes")]
        for message in reader.messages(topics):
            name, msg = message.topic.rsplit("/", 1)[1], reader.deserialize(message)
            if name == "classes":
                classes = msg.data
            else:
                written[(name, _stamp(msg))] = bytes(message.raw)
    return written, classes


def _camera_frames(bag: Path) -> list[dict[str, bytes]]:
    """The recorded CDR of each frame's camera_info, depth and colour (the i-th of each)."""
    raw: dict[str, list[bytes]] = {topic: [] for topic in INPUTS}
    with BagReader(bag) as reader:
        for message in reader.messages(list(INPUTS)):
            raw[message.topic].append(bytes(message.raw))
    return [{topic: raw[topic][i] for topic in INPUTS} for i in range(FRAMES)]


def _send(harness: Harness, info: Any, depth: Any, rgb: Any) -> None:
    """Publish one frame (again, same stamps: inputs are best effort) until every output is back."""
    stamp = stamp_to_ns(rgb.header.stamp)
    for _ in range(20):
        harness.camera.publish_messages(info=info)
        harness.wait_for(lambda: harness.node.core._camera_info is not None, 5.0, "camera_info at the node")
        harness.camera.publish_messages(rgb=rgb, depth=depth)
        try:
            harness.wait_for(lambda: all(stamp in harness.received[n] for n in OUTPUTS), 0.5, "outputs")
            return
        except AssertionError:
            continue
    raise AssertionError(f"no outputs for stamp {stamp}")


def test_node_and_replay_write_identical_messages(harness: Harness, tiny_onnx: Path, tmp_path: Path) -> None:
    bag = tmp_path / "camera"
    make_bag.write_synthetic_bag(bag, frames=FRAMES, rate_hz=30.0, size=SIZE, seed=5)
    written, classes = _replayed(bag, Segmenter.from_path(tiny_onnx, backend="onnxruntime"), tmp_path / "out")
    assert len(written) == FRAMES * len(OUTPUTS)

    for frame in _camera_frames(bag):
        _send(harness, *(deserialize_message(frame[t], cls) for t, cls in INPUTS.items()))

    store = typestore()
    for (name, stamp), replay_cdr in written.items():
        published = harness.received[name][stamp]
        msgtype = published.__class__.__module__.split(".")[0] + "/msg/" + type(published).__name__
        node_cdr = bytes(serialize_message(published))
        assert len(node_cdr) == len(replay_cdr), (name, stamp)
        canonical = bytes(store.serialize_cdr(store.deserialize_cdr(node_cdr, msgtype), msgtype))
        assert canonical == replay_cdr, (name, stamp)
    harness.wait_for(lambda: bool(harness.classes), 5.0, "segmentation/classes")
    assert harness.classes[-1] == classes
    assert not any(harness.problems().values()), harness.problems()
