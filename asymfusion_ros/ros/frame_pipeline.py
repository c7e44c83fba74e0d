"""One synchronised RGB-D frame through the node's per-frame sequence, for the node and replay alike.

The sequence, written here once: decode colour and depth, raw or compressed, each within
its decode budget (``depth_input.decode_rgb``/``decode_depth_m``) -> depth in colour pixels:
resized, or registered when it is another camera's (``depth_input.align_depth``), invalid depths zeroed
-> K from the latest camera_info (``frames.intrinsics``) -> segment (``Segmenter``) -> the
wanted output messages (``outputs``), built by the caller's
:class:`~asymfusion_ros.ros.messages.MessageFactory`: rclpy's in the node, rosbags' in
replay. Same input, same messages, by construction. The decoding half (``read_inputs``) and
the network half (``FramePipeline.complete``) are apart so that replay comparing models
decodes each frame once and completes it once per model.

The callers add only what is theirs: the node QoS, threads, which outputs have subscribers
and publishing; replay reading, writing and scoring. No rclpy here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any, NamedTuple, TypeVar

import numpy as np

from asymfusion_ros.inference.pipeline import Segmentation, Segmenter
from asymfusion_ros.registration import DepthRegistration
from asymfusion_ros.ros import frames, messages, outputs
from asymfusion_ros.ros.depth_input import (
    DepthCamera,
    align_depth,
    decode_depth_m,
    decode_rgb,
    is_compressed,
    pixel_budget,
)
from asymfusion_ros.ros.params import Settings
from asymfusion_ros.ros.problems import FrameProblem
from asymfusion_ros.ros.sync import DEPTH, RGB

T = TypeVar("T")

NO_DEPTH_CAMERA = DepthCamera()
"""Neither a depth camera_info nor an extrinsic: registered depth is resized, unregistered refused."""

OUTPUTS = outputs.IMAGE_OUTPUTS + outputs.CLOUD_OUTPUTS
"""Every per-frame output of node and replay, by name (the topics ``segmentation/<name>``)."""
NODE_OUTPUTS = (*OUTPUTS, outputs.COMPRESSED_OVERLAY)
"""The node's: OUTPUTS and the overlay's JPEG for remote operators."""


class InputError(messages.MessageError):
    """A synchronised input that cannot be decoded, so the frame is given up on.

    ``index`` is the synchroniser input at fault (``sync.RGB`` or ``sync.DEPTH``); ``problem``
    is the decoding error's.
    """

    def __init__(self, index: int, cause: messages.MessageError) -> None:
        super().__init__(str(cause))
        self.index = index
        self.problem = cause.problem


class FrameInputs(NamedTuple):
    """A frame's decoded inputs, before any network: what several models of a replay share."""

    header: Any
    """The colour image's header: every output carries it."""
    stamp_ns: int
    rgb: np.ndarray
    """(H, W, 3) uint8."""
    depth_m: np.ndarray
    """(H, W) float32 metres, invalid as 0."""
    k: np.ndarray | None
    """3x3 intrinsics for (H, W); None when not read or without a usable camera_info."""
    problems: tuple[FrameProblem, ...]
    timings_ms: dict[str, float]
    """``decompress`` (compressed inputs only), ``decode``, ``register`` (registered depth only)."""


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
    """``decompress`` (compressed inputs only), ``decode``, ``register`` (registered depth only), the
    Segmenter's stages, ``segment``, then ``images``/``points`` when built; no stage holds another."""


