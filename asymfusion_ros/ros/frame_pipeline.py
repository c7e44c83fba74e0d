"""One synchronised RGB-D frame through the node's per-frame sequence, for the node and replay alike.

The sequence, written here once: decode colour and depth (``messages``) -> depth at colour
size, invalid depths zeroed (``frames.depth_like``) -> K from the latest camera_info
(``frames.intrinsics``) -> segment (``Segmenter``) -> the wanted output messages
(``outputs``), built by the caller's :class:`~asymfusion_ros.ros.messages.MessageFactory`:
rclpy's in the node, rosbags' in replay. Same input, same messages, by construction.

The callers add only what is theirs: the node QoS, threads, which outputs have subscribers
and publishing; replay reading, writing and scoring. No rclpy here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any, NamedTuple

import numpy as np

from asymfusion_ros.inference.pipeline import Segmentation, Segmenter
from asymfusion_ros.ros import frames, messages, outputs
from asymfusion_ros.ros.params import Settings
from asymfusion_ros.ros.problems import FrameProblem
from asymfusion_ros.ros.sync import DEPTH, RGB

OUTPUTS = outputs.IMAGE_OUTPUTS + outputs.CLOUD_OUTPUTS
"""Every per-frame output, by name (the topics ``segmentation/<name>``)."""


class InputError(messages.MessageError):
    """A synchronised input that cannot be decoded, so the frame is given up on.

    ``index`` is the synchroniser input at fault (``sync.RGB`` or ``sync.DEPTH``); ``problem``
    is the decoding error's.
    """

    def __init__(self, index: int, cause: messages.MessageError) -> None:
        super().__init__(str(cause))
        self.index = index
        self.problem = cause.problem


class ProcessedFrame(NamedTuple):
    """What one frame became; arrays at the colour image's size."""

    header: Any
    """The colour image's header: every output carries it."""
    stamp_ns: int
    rgb: np.ndarray
    """(H, W, 3) uint8."""
    depth_m: np.ndarray
    """(H, W) float32 metres, invalid as 0."""
    k: np.ndarray | None
    """3x3 intrinsics for (H, W); None without a usable camera_info (no cloud, no tags)."""
    segmentation: Segmentation
    messages: dict[str, Any]
    """Output name -> message, for the wanted outputs that could be built."""
    problems: tuple[FrameProblem, ...]
    """Faults survived on the way (counted by the node's diagnostics, replay's report)."""
    timings_ms: dict[str, float]
    """``decode``, the Segmenter's stages, ``segment``, then ``images``/``points`` when built."""


class FramePipeline:
    """A Segmenter and a message factory; :meth:`process` runs one frame."""

    def __init__(self, segmenter: Segmenter, factory: messages.MessageFactory) -> None:
        self.segmenter = segmenter
        self.classes = segmenter.classes
        self.palette = self.classes.palette()
        self.factory = factory

    def process(
        self,
        rgb_msg: Any,
        depth_msg: Any,
        info: Any,
        settings: Settings,
        wants: Collection[str] = OUTPUTS,
        *,
        check_intrinsics: bool = False,
    ) -> ProcessedFrame:
        """The frame's arrays, segmentation and wanted output messages (names from OUTPUTS).

        ``info`` is the latest camera_info (None before the first). K is read, and its faults
        reported, when a cloud output is wanted or ``check_intrinsics`` asks (replay scores
        every frame's inputs; the node stays quiet about a camera_info nobody needs). Raises
        InputError for an image that cannot be decoded, BackendError when inference fails.
        """
        t0 = time.perf_counter()
        rgb = _decode(RGB, messages.image_to_rgb, rgb_msg)
        depth_m = _decode(DEPTH, lambda m: messages.image_to_depth_m(m, settings.depth_scale), depth_msg)
        shape = (int(rgb.shape[0]), int(rgb.shape[1]))
        depth_m, depth_problems = frames.depth_like(depth_m, shape)
        wants_cloud = any(name in wants for name in outputs.CLOUD_OUTPUTS)
        k, k_problems = frames.intrinsics(info, shape) if wants_cloud or check_intrinsics else (None, ())
        t1 = time.perf_counter()
        segmentation = self.segmenter.segment(rgb, depth_m)
        t2 = time.perf_counter()
        timings = {"decode": (t1 - t0) * 1e3, **segmentation.timings_ms, "segment": (t2 - t1) * 1e3}

        header = rgb_msg.header
        built: dict[str, Any] = {}
        if any(name in wants for name in outputs.IMAGE_OUTPUTS):
            built.update(
                outputs.image_messages(self.factory, header, rgb, segmentation, self.palette, settings, wants)
            )
            timings["images"] = (time.perf_counter() - t2) * 1e3
        if k is not None and wants_cloud:
            t3 = time.perf_counter()
            built.update(
                outputs.cloud_messages(
                    self.factory, header, rgb, depth_m, k, segmentation, self.classes, settings, wants
                )
            )
            timings["points"] = (time.perf_counter() - t3) * 1e3
        stamp_ns = messages.stamp_to_ns(header.stamp)
        problems = (*depth_problems, *k_problems)
        return ProcessedFrame(header, stamp_ns, rgb, depth_m, k, segmentation, built, problems, timings)


def _decode(index: int, convert: Callable[[Any], np.ndarray], msg: Any) -> np.ndarray:
    try:
        return convert(msg)
    except messages.MessageError as err:
        raise InputError(index, err) from err
