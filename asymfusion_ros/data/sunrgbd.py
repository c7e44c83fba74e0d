"""SUN RGB-D as RGBDSample records, from the per-scene folders of the official release.

Each scene folder (e.g. ``SUNRGBD/kv1/NYUdata/NYU0001``) holds::

    image/NAME.jpg        colour image (sizes differ by sensor: 640x480, 730x530, 681x...)
    depth/NAME.png        16-bit depth, bits rotated: mm = (v >> 3) | (v << 13) (16 bits kept),
                          as the SUNRGBD toolbox's read3dPoints.m undoes it; 0 = no return
    intrinsics.txt        the 3x3 K of that image, row-major (9 numbers)
    label37/NAME.png      37-class labels, 1..37 with 0 = unlabelled (also found: ``label/``)

The 37 classes are the first 37 of NYU40 in the same order (wall ... bag), so labels come out as
NYU40 ids 0..36 with 255 void and a model of the ``nyu40`` class set trains on them unchanged.
The official 37-class labels ship inside ``SUNRGBD2Dseg.mat``; write them out once per scene
as ``label37/*.png`` (option ``label_offset=0`` for PNGs already holding 0..36 with 255 void).

Scenes are found by their ``intrinsics.txt`` anywhere under ROOT; ``train.txt`` /
``test.txt`` (``val.txt``, else test, for ``val``) at ROOT list scene folders relative to
ROOT (the official 5285 / 5050 split of ``allsplit.mat``, converted once). Option
``depth=filled`` reads ``depth_bfx/`` (the toolbox's in-painted depth) instead of ``depth/``.
Every malformed file raises :class:`DatasetError` naming it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from asymfusion_ros.classes import IGNORE_INDEX
from asymfusion_ros.data.files import read_rgb, read_single_channel, same_size
from asymfusion_ros.data.sample import DatasetError, FrameSequence, RGBDSample, check_sample
from asymfusion_ros.data.transforms import fit

NUM_CLASSES = 37


def unrotate_depth(raw: np.ndarray) -> np.ndarray:
    """Depth in metres (float32, 0 = no return) from a SUN RGB-D 16-bit depth PNG."""
    v = raw.astype(np.uint32)
    mm = ((v >> 3) | (v << 13)) & 0xFFFF
    return (mm.astype(np.float32) / np.float32(1000.0)).astype(np.float32)


def read_intrinsics(path: Path) -> np.ndarray:
    """K (3x3) from a scene's ``intrinsics.txt``."""
    try:
        values = np.loadtxt(path, dtype=np.float64).ravel()
    except (OSError, ValueError) as err:
        raise DatasetError(f"cannot read intrinsics {path}: {err}") from err
    if values.size != 9 or values[0] <= 0 or values[4] <= 0:
        raise DatasetError(f"{path}: need a 3x3 matrix with fx, fy > 0, got {values.tolist()}")
    return values.reshape(3, 3)


def _only_file(folder: Path, suffixes: tuple[str, ...]) -> Path:
    """The one image in ``folder`` (a SUN RGB-D scene has one frame)."""
    if not folder.is_dir():
        raise DatasetError(f"SUN RGB-D scene without {folder.name}/: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes)
    if len(files) != 1:
        raise DatasetError(f"{folder}: expected one {'/'.join(suffixes)} file, found {len(files)}")
    return files[0]


class SUNRGBD(FrameSequence):
    """One split of a SUN RGB-D root (see the module docstring)."""

    def __init__(
        self,
        root: str | Path,
        split: str = "test",
        *,
        size: tuple[int, int] | None = None,
        frames: int | None = None,
        depth: str = "raw",
        label_offset: int = 1,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"SUN RGB-D folder not found: {self.root}")
        if depth not in ("raw", "filled") or label_offset not in (0, 1):
            raise DatasetError(
                f"need depth 'raw' or 'filled' and label_offset 0 or 1, got {depth}, {label_offset}"
            )
        self.depth_dir = "depth" if depth == "raw" else "depth_bfx"
        self.label_offset, self.size = label_offset, size
        lists = [self.root / f"{split}.txt"] + ([self.root / "test.txt"] if split == "val" else [])
        listing = next((p for p in lists if p.is_file()), None)
        if listing is not None:
            names = [line.split()[0].strip("/") for line in listing.read_text().splitlines() if line.strip()]
            self.scenes = [self.root / name for name in names]
            missing = [s for s in self.scenes if not (s / "intrinsics.txt").is_file()]
            if missing:
                raise DatasetError(f"{listing}: no scene (intrinsics.txt) at {missing[0]}")
        else:
            self.scenes = sorted(p.parent for p in self.root.rglob("intrinsics.txt"))
        self.scenes = self.scenes[:frames]
        if not self.scenes:
            raise DatasetError(
                f"{self.root}: no SUN RGB-D scenes (folders with intrinsics.txt) for {split!r}"
            )

    def __len__(self) -> int:
        return len(self.scenes)

    def _labels(self, scene: Path) -> tuple[Path, np.ndarray]:
        folder = next((scene / n for n in ("label37", "label") if (scene / n).is_dir()), scene / "label37")
        path = _only_file(folder, (".png",))
        raw = read_single_channel(path, np.uint8, "labels")
        if self.label_offset == 1:
            bad = raw > NUM_CLASSES
            labels = np.where(raw == 0, IGNORE_INDEX, raw.astype(np.int32) - 1).astype(np.uint8)
        else:
            bad = (raw >= NUM_CLASSES) & (raw != IGNORE_INDEX)
            labels = raw
        if bad.any():
            expected = "1..37 and 0" if self.label_offset == 1 else "0..36 and 255"
            raise DatasetError(f"{path}: label ids {np.unique(raw[bad])[:10].tolist()} outside {expected}")
        return path, labels

    def _load(self, index: int) -> RGBDSample:
        scene = self.scenes[index]
        rgb_path = _only_file(scene / "image", (".jpg", ".jpeg", ".png"))
        rgb = read_rgb(rgb_path)
        depth_path = _only_file(scene / self.depth_dir, (".png",))
        depth = unrotate_depth(read_single_channel(depth_path, np.uint16, "depth"))
        label_path, labels = self._labels(scene)
        same_size(rgb_path, rgb.shape, (depth_path, depth.shape), (label_path, labels.shape))
        k = read_intrinsics(scene / "intrinsics.txt")
        sample = check_sample(RGBDSample(rgb, depth, labels, k), str(rgb_path))
        return sample if self.size is None else fit(sample, self.size)