def read_inputs(
    rgb_msg: Any,
    depth_msg: Any,
    info: Any,
    settings: Settings,
    *,
    read_k: bool,
    depth_camera: DepthCamera = NO_DEPTH_CAMERA,
) -> FrameInputs:
    """Decode colour and depth, each within its decode budget, put depth in colour pixels, and
    read K when ``read_k``.

    Raises InputError for an image that cannot be decoded, claims more than the decode budget
    (``settings.max_input_pixels``, at most 4x its camera_info: ``depth_input.pixel_budget``)
    or is depth that cannot be put in colour pixels.
    """
    t0 = time.perf_counter()
    max_pixels = settings.max_input_pixels
    rgb = _decode(RGB, lambda m: decode_rgb(m, pixel_budget(max_pixels, info)), rgb_msg)
    depth_info = info if depth_camera.info is None else depth_camera.info
    depth_budget = pixel_budget(max_pixels, depth_info)
    depth_m = _decode(DEPTH, lambda m: decode_depth_m(m, settings.depth_scale, depth_budget), depth_msg)
    t_decoded = time.perf_counter()
    shape = (int(rgb.shape[0]), int(rgb.shape[1]))
    mode = DepthRegistration(settings.depth_registration)
    depth_m, depth_problems, registered = _decode(
        DEPTH, lambda m: align_depth(depth_m, shape, rgb_msg.header, m.header, info, depth_camera, mode),
        depth_msg,
    )  # fmt: skip
    t_aligned = time.perf_counter()
    k, k_problems = frames.intrinsics(info, shape) if read_k else (None, ())
    timings = _input_timings(is_compressed(rgb_msg) or is_compressed(depth_msg), registered,
                             (t0, t_decoded, t_aligned, time.perf_counter()))  # fmt: skip
    header = rgb_msg.header
    stamp_ns = messages.stamp_to_ns(header.stamp)
    return FrameInputs(header, stamp_ns, rgb, depth_m, k, (*depth_problems, *k_problems), timings)


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
        depth_camera: DepthCamera = NO_DEPTH_CAMERA,
    ) -> ProcessedFrame:
        """The frame's arrays, segmentation and wanted output messages (names from OUTPUTS).

        ``rgb_msg``/``depth_msg`` are Image or CompressedImage messages. ``info`` is the latest
        colour camera_info (None before the first); ``depth_camera`` the depth camera's
        camera_info and extrinsic, for depth that needs registering. K is read, and its faults
        reported, when a cloud output is wanted or ``check_intrinsics`` asks (replay scores
        every frame's inputs; the node stays quiet about a camera_info nobody needs). Raises
        InputError as :func:`read_inputs` does, BackendError when inference fails.
        """
        wants_cloud = any(name in wants for name in outputs.CLOUD_OUTPUTS)
        inputs = read_inputs(
            rgb_msg,
            depth_msg,
            info,
            settings,
            read_k=wants_cloud or check_intrinsics,
            depth_camera=depth_camera,
        )
        return self.complete(inputs, settings, wants)

    def complete(
        self, inputs: FrameInputs, settings: Settings, wants: Collection[str] = OUTPUTS
    ) -> ProcessedFrame:
        """Segment decoded inputs and build the wanted output messages: the second half of
        :meth:`process`, which replay runs once per model on inputs decoded once."""
        header, rgb, depth_m, k = inputs.header, inputs.rgb, inputs.depth_m, inputs.k
        t1 = time.perf_counter()
        segmentation = self.segmenter.segment(rgb, depth_m)
        t2 = time.perf_counter()
        timings = {**inputs.timings_ms, **segmentation.timings_ms, "segment": (t2 - t1) * 1e3}

        built: dict[str, Any] = {}
        if any(name in wants for name in (*outputs.IMAGE_OUTPUTS, outputs.COMPRESSED_OVERLAY)):
            built.update(
                outputs.image_messages(self.factory, header, rgb, segmentation, self.palette, settings, wants)
            )
            timings["images"] = (time.perf_counter() - t2) * 1e3
        if k is not None and any(name in wants for name in outputs.CLOUD_OUTPUTS):
            t3 = time.perf_counter()
            built.update(
                outputs.cloud_messages(
                    self.factory, header, rgb, depth_m, k, segmentation, self.classes, settings, wants
                )
            )
            timings["points"] = (time.perf_counter() - t3) * 1e3
        return ProcessedFrame(
            header, inputs.stamp_ns, rgb, depth_m, k, segmentation, built, inputs.problems, timings
        )


def _input_timings(
    decompressed: bool, registered: bool, marks: tuple[float, float, float, float]
) -> dict[str, float]:
    """The input stages in ms from (start, decoded, aligned, K read): decoding of compressed bytes
    is ``decompress``, registration ``register``, the rest ``decode`` (raw frames: all of it)."""
    start, decoded, aligned, done = marks
    timings = {"decompress": (decoded - start) * 1e3} if decompressed else {}
    register_ms = (aligned - decoded) * 1e3 if registered else 0.0
    timings["decode"] = (done - start) * 1e3 - timings.get("decompress", 0.0) - register_ms
    if registered:
        timings["register"] = register_ms
    return timings


def _decode(index: int, convert: Callable[[Any], T], msg: Any) -> T:
    try:
        return convert(msg)
    except messages.MessageError as err:
        raise InputError(index, err) from err
