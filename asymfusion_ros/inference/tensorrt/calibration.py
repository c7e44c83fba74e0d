"""INT8 calibration data: camera frames fitted to the network input, and what identifies them.

Calibration must see what the robot will see, through the same resizing the Segmenter does,
so frames are fitted to the network input with letterbox.to_network. Numpy/cv2 only: the
TensorRT calibrator (backend.py) just copies these arrays to the GPU. The frames come from
the caller, already read (``asymfusion build-engine`` reads a folder with data/folder.py or a
rosbag with bags/frames.py); nothing here reads files but the fingerprint's ``stat``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import NamedTuple

import numpy as np

from asymfusion_ros.inference.letterbox import Fit, to_network

Frame = tuple[np.ndarray, np.ndarray]
"""(rgb (H, W, 3) uint8, depth_m (H, W) float32 metres), at camera or network size."""


class CalibrationSource(NamedTuple):
    """INT8 calibration frames (camera size) with their ``fingerprint`` (see :func:`fingerprint`)."""

    frames: Iterable[Frame]
    fingerprint: str
    limit: int = 200


def calibration_frames(
    frames: Iterable[Frame], input_size: tuple[int, int], *, limit: int
) -> Iterator[Frame]:
    """Up to ``limit`` camera ``frames`` fitted to the network ``input_size``."""
    for rgb, depth in islice(frames, limit):
        fit = Fit.of((int(rgb.shape[0]), int(rgb.shape[1])), input_size)
        yield to_network(rgb, depth, fit, input_size)


def fingerprint(source: Path, limit: int, depth_scale: float) -> str:
    """Identifies the calibration data for the engine key: file names, sizes, mtimes, options."""
    files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    digest = hashlib.sha256(f"{limit}|{depth_scale}".encode())
    for path in files:
        stat = path.stat()
        digest.update(f"{path.relative_to(source.parent)}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:24]
