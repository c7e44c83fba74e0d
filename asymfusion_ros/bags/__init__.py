"""Rosbags without ROS: reading, writing, and which topic is which (``rosbags``, no rclpy).

Replay, make-bag and INT8 calibration see bags only through this package, so every failure
of the storage layer reaches them as one error class, :class:`BagReadError`.
"""

from __future__ import annotations

from asymfusion_ros.bags.io import (
    LATCHED_QOS,
    BagFormat,
    BagMessage,
    BagReader,
    BagReadError,
    BagWriter,
    TopicSummary,
    typestore,
)
from asymfusion_ros.bags.topics import StreamTopics, TopicChoiceError, detect_topics

__all__ = [
    "LATCHED_QOS",
    "BagFormat",
    "BagMessage",
    "BagReadError",
    "BagReader",
    "BagWriter",
    "StreamTopics",
    "TopicChoiceError",
    "TopicSummary",
    "detect_topics",
    "typestore",
]
