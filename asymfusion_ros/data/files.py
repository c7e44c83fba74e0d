"""What every file-backed dataset loader needs: dataset specs with options, images read with a
:class:`DatasetError` that names the file.

A spec is ``NAME:PATH[?key=value&...]``; the loaders in :mod:`.nyudv2`, :mod:`.cityscapes` and
:mod:`.sunrgbd` receive the part after ``NAME:``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from asymfusion_ros.data.sample import DatasetError


def parse_spec(spec: str, allowed: set[str]) -> tuple[Path, dict[str, str]]:
    """``PATH?key=value&...`` -> (path, options); options outside ``allowed`` are refused."""
    path_text, _, query = spec.partition("?")
    options: dict[str, str] = {}
    for item in filter(None, query.split("&")):
        key, sep, value = item.partition("=")
        if not sep:
            raise DatasetError(f"bad option {item!r} in {spec!r}: expected key=value")
        options[key] = value
    check_options(options, allowed, spec)
    return Path(path_text).expanduser(), options


def check_options(options: dict[str, str], allowed: set[str], spec: str) -> None:
    unknown = set(options) - allowed
    if unknown:
        raise DatasetError(f"unknown option(s) {sorted(unknown)} in {spec!r}; allowed: {sorted(allowed)}")


def read_image(path: Path, flags: int) -> np.ndarray:
    """``cv2.imread`` that raises DatasetError naming ``path`` when the file is missing or not an image."""
    image = cv2.imread(str(path), flags)
    if image is None:
        raise DatasetError(f"cannot read image {path}")
    return image


def read_rgb(path: Path) -> np.ndarray:
    """An 8-bit colour image as (H, W, 3) RGB."""
    image = read_image(path, cv2.IMREAD_COLOR)
    if image.dtype != np.uint8:
        raise DatasetError(f"{path}: colour image must be 8-bit, got {image.dtype}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_single_channel(path: Path, dtype: type, what: str) -> np.ndarray:
    """A one-channel image of ``dtype`` (a label map, 16-bit depth or disparity)."""
    image = read_image(path, cv2.IMREAD_UNCHANGED)
    if image.ndim != 2 or image.dtype != dtype:
        raise DatasetError(
            f"{path}: {what} must be single-channel {np.dtype(dtype).name}, got {image.dtype} {image.shape}"
        )
    return image


def same_size(reference: Path, shape: tuple[int, ...], *others: tuple[Path, tuple[int, ...]]) -> None:
    """Refuse files whose (H, W) differs from ``reference``'s."""
    for path, other in others:
        if other[:2] != shape[:2]:
            raise DatasetError(f"{path}: size {other[1::-1]} differs from {reference} {shape[1::-1]} (W, H)")
