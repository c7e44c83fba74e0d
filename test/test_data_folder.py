"""The one reader of the rgb/depth folder layout (data/folder.py), on tiny folders written here."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from asymfusion_ros.data.folder import RGBDFolder
from asymfusion_ros.data.sample import DatasetError


def _write(
    root: Path, name: str, *, rgb_dir: str = "rgb", suffix: str = ".png", size: tuple[int, int] = (6, 8)
) -> None:
    (root / rgb_dir).mkdir(parents=True, exist_ok=True)
    (root / "depth").mkdir(exist_ok=True)
    rgb = np.zeros((6, 8, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)  # red in RGB order
    cv2.imwrite(str(root / rgb_dir / f"{name}{suffix}"), rgb[..., ::-1])
    cv2.imwrite(str(root / "depth" / f"{name}.png"), np.full(size, 1500, np.uint16))


def test_camera_frames_pair_by_name_in_metres_at_colour_size(tmp_path: Path) -> None:
    _write(tmp_path, "a")
    _write(tmp_path, "b", size=(3, 4))  # depth at half the colour size
    (tmp_path / "rgb" / "c.png").write_bytes((tmp_path / "rgb" / "a.png").read_bytes())  # no depth: skipped
    np.save(tmp_path / "depth" / "d.npy", np.array([[np.nan, 2.5]], np.float32))  # no colour: skipped
    folder = RGBDFolder(tmp_path, depth_scale=0.001)
    assert folder.names() == ["a", "b", "c"] and folder.paired_names() == ["a", "b"]
    frames = list(folder.camera_frames())
    assert len(frames) == 2
    for rgb, depth in frames:
        assert tuple(rgb[0, 0]) == (255, 0, 0) and rgb.shape == (6, 8, 3)
        assert depth.shape == (6, 8) and depth.dtype == np.float32 and depth[2, 2] == pytest.approx(1.5)
    assert folder.read_depth(tmp_path / "depth" / "d.npy").tolist() == [[0.0, 2.5]]  # NaN: a hole


def test_other_folder_names_jpg_and_zero_padded_ids(tmp_path: Path) -> None:
    _write(tmp_path, "000007", rgb_dir="images", suffix=".jpg")
    folder = RGBDFolder(tmp_path)
    paths = folder.paths("7")
    assert paths.rgb.name == "000007.jpg" and paths.depth.name == "000007.png" and paths.labels is None


def test_problems_name_the_folder_or_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        RGBDFolder(tmp_path / "nothing")
    (tmp_path / "rgb").mkdir()
    with pytest.raises(DatasetError, match="no depth / depths folder"):
        RGBDFolder(tmp_path)
    (tmp_path / "depth").mkdir()
    with pytest.raises(DatasetError, match="no rgb/NAME"):
        RGBDFolder(tmp_path).camera_frames()
    _write(tmp_path, "a")
    cv2.imwrite(str(tmp_path / "depth" / "a.png"), np.zeros((6, 8), np.uint8))
    with pytest.raises(DatasetError, match=r"a\.png.*16-bit"):
        list(RGBDFolder(tmp_path).camera_frames())
    with pytest.raises(DatasetError, match="depth_scale"):
        RGBDFolder(tmp_path, depth_scale=0)
