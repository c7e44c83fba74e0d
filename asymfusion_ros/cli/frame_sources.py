"""Calibration frames from whatever the user names: a folder, a rosbag, or a dataset spec.

``asymfusion build-engine --calib`` (TensorRT INT8), ``asymfusion export --int8 --calib``
(ONNX Runtime static quantisation), ``asymfusion adapt --data`` (BatchNorm statistics of a
new camera) and ``asymfusion import --check-frames`` (parity on real frames) read their frames
here, so all take the same sources (and ``cli/args.py``'s ``--depth-scale``):
a folder in the ``rgb/ depth/`` layout (``data/folder.py``), a rosbag whose colour and depth
are paired as the node pairs them (``bags/frames.py``), or a dataset spec such as
``synthetic`` or ``nyudv2:PATH?depth_scale=5000`` (``data.open_dataset``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from asymfusion_ros.bags.frames import bag_frames, is_bag
from asymfusion_ros.data import open_dataset
from asymfusion_ros.data.folder import RGBDFolder
from asymfusion_ros.data.sample import DatasetError
from asymfusion_ros.inference.letterbox import Frame


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
