"""Depth in the colour camera's pixels, whichever transport and camera it came from (no rclpy).

Two steps of the frame pipeline, written once for the node and replay:

- :func:`decode_rgb` / :func:`decode_depth_m`: an image message of either transport to an
  array, dispatched on its type (a ``sensor_msgs/CompressedImage`` has ``format``, an
  ``Image`` has ``encoding``), so the pipeline takes whatever the node subscribed to or the bag
  holds. Each is given a decode budget (:func:`pixel_budget`) that the size the message claims
  must fit before a pixel is decoded.
- :func:`align_depth`: depth brought to the colour image. Registered depth (same frame, K
  scaled) is resized as before (``frames.depth_like``). Unregistered depth is registered
  (``registration.register_depth``) under ``depth_registration: auto``, refused under ``off``
  with the driver option that aligns it, and trusted under ``assume_registered`` (no check).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from asymfusion_ros.registration import DepthRegistration, PinholeCamera, register_depth, unregistered_reason
from asymfusion_ros.ros import compressed, frames, messages
from asymfusion_ros.ros.problems import FrameProblem, Problem
from asymfusion_ros.ros.transforms import TransformError, quaternion_to_matrix


def is_compressed(msg: Any) -> bool:
    """A sensor_msgs/CompressedImage (``format`` and ``data``, no ``encoding``)."""
    return hasattr(msg, "format") and not hasattr(msg, "encoding")


def pixel_budget(max_pixels: int, info: Any) -> int:
    """The decode budget of an image whose camera_info is ``info`` (None: not known yet).

    ``max_pixels`` (the node's ``max_input_pixels``), and never more than messages.CAMERA_INFO_SLACK
    times what a known camera_info declares: a frame far larger than its own calibration is a
    lie, and refused before it is decoded. A camera_info of size 0 (uncalibrated) says nothing.
    """
    declared = int(info.width) * int(info.height) if info is not None else 0
    return min(max_pixels, messages.CAMERA_INFO_SLACK * declared) if declared > 0 else max_pixels


def decode_rgb(msg: Any, max_pixels: int) -> np.ndarray:
    """A colour Image or CompressedImage -> (H, W, 3) uint8 RGB; MessageError when it cannot,
    OversizedInputError (before decoding) when it claims more than ``max_pixels``."""
    if is_compressed(msg):
        return compressed.compressed_to_rgb(msg, max_pixels=max_pixels)
    return messages.image_to_rgb(msg, max_pixels=max_pixels)


def decode_depth_m(msg: Any, depth_scale: float, max_pixels: int) -> np.ndarray:
    """A depth Image or compressedDepth CompressedImage -> (H, W) float32 metres (as decode_rgb)."""
    if is_compressed(msg):
        return compressed.compressed_to_depth_m(msg, depth_scale, max_pixels=max_pixels)
    return messages.image_to_depth_m(msg, depth_scale, max_pixels=max_pixels)


class UnregisteredDepthError(messages.MessageError):
    """Depth that is not in the colour camera's pixels and cannot or may not be registered."""

    problem = Problem.UNREGISTERED_DEPTH


Extrinsic = Callable[[str, str], np.ndarray]
"""(colour frame, depth frame) -> the 4x4 depth->colour matrix; raises TransformError when unknown."""


def extrinsic_from_pose(pose: tuple[float, ...]) -> Extrinsic:
    """A fixed extrinsic from x y z (metres) qx qy qz qw: the depth frame's pose in the colour frame."""
    matrix = np.eye(4)
    matrix[:3, :3] = quaternion_to_matrix(*pose[3:7])
    matrix[:3, 3] = pose[:3]
    return lambda _colour_frame, _depth_frame: matrix


class DepthCamera(NamedTuple):
    """What the caller knows of the depth camera beside its image (node: topics; replay: the bag)."""

    info: Any = None
    """The latest depth camera_info (None before the first, or where nobody records it)."""
    extrinsic: Extrinsic | None = None
    """Where the depth->colour transform comes from (None: nowhere)."""


ALIGN_HINT = (
    "enable the driver's depth alignment (RealSense align_depth.enable:=true, Orbbec "
    "depth_registration:=true; see config/cameras.yaml) or set depth_registration:=auto"
)


def _camera(header: Any, info: Any) -> PinholeCamera:
    return PinholeCamera(
        str(header.frame_id), messages.camera_info_to_k(info), int(info.width), int(info.height)
    )


def _unregistered(rgb_header: Any, depth_header: Any, info: Any, depth_info: Any) -> str | None:
    """Why depth is not in colour pixels; None when it is or when nothing says otherwise."""
    if str(depth_header.frame_id) != str(rgb_header.frame_id):
        return (
            f"depth frame {str(depth_header.frame_id)!r} is not the colour frame {str(rgb_header.frame_id)!r}"
        )
    if info is None or depth_info is None:
        return None  # same frame and no K to compare: registered as far as anyone can tell
    return unregistered_reason(_camera(depth_header, depth_info), _camera(rgb_header, info))


def align_depth(
    depth_m: np.ndarray,
    shape: tuple[int, int],
    rgb_header: Any,
    depth_header: Any,
    info: Any,
    depth: DepthCamera,
    mode: DepthRegistration,
) -> tuple[np.ndarray, tuple[FrameProblem, ...], bool]:
    """(depth at colour ``shape`` with invalid as 0, problems, whether it was registered).

    ``info`` is the colour camera_info. Raises UnregisteredDepthError when depth is not in
    the colour camera's pixels and ``mode`` is off, or registration lacks a camera_info or
    the extrinsic.
    """
    reason = (
        None
        if mode is DepthRegistration.ASSUME_REGISTERED
        else _unregistered(rgb_header, depth_header, info, depth.info)
    )
    if reason is None:
        aligned, problems = frames.depth_like(depth_m, shape)
        return aligned, problems, False
    if mode is DepthRegistration.OFF:
        raise UnregisteredDepthError(f"depth is not registered to colour ({reason}); {ALIGN_HINT}")
    missing = [
        name
        for name, value in (("rgb/camera_info", info), ("depth/camera_info", depth.info))
        if value is None
    ]
    if missing:
        raise UnregisteredDepthError(f"cannot register depth ({reason}): no {' or '.join(missing)} yet")
    colour_k, k_problems = frames.intrinsics(info, shape)
    if colour_k is None:
        raise UnregisteredDepthError(f"cannot register depth ({reason}): {k_problems[0].detail}")
    if depth.extrinsic is None:
        raise UnregisteredDepthError(f"cannot register depth ({reason}): no depth->colour extrinsic")
    if depth_m.shape != (int(depth.info.height), int(depth.info.width)):
        raise UnregisteredDepthError(
            f"cannot register depth ({reason}): the image is {depth_m.shape[1]}x{depth_m.shape[0]}, "
            f"its camera_info {depth.info.width}x{depth.info.height}"
        )
    try:
        depth_to_colour = depth.extrinsic(str(rgb_header.frame_id), str(depth_header.frame_id))
        depth_k = messages.camera_info_to_k(depth.info)
        registered = register_depth(depth_m, depth_k, colour_k, (shape[1], shape[0]), depth_to_colour)
    except (TransformError, ValueError) as err:  # no chain on /tf_static; a K that projects nothing
        raise UnregisteredDepthError(f"cannot register depth ({reason}): {err}") from err
    aligned, problems = frames.depth_like(registered, shape)
    return aligned, problems, True  # K's own faults are the pipeline's to report (frames.intrinsics)
