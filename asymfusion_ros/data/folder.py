"""The RGB-D folder layout, read in one place for NYUDv2 folders, ``camera --folder`` and INT8 calibration.

::

    ROOT/rgb/NAME.png|jpg|jpeg   colour (``image/`` or ``images/`` also found)
    ROOT/depth/NAME.png          16-bit, ``depth_scale`` metres per unit (0.001: millimetres)
    ROOT/depth/NAME.npy          or float metres (``depths/`` also found)
    ROOT/masks/NAME.png          optional label ids as stored (``labels/``, ``label40/``, ``labels40/``)

The files of one frame share their NAME (the stem); a numeric id also finds its zero-padded
6-digit name (NYUv2 files are ``%06d``). Depth holes stay 0 (NaN/inf in a .npy become 0).
Every problem raises :class:`DatasetError` naming the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from asymfusion_ros.data.files import read_image, read_rgb
from asymfusion_ros.data.sample import DatasetError

RGB_SUFFIXES = (".png", ".jpg", ".jpeg")
DEPTH_SUFFIXES = (".png", ".npy")
LABEL_SUFFIXES = (".png",)
RGB_DIRS = ("rgb", "image", "images")
DEPTH_DIRS = ("depth", "depths")
LABEL_DIRS = ("masks", "labels", "label40", "labels40")


class FramePaths(NamedTuple):
    """The files of one frame; ``labels`` is None in a folder without masks."""

    rgb: Path
    depth: Path
    labels: Path | None


def _subdir(root: Path, names: tuple[str, ...]) -> Path:
    for name in names:
        if (root / name).is_dir():
            return root / name
    raise DatasetError(f"{root}: no {' / '.join(names)} folder")


class RGBDFolder:
    """A folder in the layout above; ``depth_scale``: metres per unit of 16-bit depth PNGs."""

    def __init__(self, root: str | Path, depth_scale: float = 0.001) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"RGB-D folder not found: {self.root}")
        if not depth_scale > 0:
            raise DatasetError(f"depth_scale must be > 0 metres per unit, got {depth_scale}")
        self.depth_scale = float(depth_scale)
        self.rgb_dir = _subdir(self.root, RGB_DIRS)
        self.depth_dir = _subdir(self.root, DEPTH_DIRS)
        self.label_dir = next((self.root / n for n in LABEL_DIRS if (self.root / n).is_dir()), None)

    def names(self) -> list[str]:
        """Every colour image's NAME, sorted (depth and masks are looked up per frame)."""
        return sorted(p.stem for p in self.rgb_dir.iterdir() if p.suffix.lower() in RGB_SUFFIXES)

    def paired_names(self) -> list[str]:
        """The NAMEs that have both a colour image and a depth file, sorted."""
        return [
            n for n in self.names() if any((self.depth_dir / f"{n}{s}").is_file() for s in DEPTH_SUFFIXES)
        ]

    def paths(self, name: str) -> FramePaths:
        """The files of frame ``name``; a missing file raises (masks too, in a folder that has them)."""
        rgb = _find(self.rgb_dir, name, RGB_SUFFIXES)
        depth = _find(self.depth_dir, name, DEPTH_SUFFIXES)
        labels = None if self.label_dir is None else _find(self.label_dir, name, LABEL_SUFFIXES)
        return FramePaths(rgb, depth, labels)

    def read_rgb(self, path: Path) -> np.ndarray:
        """(H, W, 3) uint8 RGB."""
        return read_rgb(path)

    def read_depth(self, path: Path) -> np.ndarray:
        """(H, W) float32 metres, at the file's own size; holes 0."""
        if path.suffix == ".npy":
            try:
                depth = np.load(path)
            except (OSError, ValueError) as err:
                raise DatasetError(f"cannot read depth {path}: {err}") from err
            if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.floating):
                raise DatasetError(
                    f"{path}: depth .npy must be (H, W) float metres, got {depth.shape} {depth.dtype}"
                )
            return np.nan_to_num(depth.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        raw = read_image(path, cv2.IMREAD_UNCHANGED)
        if raw.dtype != np.uint16 or raw.ndim != 2:
            raise DatasetError(
                f"{path}: depth PNG must be 16-bit single channel, got {raw.dtype} {raw.shape}"
            )
        return raw.astype(np.float32) * np.float32(self.depth_scale)

    def read_labels(self, path: Path) -> np.ndarray:
        """(H, W) label ids exactly as stored (the dataset decides what they mean)."""
        raw = read_image(path, cv2.IMREAD_UNCHANGED)
        if raw.ndim != 2:
            raise DatasetError(f"{path}: labels must be a single-channel image, got shape {raw.shape}")
        return raw

    def camera_frames(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(rgb, depth_m) of every paired frame, depth at the colour size (nearest), read lazily.

        Raises at once, before reading any image, when the folder has no pair at all.
        """
        names = self.paired_names()
        if not names:
            raise DatasetError(
                f"no rgb/NAME{'|'.join(RGB_SUFFIXES)} with a matching "
                f"depth/NAME{'|'.join(DEPTH_SUFFIXES)} in {self.root}"
            )
        return (self._camera_frame(name) for name in names)

    def _camera_frame(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        rgb = self.read_rgb(_find(self.rgb_dir, name, RGB_SUFFIXES))
        depth = self.read_depth(_find(self.depth_dir, name, DEPTH_SUFFIXES))
        if depth.shape != rgb.shape[:2]:
            depth = cv2.resize(depth, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST)
        return rgb, depth


def _find(folder: Path, name: str, suffixes: tuple[str, ...]) -> Path:
    """The file of frame ``name`` in ``folder`` (as written, or zero-padded to 6 digits)."""
    names = [name]
    if name.isdigit():
        names.append(f"{int(name):06d}")
    for stem in names:
        for suffix in suffixes:
            path = folder / f"{stem}{suffix}"
            if path.is_file():
                return path
    raise DatasetError(f"missing file for frame {name!r} in {folder} (tried {', '.join(suffixes)})")
