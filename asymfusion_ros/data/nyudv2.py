"""NYU Depth v2 (labelled part) as RGBDSample records, from the files users actually have.

Two sources, chosen by what PATH is:

* **a folder** in the common preprocessed layout (read by :mod:`asymfusion_ros.data.folder`):
  ``rgb/ID.png|jpg``, ``depth/ID.png`` (16-bit) or ``depth/ID.npy`` (float metres),
  ``masks/ID.png`` (``labels/``, ``label40/`` also found), and ``train.txt`` / ``test.txt``
  listing ids (795 / 654 in the official split; ids are the 1-based frame indices, files
  named ``%06d``). ``val`` reads ``val.txt``, else ``test.txt`` (NYUDv2 has no validation
  split). A folder without any list is one split: all its frames.
* **the official** ``nyu_depth_v2_labeled.mat`` (HDF5, read with h5py; MATLAB stores arrays
  transposed, so images come out (3, W, H) and are transposed back). Its 894 raw classes are
  mapped to the 40 classes of Gupta et al. (CVPR 2013, ``classMapping40.mat``) with the table
  below, or with a user file (``mapping=PATH``: 894 whitespace-separated NYU40 ids, 1-based).
  Split lists ``train.txt`` / ``test.txt`` (1-based indices) next to the .mat are used when
  present (the official ``splits.mat`` is MATLAB v5, which needs scipy; convert it once).

Options follow the path after ``?``: ``nyudv2:/data/nyu?depth_scale=5000&label_offset=1``.

* ``depth_scale`` -- PNG depth units per metre: 1000 (millimetres, the default) or e.g. 5000.
* ``label_offset`` -- 0 (default): ids 0..39, 255 void; 1: ids 1..40 with 0 void (shifted down).
* ``depth`` -- for the .mat: ``raw`` (default; ``rawDepths``, holes = 0, like a live sensor) or
  ``filled`` (``depths``, in-painted).

K is the NYUv2 RGB camera scaled to the image size (frames are assumed to be full 640x480
frames, possibly resized). Every problem raises :class:`DatasetError` naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from asymfusion_ros.classes import IGNORE_INDEX
from asymfusion_ros.data.files import check_options, parse_spec
from asymfusion_ros.data.folder import RGBDFolder
from asymfusion_ros.data.sample import (
    DatasetError,
    FrameSequence,
    RGBDSample,
    check_sample,
    kinect_intrinsics,
)
from asymfusion_ros.data.transforms import fit

NUM_CLASSES = 40
RAW_CLASSES = 894

# 894 -> 40 (Gupta et al. 2013, as in the NYU toolbox's classMapping40.mat): classes 1..37 each
# come from exactly one raw class, listed in class order; 38 otherstructure and 39
# otherfurniture gather the raw classes listed for them; every other raw class is 40 otherprop.
_SINGLE_RAW = (
    21, 11, 3, 157, 5, 83, 19, 28, 59, 88, 64, 7, 80, 36, 42, 89, 169, 119, 122, 143,
    141, 4, 85, 17, 172, 15, 135, 123, 26, 45, 331, 158, 124, 24, 144, 136, 55,
)  # fmt: skip
_OTHERSTRUCTURE_RAW = (
    8, 25, 33, 38, 51, 53, 57, 58, 62, 65, 79, 94, 104, 112, 134, 153, 215, 216, 223, 225, 238, 241,
    242, 256, 295, 301, 339, 342, 354, 363, 372, 380, 392, 408, 412, 453, 456, 463, 477, 497, 541,
    550, 553, 567, 573, 582, 591, 609, 612, 615, 642, 645, 657, 658, 659, 663, 667, 668, 686, 700,
    702, 777, 778, 782, 850, 861, 868, 874,
)  # fmt: skip
_OTHERFURNITURE_RAW = (
    12, 43, 48, 50, 87, 106, 111, 161, 163, 174, 183, 204, 214, 219, 221, 224, 236, 262, 278, 291,
    298, 313, 343, 344, 356, 359, 373, 393, 401, 414, 418, 419, 430, 443, 444, 447, 448, 457, 458,
    460, 462, 475, 479, 485, 486, 493, 494, 498, 499, 509, 510, 515, 521, 524, 540, 549, 551, 554,
    556, 558, 576, 580, 608, 625, 703, 734, 770, 772, 797, 800, 803, 804, 813, 814, 815, 820, 829,
    835, 858, 863, 882, 892,
)  # fmt: skip


def raw_to_nyu40() -> np.ndarray:
    """(895,) uint8 lookup: raw NYUv2 class (0 = unlabelled) -> 0-based NYU40 id, 255 void."""
    one_based = np.full(RAW_CLASSES + 1, 40, dtype=np.int32)
    one_based[0] = 0
    one_based[list(_SINGLE_RAW)] = np.arange(1, 38)
    one_based[list(_OTHERSTRUCTURE_RAW)] = 38
    one_based[list(_OTHERFURNITURE_RAW)] = 39
    return _one_based_to_lut(one_based)


def _one_based_to_lut(one_based: np.ndarray) -> np.ndarray:
    return np.where(one_based == 0, IGNORE_INDEX, one_based - 1).astype(np.uint8)


def load_mapping(path: Path) -> np.ndarray:
    """A user 894 -> 40 table (894 NYU40 ids, 1-based, text or .npy) as a raw -> 0-based lookup."""
    try:
        values = np.load(path) if path.suffix == ".npy" else np.loadtxt(path, dtype=np.int64).ravel()
    except (OSError, ValueError) as err:
        raise DatasetError(f"cannot read class mapping {path}: {err}") from err
    values = np.asarray(values, dtype=np.int64).ravel()
    if values.size != RAW_CLASSES or values.min() < 1 or values.max() > NUM_CLASSES:
        raise DatasetError(
            f"class mapping {path}: need {RAW_CLASSES} ids in 1..{NUM_CLASSES}, got {values.size}"
        )
    return _one_based_to_lut(np.concatenate([[0], values]))


def check_labels(labels: np.ndarray, offset: int, source: str) -> np.ndarray:
    """Labels as 0-based NYU40 ids with 255 void; ``offset`` 1 means 1..40 with 0 void."""
    if offset == 1:
        labels = np.where(labels == 0, IGNORE_INDEX, labels.astype(np.int32) - 1)
    bad = (labels >= NUM_CLASSES) & (labels != IGNORE_INDEX)
    if bad.any():
        raise DatasetError(
            f"{source}: label ids {np.unique(labels[bad])[:10].tolist()} out of range "
            f"(expected 0..{NUM_CLASSES - 1} and {IGNORE_INDEX}; label_offset={offset})"
        )
    return labels.astype(np.uint8)


def _read_list(path: Path) -> list[str]:
    ids = [Path(line.split()[0]).stem for line in path.read_text().splitlines() if line.strip()]
    if not ids:
        raise DatasetError(f"split list {path} is empty")
    return ids


def _split_list(root: Path, split: str) -> Path | None:
    """The list file of ``split`` in ``root``, None if the folder has no lists at all."""
    candidates = [root / f"{split}.txt"] + ([root / "test.txt"] if split == "val" else [])
    for path in candidates:
        if path.is_file():
            return path
    if any((root / f"{name}.txt").is_file() for name in ("train", "val", "test")):
        raise DatasetError(
            f"{root}: no split list for {split!r} (looked for {', '.join(map(str, candidates))})"
        )
    return None


class NYUDv2Folder(FrameSequence):
    """The preprocessed folder layout (see the module docstring)."""

    def __init__(
        self,
        root: str | Path,
        split: str = "test",
        *,
        depth_scale: float = 1000.0,
        label_offset: int = 0,
        size: tuple[int, int] | None = None,
        frames: int | None = None,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"NYUDv2 folder not found: {self.root}")
        if label_offset not in (0, 1) or depth_scale <= 0:
            raise DatasetError(
                f"need label_offset 0 or 1 and depth_scale > 0, got {label_offset}, {depth_scale}"
            )
        self.folder = RGBDFolder(self.root, depth_scale=1.0 / depth_scale)
        self.label_offset = label_offset
        self.size = size
        listing = _split_list(self.root, split)
        self.ids = _read_list(listing) if listing is not None else self.folder.names()
        self.ids = self.ids[:frames]
        if not self.ids:
            raise DatasetError(f"{self.root}: no frames for split {split!r}")

    def __len__(self) -> int:
        return len(self.ids)

    def _load(self, index: int) -> RGBDSample:
        return self.load(self.ids[index])

    def load(self, frame_id: str) -> RGBDSample:
        """One frame by id, at ``size`` if one was given."""
        paths = self.folder.paths(frame_id)
        rgb = self.folder.read_rgb(paths.rgb)
        depth = self.folder.read_depth(paths.depth)
        labels = None
        if paths.labels is not None:
            labels = check_labels(self.folder.read_labels(paths.labels), self.label_offset, str(paths.labels))
        for path, shape in (
            (paths.depth, depth.shape),
            (paths.labels, None if labels is None else labels.shape),
        ):
            if shape is not None and shape != rgb.shape[:2]:
                raise DatasetError(
                    f"{path}: size {shape[::-1]} differs from {paths.rgb} {rgb.shape[1::-1]} (W, H)"
                )
        sample = check_sample(
            RGBDSample(rgb, depth, labels, kinect_intrinsics(rgb.shape[:2])), str(paths.rgb)
        )
        return sample if self.size is None else fit(sample, self.size)


class NYUDv2Mat(FrameSequence):
    """The official ``nyu_depth_v2_labeled.mat`` (1449 frames), opened lazily per process."""

    def __init__(
        self,
        path: str | Path,
        split: str = "test",
        *,
        depth: str = "raw",
        mapping: str | Path | None = None,
        size: tuple[int, int] | None = None,
        frames: int | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DatasetError(f"NYUDv2 .mat not found: {self.path}")
        if depth not in ("raw", "filled"):
            raise DatasetError(f"depth must be 'raw' or 'filled', got {depth!r}")
        self.depth_key = "rawDepths" if depth == "raw" else "depths"
        self.lut = raw_to_nyu40() if mapping is None else load_mapping(Path(mapping))
        self.size = size
        self._file: Any = None
        self._pid = -1
        count = int(self._h5()["images"].shape[0])
        listing = _split_list(self.path.parent, split)
        if listing is None:
            self.indices = list(range(count))
        else:
            try:
                self.indices = [int(i) - 1 for i in _read_list(listing)]
            except ValueError as err:
                raise DatasetError(f"{listing}: ids must be 1-based frame indices: {err}") from err
            if min(self.indices) < 0 or max(self.indices) >= count:
                raise DatasetError(f"{listing}: indices outside 1..{count}")
        self.indices = self.indices[:frames]

    def _h5(self) -> Any:
        if self._file is None or self._pid != os.getpid():  # h5py handles do not survive a fork
            import h5py

            try:
                self._file = h5py.File(self.path, "r")
            except OSError as err:
                raise DatasetError(f"cannot open {self.path} as HDF5 (MATLAB v7.3): {err}") from err
            self._pid = os.getpid()
            missing = [k for k in ("images", self.depth_key, "labels") if k not in self._file]
            if missing:
                raise DatasetError(f"{self.path}: missing datasets {missing}")
        return self._file

    def __getstate__(self) -> dict[str, Any]:
        """Pickle (for spawned data-loader workers) without the open HDF5 handle."""
        state = dict(self.__dict__)
        state["_file"], state["_pid"] = None, -1
        return state

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> NYUDv2Mat:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self.indices)

    def _load(self, index: int) -> RGBDSample:
        f = self._h5()
        i = self.indices[index]
        rgb = np.ascontiguousarray(np.asarray(f["images"][i]).transpose(2, 1, 0)).astype(np.uint8)
        depth = np.ascontiguousarray(np.asarray(f[self.depth_key][i], dtype=np.float32).T)
        raw = np.ascontiguousarray(np.asarray(f["labels"][i]).T)
        source = f"{self.path}[{i + 1}]"
        if raw.max() > RAW_CLASSES:
            raise DatasetError(f"{source}: raw label {int(raw.max())} beyond {RAW_CLASSES}")
        sample = RGBDSample(rgb, depth, self.lut[raw], kinect_intrinsics(rgb.shape[:2]))
        check_sample(sample, source)
        return sample if self.size is None else fit(sample, self.size)


def open_nyudv2(
    spec: str, *, split: str, size: tuple[int, int] | None, frames: int | None = None
) -> Sequence[RGBDSample]:
    """Open ``PATH[?option=value&...]`` (see the module docstring) for ``split``."""
    path, options = parse_spec(spec, {"depth", "mapping", "depth_scale", "label_offset"})
    try:
        if path.suffix == ".mat":
            check_options(options, {"depth", "mapping"}, spec)
            return NYUDv2Mat(
                path,
                split,
                depth=options.get("depth", "raw"),
                mapping=options.get("mapping"),
                size=size,
                frames=frames,
            )
        else:
            check_options(options, {"depth_scale", "label_offset"}, spec)
            return NYUDv2Folder(
                path,
                split,
                depth_scale=float(options.get("depth_scale", 1000.0)),
                label_offset=int(options.get("label_offset", 0)),
                size=size,
                frames=frames,
            )
    except ValueError as err:
        if isinstance(err, DatasetError):
            raise
        raise DatasetError(f"bad option value in {spec!r}: {err}") from err
