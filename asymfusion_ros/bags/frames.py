"""Colour and depth frames out of a rosbag, paired as the node pairs them (INT8 calibration input).

Colour and depth images are paired when their stamps are within :data:`MAX_PAIR_SKEW_NS`
(either may come first), by the node's synchroniser holding only the latest image of each
stream (queue size 1); its slop is strict, hence one nanosecond past the inclusive skew.
Depth is brought to the colour size as the node brings it (ros/frames.py).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from asymfusion_ros.bags.io import BagReader, BagReadError
from asymfusion_ros.bags.topics import detect_topics
from asymfusion_ros.ros import frames, messages
from asymfusion_ros.ros.depth_input import decode_depth_m, decode_rgb
from asymfusion_ros.ros.sync import ApproximateTimeSync

BAG_SUFFIXES = (".mcap", ".db3", ".bag")
MAX_PAIR_SKEW_NS = 50_000_000  # colour and depth further apart than this are not one frame


def is_bag(source: Path) -> bool:
    """A bag file, or a rosbag2 folder (one with ``metadata.yaml``)."""
    return source.suffix in BAG_SUFFIXES or (source.is_dir() and (source / "metadata.yaml").is_file())


def bag_frames(path: Path, depth_scale: float = 0.001) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(rgb (H, W, 3) uint8, depth_m (H, W) float32 metres) of each pair, in bag order.

    ``depth_scale``: metres per unit of 16UC1 depth images. A bag that cannot be read, lacks a
    colour or depth stream, or holds an image that cannot be converted raises BagReadError.
    """
    pairs: deque[tuple[Any, Any]] = deque()
    sync = ApproximateTimeSync(2, 1, (MAX_PAIR_SKEW_NS + 1) / 1e9, lambda *pair: pairs.append(pair))
    with BagReader(path) as bag:
        topics = detect_topics(bag)
        streams = (topics.rgb, topics.depth)  # the synchroniser's inputs, in this order
        for message in bag.messages(streams):
            msg = bag.deserialize(message)
            sync.add(streams.index(message.topic), messages.stamp_to_ns(msg.header.stamp), msg)
            while pairs:
                rgb_msg, depth_msg = pairs.popleft()
                try:
                    # raw or compressed, as detect_topics found them; the node's default budget
                    rgb = decode_rgb(rgb_msg, messages.DEFAULT_MAX_INPUT_PIXELS)
                    depth_m = decode_depth_m(depth_msg, depth_scale, messages.DEFAULT_MAX_INPUT_PIXELS)
                except messages.MessageError as err:
                    raise BagReadError(
                        f"{path}: an image on {', '.join(streams)} is unusable: {err}"
                    ) from err
                depth_m, _problems = frames.depth_like(depth_m, rgb.shape[:2])  # none to count here
                yield rgb, depth_m
