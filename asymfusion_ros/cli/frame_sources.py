"""Calibration frames from whatever the user names: a folder, a rosbag, or a dataset spec.

``asymfusion build-engine --calib`` (TensorRT INT8), ``asymfusion export --int8 --calib``
(ONNX Runtime static quantisation) and ``asymfusion adapt --data`` (BatchNorm statistics of a
new camera) read their frames here, so all take the same sources:
a folder in the ``rgb/ depth/`` layout (``data/folder.py``), a rosbag whose colour and depth
are paired as the node pairs them (``bags/frames.py``), or a dataset spec such as
``synthetic`` or ``nyudv2:PATH?depth_scale=5000`` (``data.open_dataset``).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

from asymfusion_ros.bags.frames import bag_frames, is_bag
from asymfusion_ros.data import open_dataset
from asymfusion_ros.data.folder import RGBDFolder
from asymfusion_ros.data.sample import DatasetError
from asymfusion_ros.inference.letterbox import Frame

DEFAULT_DEPTH_SCALE = 0.001
"""Metres per unit of 16-bit depth: millimetres, as most RGB-D drivers publish."""


def add_depth_scale_argument(
    parser: argparse.ArgumentParser, what: str = "a folder's 16-bit depth images or a bag's 16UC1 depth"
) -> None:
    """``--depth-scale``, as every command that reads frames here takes it."""
    parser.add_argument(
        "--depth-scale",
        type=float,
        default=DEFAULT_DEPTH_SCALE,
        help=f"metres per unit of {what} ({DEFAULT_DEPTH_SCALE}: mm)",
    )


def camera_frames(
    source: str | Path, depth_scale: float, size: tuple[int, int] | None = None, count: int | None = None
) -> Iterator[Frame]:
    """(rgb, depth_m) camera frames of ``source``, read lazily.

    ``depth_scale`` (metres per unit) applies to a folder's 16-bit depth images and a bag's
    16UC1 depth; a spec carries its own. ``size`` (H, W) and ``count`` are for a dataset spec,
    whose frames are made at that size (the synthetic generator has no camera size of its
    own). Raises DatasetError when the source is neither an existing path nor a known spec
    (and, lazily, for unreadable files); BagReadError for an unreadable bag.
    """
    path = Path(source)
    if path.exists():
        if is_bag(path):
            return bag_frames(path, depth_scale)
        return RGBDFolder(path, depth_scale).camera_frames()
    spec = str(source)
    if spec != "synthetic" and ":" not in spec:
        raise DatasetError(f"calibration source not found: {source}")
    if size is None:
        raise DatasetError(f"a dataset spec ({spec}) needs a frame size; give a folder or a bag here")
    samples = open_dataset(spec, split="train" if spec == "synthetic" else "test", size=size, frames=count)
    return ((sample.rgb, sample.depth_m) for sample in samples)
