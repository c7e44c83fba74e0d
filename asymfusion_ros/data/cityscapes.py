"""Cityscapes as RGB-D: left images, depth from the stereo disparity, 19 training classes.

The layout is the official download's (``leftImg8bit_trainvaltest.zip``,
``disparity_trainvaltest.zip``, ``camera_trainvaltest.zip``, ``gtFine_trainvaltest.zip``)::

    ROOT/leftImg8bit/SPLIT/CITY/CITY_SEQ_FRAME_leftImg8bit.png
    ROOT/disparity/SPLIT/CITY/CITY_SEQ_FRAME_disparity.png
    ROOT/camera/SPLIT/CITY/CITY_SEQ_FRAME_camera.json
    ROOT/gtFine/SPLIT/CITY/CITY_SEQ_FRAME_gtFine_labelTrainIds.png   (or ..._labelIds.png)

* Disparity: 16-bit PNG, value p > 0 means disparity d = (p - 1) / 256 pixels, p = 0 invalid
  (the Cityscapes README). Depth in metres = baseline x fx / d, with ``baseline`` (m) and
  ``fx`` (px) from the frame's ``camera/*.json`` (``extrinsic.baseline``, ``intrinsic.fx``).
  Depths beyond ``max_depth`` (default 100 m; option ``max_depth=``) count as no return.
* Labels: ``labelTrainIds`` (0..18, 255 ignore; made by the cityscapesScripts
  ``createTrainIdLabelImgs``), else ``labelIds`` mapped to train ids with the official table.
  Ids are those of the ``cityscapes19`` class set (``config/classes/cityscapes19.yaml``).
* K from the camera file (fx, fy, u0, v0), so crops and resizes keep the projection right.

Splits ``train``, ``val``, ``test`` (test labels are not public: all ignore). Open with
``open_dataset("cityscapes:ROOT", split=..., size=(H, W))``; frames are scaled to cover
``size`` and centre-cropped (a 2:1 size such as 512x1024 keeps the whole frame). Every
malformed file raises :class:`DatasetError` naming it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from asymfusion_ros.classes import IGNORE_INDEX
from asymfusion_ros.data.files import read_rgb, read_single_channel, same_size
from asymfusion_ros.data.sample import DatasetError, FrameSequence, RGBDSample, check_sample
from asymfusion_ros.data.transforms import fit

NUM_CLASSES = 19

_TRAIN_ID_OF_LABEL_ID = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
    23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}  # fmt: skip
"""cityscapesScripts ``labels.py``: label id -> train id; every other id is ignored."""


def label_ids_to_train_ids() -> np.ndarray:
    """(256,) uint8 lookup: Cityscapes label id -> train id 0..18, 255 ignore."""
    lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    for label_id, train_id in _TRAIN_ID_OF_LABEL_ID.items():
        lut[label_id] = train_id
    return lut


def read_camera(path: Path) -> tuple[float, np.ndarray]:
    """(baseline in metres, K) from a Cityscapes ``camera/*.json``."""
    try:
        data = json.loads(path.read_text())
        baseline = float(data["extrinsic"]["baseline"])
        intr = data["intrinsic"]
        fx, fy, u0, v0 = (float(intr[k]) for k in ("fx", "fy", "u0", "v0"))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DatasetError(f"cannot read camera file {path}: {err!r}") from err
    if baseline <= 0 or fx <= 0 or fy <= 0:
        raise DatasetError(f"{path}: baseline and focal lengths must be > 0, got {baseline}, {fx}, {fy}")
    return baseline, np.array([[fx, 0.0, u0], [0.0, fy, v0], [0.0, 0.0, 1.0]])


def disparity_to_depth(raw: np.ndarray, baseline_m: float, fx: float, max_depth_m: float) -> np.ndarray:
    """Depth (float32 metres, 0 = invalid) from Cityscapes' 16-bit disparity PNG values."""
    disparity = (raw.astype(np.float32) - 1.0) / np.float32(256.0)
    with np.errstate(divide="ignore"):
        depth = np.float32(baseline_m * fx) / disparity
    return np.where((raw > 1) & (depth <= max_depth_m), depth, np.float32(0.0)).astype(np.float32)


class Cityscapes(FrameSequence):
    """One split of a Cityscapes root (see the module docstring)."""

    def __init__(
        self,
        root: str | Path,
        split: str = "val",
        *,
        size: tuple[int, int] | None = None,
        frames: int | None = None,
        max_depth_m: float = 100.0,
    ) -> None:
        self.root = Path(root)
        images = self.root / "leftImg8bit" / split
        if not images.is_dir():
            raise DatasetError(f"Cityscapes: no folder {images}")
        if max_depth_m <= 0:
            raise DatasetError(f"max_depth must be > 0, got {max_depth_m}")
        self.split, self.size, self.max_depth_m = split, size, float(max_depth_m)
        self.stems = sorted(
            str(p.relative_to(images))[: -len("_leftImg8bit.png")] for p in images.glob("*/*_leftImg8bit.png")
        )[:frames]
        if not self.stems:
            raise DatasetError(f"Cityscapes: no *_leftImg8bit.png under {images}")
        self.lut = label_ids_to_train_ids()

    def __len__(self) -> int:
        return len(self.stems)

    def _path(self, kind: str, stem: str, suffix: str) -> Path:
        return self.root / kind / self.split / f"{stem}_{suffix}"

    def _labels(self, stem: str) -> tuple[Path, np.ndarray]:
        train_ids = self._path("gtFine", stem, "gtFine_labelTrainIds.png")
        if train_ids.is_file():
            labels = read_single_channel(train_ids, np.uint8, "labelTrainIds")
            bad = (labels >= NUM_CLASSES) & (labels != IGNORE_INDEX)
            if bad.any():
                raise DatasetError(
                    f"{train_ids}: train ids {np.unique(labels[bad])[:10].tolist()} outside 0..18 and 255"
                )
            return train_ids, labels
        label_ids = self._path("gtFine", stem, "gtFine_labelIds.png")
        if not label_ids.is_file():
            raise DatasetError(f"Cityscapes: no labels for {stem}: neither {train_ids} nor {label_ids}")
        return label_ids, self.lut[read_single_channel(label_ids, np.uint8, "labelIds")]

    def _load(self, index: int) -> RGBDSample:
        stem = self.stems[index]
        rgb_path = self._path("leftImg8bit", stem, "leftImg8bit.png")
        rgb = read_rgb(rgb_path)
        disparity_path = self._path("disparity", stem, "disparity.png")
        raw = read_single_channel(disparity_path, np.uint16, "disparity")
        baseline, k = read_camera(self._path("camera", stem, "camera.json"))
        depth = disparity_to_depth(raw, baseline, float(k[0, 0]), self.max_depth_m)
        label_path, labels = self._labels(stem)
        same_size(rgb_path, rgb.shape, (disparity_path, raw.shape), (label_path, labels.shape))
        sample = check_sample(RGBDSample(rgb, depth, labels, k), str(rgb_path))
        return sample if self.size is None else fit(sample, self.size)
