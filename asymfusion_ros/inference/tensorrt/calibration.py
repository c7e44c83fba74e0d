"""RGB-D frames for INT8 calibration, from a folder of images or from a rosbag.

Calibration must see what the robot will see, through the same resizing the Segmenter does,
so frames are fitted to the network input with pipeline.to_network. Numpy/cv2 only: the
TensorRT calibrator (tensorrt_backend.py) just copies these arrays to the GPU.

Folder layout (the NYUv2 one): ``rgb/NAME.png|jpg`` with ``depth/NAME.png`` (16-bit,
``depth_scale`` metres per unit: 0.001 for millimetres) or ``depth/NAME.npy`` (float32 metres).
A bag: any rosbag2 / rosbag1 the bags module reads, colour and depth topics detected.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from asymfusion_ros.inference.errors import BackendError
from asymfusion_ros.inference.pipeline import Fit, to_network

RGB_SUFFIXES = (".png", ".jpg", ".jpeg")
BAG_SUFFIXES = (".mcap", ".db3", ".bag")
MAX_PAIR_SKEW_NS = 50_000_000  # colour and depth further apart than this are not one frame
RGB, DEPTH = 0, 1  # synchroniser inputs


def is_bag(source: Path) -> bool:
    return source.suffix in BAG_SUFFIXES or (source.is_dir() and (source / "metadata.yaml").is_file())


def _colour_sized(depth_m: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Depth at the colour image's (H, W), nearest-neighbour: no invented depths at edges."""
    if depth_m.shape == shape:
        return depth_m
    return cv2.resize(depth_m, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)


def _folder_pairs(folder: Path) -> list[tuple[Path, Path]]:
    pairs = []
    for rgb_path in sorted(p for p in (folder / "rgb").glob("*") if p.suffix.lower() in RGB_SUFFIXES):
        for suffix in (".png", ".npy"):
            depth_path = folder / "depth" / f"{rgb_path.stem}{suffix}"
            if depth_path.is_file():
                pairs.append((rgb_path, depth_path))
                break
    return pairs


def _read_folder(folder: Path, depth_scale: float) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    pairs = _folder_pairs(folder)
    if not pairs:
        raise BackendError(
            f"no calibration frames in {folder}: need rgb/NAME.png with depth/NAME.png or .npy"
        )
    for rgb_path, depth_path in pairs:
        bgr = cv2.imread(str(rgb_path), cv2.IMREAD_COLOR)
        if depth_path.suffix == ".npy":
            depth = np.load(depth_path).astype(np.float32)
        else:
            raw = cv2.imread(str(depth_path), cv2.IMREAD_UNCHANGED)
            depth = None if raw is None else raw.astype(np.float32) * np.float32(depth_scale)
        if bgr is None or depth is None or depth.ndim != 2:
            raise BackendError(f"unreadable calibration pair {rgb_path} / {depth_path}")
        yield np.ascontiguousarray(bgr[..., ::-1]), _colour_sized(depth, bgr.shape[:2])


def _read_bag(path: Path, depth_scale: float) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Colour and depth images paired when stamps are within MAX_PAIR_SKEW_NS (either may come first).

    The node's synchroniser pairs them, holding only the latest image of each stream
    (queue size 1); its slop is strict, hence one nanosecond past the inclusive skew.
    """
    from asymfusion_ros.bags import BagReader, BagReadError, detect_topics
    from asymfusion_ros.ros.messages import image_to_depth_m, image_to_rgb, stamp_to_ns
    from asymfusion_ros.ros.sync import ApproximateTimeSync

    pairs: deque[tuple[Any, Any]] = deque()
    sync = ApproximateTimeSync(2, 1, (MAX_PAIR_SKEW_NS + 1) / 1e9, lambda *pair: pairs.append(pair))
    try:
        with BagReader(path) as bag:
            topics = detect_topics(bag)
            for message in bag.messages([topics.rgb, topics.depth]):
                msg = bag.deserialize(message)
                index = DEPTH if message.topic == topics.depth else RGB
                sync.add(index, stamp_to_ns(msg.header.stamp), msg)
                while pairs:
                    rgb_msg, depth_msg = pairs.popleft()
                    rgb = image_to_rgb(rgb_msg)
                    yield rgb, _colour_sized(image_to_depth_m(depth_msg, depth_scale), rgb.shape[:2])
    except (BagReadError, ValueError) as err:  # ValueError: MessageError of an unusable image
        raise BackendError(f"cannot read calibration bag {path}: {err}") from err


def calibration_frames(
    source: Path, input_size: tuple[int, int], *, limit: int = 200, depth_scale: float = 0.001
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Up to ``limit`` (rgb, depth_m) frames from ``source``, fitted to the network ``input_size``."""
    if not source.exists():
        raise BackendError(f"calibration source not found: {source}")
    frames = _read_bag(source, depth_scale) if is_bag(source) else _read_folder(source, depth_scale)
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
