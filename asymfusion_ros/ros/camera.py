"""``asymfusion camera``: a stand-in RGB-D camera publishing synthetic or recorded frames.

Publishes, with one header per frame (the clock's now, ``--frame-id``), what an RGB-D
driver with depth registered to colour publishes: ``rgb/image`` (rgb8), ``depth/image``
(16UC1 millimetres) and ``rgb/camera_info`` (K, plumb_bob without distortion). Frames are
rendered (or read) once, before publishing starts, and then looped, so the publishing rate
does not depend on how fast the renderer is.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from asymfusion_ros.cli.args import image_size
from asymfusion_ros.data.folder import RGBDFolder
from asymfusion_ros.data.sample import DatasetError, RGBDSample, kinect_intrinsics, scale_intrinsics
from asymfusion_ros.inference.letterbox import resize_frame
from asymfusion_ros.ros import messages

DEFAULT_FRAME_ID = "camera_color_optical_frame"


class CameraError(ValueError):
    """Frames cannot be produced: a bad size, an empty or unreadable folder."""


def synthetic_frames(size: tuple[int, int], count: int, seed: int = 0) -> list[RGBDSample]:
    """``count`` consecutive synthetic frames (a camera moving through one room, then the next)."""
    from asymfusion_ros.data.synthetic import SyntheticScenes

    scenes = SyntheticScenes(size, seed)
    return [scenes.frame(i) for i in range(count)]


def folder_frames(
    folder: Path, size: tuple[int, int] | None, depth_scale: float, k: np.ndarray | None = None
) -> list[RGBDSample]:
    """The colour/depth pairs of an RGB-D folder (data/folder.py: ``rgb/NAME.png``, ``depth/NAME.png``).

    Depth PNGs hold ``depth_scale`` metres per unit (0.001: millimetres; NYUv2 samples:
    0.0002). K defaults to the NYUv2 (Kinect) camera scaled to the image size.
    """
    try:
        pairs = list(RGBDFolder(folder, depth_scale).camera_frames())
    except DatasetError as err:
        raise CameraError(str(err)) from err
    frames = []
    for rgb, depth_m in pairs:
        frame_k = k if k is not None else kinect_intrinsics(rgb.shape[:2])
        if size is not None and size != rgb.shape[:2]:
            frame_k = scale_intrinsics(frame_k, size[1] / rgb.shape[1], size[0] / rgb.shape[0])
            rgb, depth_m = resize_frame(rgb, depth_m, size)
        frames.append(RGBDSample(rgb, depth_m, None, frame_k))
    return frames


class FramePublisher:
    """Publishes RGBDSample frames as an RGB-D driver would, on a node the caller owns."""

    def __init__(self, node: Any, frame_id: str = DEFAULT_FRAME_ID, qos: Any = 5) -> None:
        from sensor_msgs.msg import CameraInfo, Image

        self._node = node
        self.frame_id = frame_id
        self._factory = messages.rclpy_factory()
        self._rgb = node.create_publisher(Image, "rgb/image", qos)
        self._depth = node.create_publisher(Image, "depth/image", qos)
        self._info = node.create_publisher(CameraInfo, "rgb/camera_info", qos)

    def publish(self, frame: RGBDSample, stamp_ns: int | None = None) -> Any:
        """Publish one frame stamped ``stamp_ns`` (default: the node clock's now); returns the header."""
        if stamp_ns is None:
            stamp_ns = int(self._node.get_clock().now().nanoseconds)
        header = messages.build_header(self._factory, stamp_ns, self.frame_id)
        height, width = frame.depth_m.shape
        depth_mm = np.clip(np.nan_to_num(frame.depth_m) * 1000.0 + 0.5, 0, 65535).astype(np.uint16)
        self.publish_messages(
            rgb=messages.build_image(self._factory, header, frame.rgb),
            depth=messages.build_image(self._factory, header, depth_mm, "16UC1"),
            info=messages.build_camera_info(self._factory, header, frame.K, height, width),
        )
        return header

    def publish_messages(self, rgb: Any = None, depth: Any = None, info: Any = None) -> None:
        """Publish ready-made messages (camera_info first, colour last, as drivers tend to)."""
        for msg, publisher in ((info, self._info), (depth, self._depth), (rgb, self._rgb)):
            if msg is not None:
                publisher.publish(msg)

    def matched(self) -> bool:
        """True once every camera topic has a subscriber (best-effort messages sent before are lost)."""
        return all(p.get_subscription_count() > 0 for p in (self._rgb, self._depth, self._info))


# Example command lines, shown at the end of this subcommand's --help (cli/__init__.py).
EXAMPLES: tuple[str, ...] = (
    "asymfusion camera --synthetic --rate 15 --size 640x480",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--synthetic", action="store_true", help="synthetic indoor scenes (the default)")
    source.add_argument("--folder", type=Path, help="folder with rgb/NAME.png and depth/NAME.png pairs")
    parser.add_argument("--rate", type=float, default=15.0, help="frames per second (default 15)")
    parser.add_argument("--size", type=image_size, default=(480, 640), help="WIDTHxHEIGHT (default 640x480)")
    parser.add_argument(
        "--frame-id", default=DEFAULT_FRAME_ID, help=f"header frame_id (default {DEFAULT_FRAME_ID})"
    )
    parser.add_argument(
        "--frames", type=int, default=0, help="stop after publishing N frames (default: run on)"
    )
    parser.add_argument(
        "--loop", type=int, default=30, help="distinct synthetic frames rendered, then looped"
    )
    parser.add_argument("--seed", type=int, default=0, help="synthetic scene seed")
    parser.add_argument("--depth-scale", type=float, default=0.001, help="folder depth PNG metres per unit")
    parser.add_argument(
        "--ros-args", nargs=argparse.REMAINDER, default=[], help="remaps etc. passed to rclpy"
    )


def load_frames(args: argparse.Namespace) -> list[RGBDSample]:
    size = args.size
    if args.folder is not None:
        return folder_frames(args.folder, size, args.depth_scale)
    if args.loop < 1:
        raise CameraError(f"--loop must be >= 1, got {args.loop}")
    return synthetic_frames(size, args.loop, args.seed)


def run(args: argparse.Namespace) -> int:
    import rclpy

    if not args.rate > 0:
        print(f"--rate must be > 0, got {args.rate}", file=sys.stderr)
        return 2
    try:
        frames = load_frames(args)
    except CameraError as err:
        print(err, file=sys.stderr)
        return 2
    rclpy.init(args=["asymfusion_camera", "--ros-args", *args.ros_args] if args.ros_args else None)
    node = None
    try:
        node = rclpy.create_node("asymfusion_camera")
        camera = FramePublisher(node, args.frame_id)
        published = 0

        def tick() -> None:
            nonlocal published
            camera.publish(frames[published % len(frames)])
            published += 1

        node.create_timer(1.0 / args.rate, tick)
        height, width = args.size
        node.get_logger().info(
            f"publishing {len(frames)} looped frames at {args.rate:g} Hz ({width}x{height})"
        )
        while rclpy.ok() and not (args.frames and published >= args.frames):
            rclpy.spin_once(node, timeout_sec=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
