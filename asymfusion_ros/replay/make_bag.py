"""``asymfusion make-bag``: a rosbag2 of our synthetic RGB-D camera, with ground truth.

The bag looks like a recording of a real driver (RealSense-style topic names): colour and
depth are stamped a few milliseconds apart with small jitter, camera_info shares the colour
stamp, and messages are logged a little after their stamps, as a recorder receives them.
Ground-truth labels ride along on ``/camera/segmentation/ground_truth`` (mono8, 255 = void)
with the colour stamp, so ``asymfusion replay`` can score a model anywhere, no robot needed.
With ``--compressed`` colour and depth are stored as a robot usually records them: JPEG on
``<colour topic>/compressed`` and 16UC1 compressedDepth (PNG, or RVL) on
``<depth topic>/compressedDepth``, image_transport's names and formats.
"""

from __future__ import annotations

import argparse
import heapq
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from asymfusion_ros.bags import BagFormat, BagReadError, BagWriter, typestore
from asymfusion_ros.cli.args import image_size
from asymfusion_ros.data.sample import RGBDSample
from asymfusion_ros.data.synthetic import SyntheticScenes
from asymfusion_ros.ros import compressed
from asymfusion_ros.ros.compressed import Transport, transport_topic
from asymfusion_ros.ros.messages import build_camera_info, build_header, build_image, rosbags_factory

FRAME_ID = "camera_color_optical_frame"
RGB_TOPIC = "/camera/color/image_raw"
DEPTH_TOPIC = "/camera/depth/image_raw"
INFO_TOPIC = "/camera/color/camera_info"
LABEL_TOPIC = "/camera/segmentation/ground_truth"

START_NS = 1_700_000_000 * 1_000_000_000
"""Stamp of the first frame: a fixed wall-clock time, so equal arguments give equal bags."""

DEPTH_OFFSET_NS = 4_000_000
"""Depth is exposed this long after colour (plus jitter), as on unsynchronised RGB-D cameras."""


class Compression(NamedTuple):
    """How ``--compressed`` stores the images: JPEG colour at a quality, depth as PNG or RVL."""

    jpeg_quality: int = 90
    depth_codec: str = "png"


class StampedMessage(NamedTuple):
    """A message with its recording time (``log_ns``) for writing in recording order."""

    log_ns: int
    order: int  # tie-break so heapq never compares messages
    topic: str
    msg: Any


def frame_messages(
    sample: RGBDSample, rgb_ns: int, depth_ns: int, compression: Compression | None = None
) -> list[tuple[str, int, Any]]:
    """(topic, stamp_ns, message) of one camera frame: colour, camera_info, depth (16UC1 mm), labels;
    colour and depth as CompressedImage on their transport topics when ``compression`` is given."""
    factory = rosbags_factory(typestore())
    rgb_header = build_header(factory, rgb_ns, FRAME_ID)
    depth_header = build_header(factory, depth_ns, FRAME_ID)
    depth_mm = np.round(sample.depth_m * 1000.0).clip(0, 65535).astype(np.uint16)
    height, width = sample.rgb.shape[:2]
    if compression is None:
        rgb = (RGB_TOPIC, rgb_ns, build_image(factory, rgb_header, sample.rgb, "rgb8"))
        depth = (DEPTH_TOPIC, depth_ns, build_image(factory, depth_header, depth_mm, "16UC1"))
    else:
        jpeg = compressed.encode_rgb(sample.rgb, "jpeg", quality=compression.jpeg_quality)
        depth_bytes = compressed.encode_depth(depth_mm, compression.depth_codec)
        rgb = (transport_topic(RGB_TOPIC, Transport.COMPRESSED), rgb_ns,
               compressed.build_compressed_image(factory, rgb_header, *jpeg))  # fmt: skip
        depth = (transport_topic(DEPTH_TOPIC, Transport.COMPRESSED_DEPTH), depth_ns,
                 compressed.build_compressed_image(factory, depth_header, *depth_bytes))  # fmt: skip
    out = [rgb, (INFO_TOPIC, rgb_ns, build_camera_info(factory, rgb_header, sample.K, height, width)), depth]
    if sample.labels is not None:
        out.append((LABEL_TOPIC, rgb_ns, build_image(factory, rgb_header, sample.labels, "mono8")))
    return out


