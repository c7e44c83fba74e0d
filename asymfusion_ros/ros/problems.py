"""The closed set of faults a frame can survive or die of, shared by the node and replay (no rclpy).

One ``Enum`` so the message conversions (``messages.MessageError.problem``), the frame checks
(``frames``), the node's ``/diagnostics`` counters and replay's report all name a fault the
same way; the values are the diagnostics keys and the report's ``problems`` keys.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple


class Problem(str, Enum):
    """Each kind of bad input or failure the node survives; each has its own counter."""

    UNSUPPORTED_ENCODING = "unsupported_encoding"
    TRUNCATED_DATA = "truncated_data"
    EMPTY_IMAGE = "empty_image"
    BAD_MESSAGE = "bad_message"
    DECODE_ERROR = "decode_error"  # compressed bytes that do not decode (ros/compressed.py)
    OVERSIZED_INPUT = "oversized_input"  # claims more pixels than max_input_pixels (messages.check_pixels)
    MISSING_CAMERA_INFO = "missing_camera_info"
    INVALID_DEPTH = "invalid_depth"
    CLOCK_JUMP = "clock_jump"
    SIZE_MISMATCH = "size_mismatch"
    UNREGISTERED_DEPTH = "unregistered_depth"  # not in colour pixels, not registered (ros/depth_input.py)
    INFERENCE_ERROR = "inference_error"


class FrameProblem(NamedTuple):
    """One fault found in a frame that was still processed, and what exactly was wrong."""

    problem: Problem
    detail: str
