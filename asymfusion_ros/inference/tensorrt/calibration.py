"""INT8 calibration data: camera frames fitted to the network input, checked before any build.

Calibration must see what the robot will see, through the same resizing the Segmenter does,
so frames are fitted to the network input with letterbox.to_network. The frames come from
the caller, already read (``asymfusion build-engine`` reads a folder with data/folder.py or a
rosbag with bags/frames.py); nothing here reads files but the fingerprint's ``stat``.

Why the frames are read and checked *before* the build: TensorRT calls the calibrator's
``get_batch`` from C++, and its Python wrapper catches any exception there, prints it and
takes it for "no more batches". An unreadable frame would then calibrate on a few batches or
none, report only a generic build failure, and leave partial scales in the calibration cache.
So :func:`calibration_frames` reads them all up front (a bad input raises here, naming the
frame), and :class:`CalibrationFeed`, the Python side of the calibrator, keeps whatever is
raised while feeding TensorRT, writes no cache after it, and re-raises it after the build.
None of this imports tensorrt; the calibrator class itself is a thin shell in backend.py.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from asymfusion_ros.inference.errors import EngineBuildError
from asymfusion_ros.inference.files import write_atomically
from asymfusion_ros.inference.letterbox import Frame, fit_frames

LOG = logging.getLogger(__name__)


class CalibrationSource(NamedTuple):
    """INT8 calibration frames (camera size) with their ``fingerprint`` (see :func:`fingerprint`)."""

    frames: Iterable[Frame]
    fingerprint: str
    limit: int = 200


def calibration_frames(frames: Iterable[Frame], input_size: tuple[int, int], *, limit: int) -> list[Frame]:
    """:func:`~asymfusion_ros.inference.letterbox.fit_frames`, its faults as EngineBuildError.

    All frames are read before a build starts (see the module docstring). At the shipped
    192x256 input, 200 frames take about 70 MB.
    """
    try:
        return fit_frames(frames, input_size, limit=limit)
    except ValueError as err:
        raise EngineBuildError(f"INT8 calibration {err}") from err


Upload = Callable[[Frame], list[int]]
"""Copies one network-size frame to the GPU and returns the device pointers TensorRT asked for."""


class CalibrationFeed:
    """The Python side of the INT8 calibrator: serves ``frames``, keeps the first error, owns the cache.

    TensorRT swallows exceptions raised in ``get_batch`` (see the module docstring), so
    :meth:`next_batch` catches them itself, remembers the first, and answers "no more
    batches"; :meth:`raise_error` re-raises it once ``build_serialized_network`` returns.
    """

    def __init__(self, frames: Sequence[Frame], cache_path: Path) -> None:
        self.frames = frames
        self.cache_path = cache_path
        self.served = 0
        self.error: Exception | None = None

    def next_batch(self, upload: Upload) -> list[int] | None:
        """The device pointers of the next frame, or None when all are served or feeding failed."""
        if self.error is not None or self.served >= len(self.frames):
            return None
        try:
            pointers = upload(self.frames[self.served])
        except Exception as err:  # whatever it is, TensorRT would swallow it: keep it for raise_error
            self.error = err
            return None
        self.served += 1
        return pointers

    def read_cache(self) -> bytes | None:
        """The scales of an earlier calibration on the same model and frames, if any."""
        return self.cache_path.read_bytes() if self.cache_path.is_file() else None

    def write_cache(self, data: bytes) -> None:
        """Keep the scales, unless feeding failed: partial scales would be reused by every rebuild."""
        if self.error is not None:
            LOG.warning("INT8 calibration failed: not writing the calibration cache %s", self.cache_path)
            return
        write_atomically(self.cache_path, data)

    def raise_error(self) -> None:
        """Raise what feeding TensorRT raised (EngineBuildError, chained to it), if anything did."""
        if self.error is not None:
            raise EngineBuildError(
                f"INT8 calibration failed after {self.served} of {len(self.frames)} frames: {self.error!r}"
            ) from self.error


def fingerprint(source: Path, limit: int, depth_scale: float) -> str:
    """Identifies the calibration data for the engine key: file names, sizes, mtimes, options."""
    if not source.exists():
        raise EngineBuildError(f"calibration source not found: {source}")
    try:
        files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
        digest = hashlib.sha256(f"{limit}|{depth_scale}".encode())
        for path in files:
            stat = path.stat()
            digest.update(f"{path.relative_to(source.parent)}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    except OSError as err:
        raise EngineBuildError(f"cannot list the calibration source {source}: {err}") from err
    return digest.hexdigest()[:24]