def synthetic_messages(
    frames: int, rate_hz: float, size: tuple[int, int], seed: int, compression: Compression | None = None
) -> Iterator[StampedMessage]:
    """Every message of the synthetic recording, in recording (log time) order."""
    scenes = SyntheticScenes(size=size, seed=seed)
    rng = np.random.default_rng(seed)
    period_ns = round(1e9 / rate_hz)
    pending: list[StampedMessage] = []
    order = 0
    for index in range(frames):
        base_ns = START_NS + index * period_ns
        rgb_ns = base_ns + int(rng.normal(0.0, 0.5e6))
        depth_ns = rgb_ns + DEPTH_OFFSET_NS + int(rng.normal(0.0, 1.0e6))
        for topic, stamp_ns, msg in frame_messages(scenes.frame(index), rgb_ns, depth_ns, compression):
            transport_ns = int(rng.uniform(3e6, 12e6))  # driver + DDS delay before the recorder sees it
            heapq.heappush(pending, StampedMessage(stamp_ns + transport_ns, order, topic, msg))
            order += 1
        # Nothing of later frames can be logged before the next frame's nominal time.
        while pending and pending[0].log_ns < base_ns + period_ns:
            yield heapq.heappop(pending)
    while pending:
        yield heapq.heappop(pending)


def write_synthetic_bag(
    out: Path,
    *,
    frames: int,
    rate_hz: float = 30.0,
    size: tuple[int, int] = (480, 640),
    seed: int = 0,
    fmt: BagFormat = BagFormat.MCAP,
    compression: Compression | None = None,
) -> dict[str, int]:
    """Write the synthetic recording to ``out`` (a new rosbag2 directory); message counts by topic."""
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    if rate_hz <= 0:
        raise ValueError(f"rate must be > 0 Hz, got {rate_hz}")
    with BagWriter(out, fmt) as writer:
        for message in synthetic_messages(frames, rate_hz, size, seed, compression):
            writer.write(message.topic, message.msg, message.log_ns)
        return dict(writer.counts)


# Example command lines, shown at the end of this subcommand's --help (cli/__init__.py).
EXAMPLES: tuple[str, ...] = (
    "asymfusion make-bag --synthetic --frames 150 --rate 15 --seed 7 -o synthetic_bag",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--synthetic",
        action="store_true",
        required=True,
        help="frames from the synthetic scene generator (the only source for now)",
    )
    parser.add_argument("--frames", type=int, required=True, help="number of camera frames")
    parser.add_argument("--rate", type=float, default=30.0, help="frame rate in Hz (default 30)")
    parser.add_argument(
        "--size", type=image_size, default=(480, 640), metavar="WxH", help="image size (default 640x480)"
    )
    parser.add_argument("--seed", type=int, default=0, help="scene seed (same seed, same bag)")
    parser.add_argument(
        "--format",
        choices=[f.value for f in BagFormat],
        default=BagFormat.MCAP.value,
        help="rosbag2 storage (default mcap)",
    )
    parser.add_argument(
        "--compressed",
        action="store_true",
        help="colour as JPEG on <topic>/compressed, depth as compressedDepth on <topic>/compressedDepth",
    )
    parser.add_argument(
        "--depth-codec", choices=("png", "rvl"), default="png", help="compressedDepth codec (default png)"
    )
    parser.add_argument("--jpeg-quality", type=int, default=90, help="JPEG quality 1-100 (default 90)")
    parser.add_argument("-o", "--out", type=Path, required=True, help="bag directory to create")


def run(args: argparse.Namespace) -> int:
    if args.out.exists():
        print(f"make-bag: {args.out} exists already, not overwriting", file=sys.stderr)
        return 2
    if not 1 <= args.jpeg_quality <= 100:
        print(f"make-bag: --jpeg-quality must be within 1-100, got {args.jpeg_quality}", file=sys.stderr)
        return 2
    try:
        counts = write_synthetic_bag(
            args.out,
            frames=args.frames,
            rate_hz=args.rate,
            size=args.size,
            seed=args.seed,
            fmt=BagFormat(args.format),
            compression=Compression(args.jpeg_quality, args.depth_codec) if args.compressed else None,
        )
    except ValueError as err:
        print(f"make-bag: {err}", file=sys.stderr)
        return 2
    except BagReadError as err:
        print(f"make-bag: {err}", file=sys.stderr)
        return 1
    for topic, count in counts.items():
        print(f"{topic}: {count}")
    print(f"wrote {args.out} ({args.format})")
    return 0
