"""NYUDv2 loaders on the real sample frames and on tiny layouts written by the tests."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from asymfusion_ros.data import DatasetError, open_dataset
from asymfusion_ros.data.nyudv2 import NYUDv2Folder, NYUDv2Mat, raw_to_nyu40
from asymfusion_ros.data.sample import KINECT_K

H, W = 48, 64


def _write_frame(
    root: Path, frame_id: int, *, labels: np.ndarray | None = None, depth_mm: int = 1234
) -> None:
    rng = np.random.default_rng(frame_id)
    for sub in ("rgb", "depth", "masks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    name = f"{frame_id:06d}.png"
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 0, 0)  # red in RGB order: must come back as red after cv2's BGR
    cv2.imwrite(str(root / "rgb" / name), rgb[..., ::-1])
    depth = np.full((H, W), depth_mm, dtype=np.uint16)
    depth[:, :4] = 0
    cv2.imwrite(str(root / "depth" / name), depth)
    if labels is None:
        labels = np.tile(np.arange(W, dtype=np.uint8) % 40, (H, 1))
        labels[0] = 255
    cv2.imwrite(str(root / "masks" / name), labels)


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """Three frames, ids 1..3: train = 1, 2 and test = 3."""
    for i in (1, 2, 3):
        _write_frame(tmp_path, i)
    (tmp_path / "train.txt").write_text("1\n2\n")
    (tmp_path / "test.txt").write_text("000003\n")
    return tmp_path


def test_real_sample_frames(nyu_sample: Path) -> None:
    data = open_dataset(f"nyudv2:{nyu_sample}?depth_scale=5000", split="test", size=(480, 640))
    assert len(data) == 2
    for rgb, depth, labels, k in data:
        assert rgb.shape == (480, 640, 3) and rgb.dtype == np.uint8
        assert depth.dtype == np.float32 and 3.0 < depth.max() < 10.0  # metres, not 1/5000 m
        assert 0.2 < (depth == 0).mean() < 0.5  # raw Kinect holes and the white border
        assert labels is not None and set(np.unique(labels).tolist()) <= set(range(40)) | {255}
        np.testing.assert_allclose(k, KINECT_K)
        assert depth[:40].max() == 0.0  # the border above the valid region has no depth


def test_real_sample_resized(nyu_sample: Path) -> None:
    full = open_dataset(f"nyudv2:{nyu_sample}?depth_scale=5000", split="test", size=(480, 640))[0]
    rgb, depth, labels, k = open_dataset(
        f"nyudv2:{nyu_sample}?depth_scale=5000", split="test", size=(240, 320)
    )[0]
    assert rgb.shape == (240, 320, 3) and depth.shape == labels.shape == (240, 320)  # type: ignore[union-attr]
    np.testing.assert_allclose(k[:2, :2], KINECT_K[:2, :2] / 2)
    assert set(np.unique(depth).tolist()) <= set(
        np.unique(full.depth_m).tolist()
    )  # nearest: no invented depths
    assert full.labels is not None and labels is not None
    assert set(np.unique(labels).tolist()) <= set(np.unique(full.labels).tolist())


def test_folder_layout_splits_scale_and_colour(layout: Path) -> None:
    train = open_dataset(f"nyudv2:{layout}", split="train", size=(H, W))
    test = open_dataset(f"nyudv2:{layout}", split="test", size=(H, W))
    val = open_dataset(f"nyudv2:{layout}", split="val", size=(H, W))  # no val.txt: the test list
    assert (len(train), len(test), len(val)) == (2, 1, 1)
    rgb, depth, labels, _ = test[0]
    assert tuple(rgb[0, 0]) == (255, 0, 0)
    assert depth[5, 10] == pytest.approx(1.234) and depth[5, 0] == 0.0
    assert labels is not None and labels[0, 0] == 255 and labels[1, 39] == 39
    limited = open_dataset(f"nyudv2:{layout}", split="train", size=(H, W), frames=1)
    assert len(limited) == 1


def test_label_offset_shifts_one_based_labels(tmp_path: Path) -> None:
    one_based = np.tile((np.arange(W) % 41).astype(np.uint8), (H, 1))  # 0 = void, 1..40
    _write_frame(tmp_path, 1, labels=one_based)
    data = NYUDv2Folder(tmp_path, "test", label_offset=1)
    labels = data[0].labels
    assert labels is not None
    assert labels[0, 0] == 255 and labels[0, 1] == 0 and labels[0, 40] == 39
    with pytest.raises(DatasetError, match=r"000001\.png.*out of range"):
        NYUDv2Folder(tmp_path, "test")[0]  # the same file read as 0-based has id 40


def test_bad_inputs_name_the_file(layout: Path) -> None:
    (layout / "depth" / "000002.png").unlink()
    with pytest.raises(DatasetError, match=r"frame '2'.*depth"):
        open_dataset(f"nyudv2:{layout}", split="train", size=(H, W))[1]

    _write_frame(layout, 2, labels=np.full((H, W), 77, dtype=np.uint8))
    with pytest.raises(DatasetError, match=r"masks/000002\.png.*\[77\]"):
        open_dataset(f"nyudv2:{layout}", split="train", size=(H, W))[1]

    _write_frame(layout, 2)
    cv2.imwrite(str(layout / "depth" / "000002.png"), np.zeros((H, W + 2), dtype=np.uint16))
    with pytest.raises(DatasetError, match=r"depth/000002\.png: size"):
        open_dataset(f"nyudv2:{layout}", split="train", size=(H, W))[1]

    cv2.imwrite(str(layout / "depth" / "000002.png"), np.zeros((H, W), dtype=np.uint8))
    with pytest.raises(DatasetError, match=r"000002\.png.*16-bit"):
        open_dataset(f"nyudv2:{layout}", split="train", size=(H, W))[1]

    (layout / "rgb" / "000001.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=r"cannot read image .*000001\.png"):
        open_dataset(f"nyudv2:{layout}", split="train", size=(H, W))[0]

    with pytest.raises(DatasetError, match="not found"):
        open_dataset(f"nyudv2:{layout / 'nope'}", split="train", size=(H, W))
    with pytest.raises(DatasetError, match="unknown option"):
        open_dataset(f"nyudv2:{layout}?scale=5000", split="train", size=(H, W))
    with pytest.raises(DatasetError, match="bad option value"):
        open_dataset(f"nyudv2:{layout}?depth_scale=mm", split="train", size=(H, W))


def test_npy_depth_in_metres(tmp_path: Path) -> None:
    _write_frame(tmp_path, 5)
    (tmp_path / "depth" / "000005.png").unlink()
    np.save(tmp_path / "depth" / "000005.npy", np.full((H, W), 2.5, dtype=np.float32))
    assert NYUDv2Folder(tmp_path, "train")[0].depth_m[3, 3] == pytest.approx(2.5)


def test_mapping_table_is_a_plausible_894_to_40_map() -> None:
    lut = raw_to_nyu40()
    assert lut.shape == (895,) and lut[0] == 255
    counts = np.bincount(lut[1:], minlength=40)
    assert np.all(counts[:37] == 1)  # classes 1..37 each come from one raw class
    assert (counts[37], counts[38]) == (68, 82)
    assert counts[39] == 894 - 37 - 68 - 82
    # A few well-known raw ids (1-based names in the .mat): wall 21, floor 11, bed 157, picture 64.
    assert (lut[21], lut[11], lut[157], lut[64], lut[4]) == (0, 1, 3, 10, 21)


def _write_mat(path: Path, raw_labels: np.ndarray) -> None:
    """A 2-frame file with the official keys, in MATLAB's transposed (column-major) layout."""
    n = 2
    rgb = np.zeros((n, H, W, 3), dtype=np.uint8)
    rgb[:, 0, 0] = (255, 0, 0)
    depth = np.tile(np.linspace(1.0, 3.0, W, dtype=np.float32), (n, H, 1))
    raw_depth = depth.copy()
    raw_depth[:, :, :5] = 0.0
    with h5py.File(path, "w") as f:
        f["images"] = rgb.transpose(0, 3, 2, 1)
        f["depths"] = depth.transpose(0, 2, 1)
        f["rawDepths"] = raw_depth.transpose(0, 2, 1)
        f["labels"] = np.stack([raw_labels] * n).transpose(0, 2, 1)


def test_official_mat_file(tmp_path: Path) -> None:
    raw = np.zeros((H, W), dtype=np.uint16)
    raw[:, 10:20] = 21  # wall
    raw[:, 20:30] = 157  # bed
    raw[:, 30:40] = 8  # otherstructure
    raw[:, 40:50] = 2  # bottle: otherprop
    mat = tmp_path / "nyu_depth_v2_labeled.mat"
    _write_mat(mat, raw)
    (tmp_path / "test.txt").write_text("2\n")
    (tmp_path / "train.txt").write_text("1\n")
    data = open_dataset(f"nyudv2:{mat}", split="test", size=(H, W))
    assert len(data) == 1
    rgb, depth, labels, _ = data[0]
    assert rgb.shape == (H, W, 3) and tuple(rgb[0, 0]) == (255, 0, 0)
    assert depth[0, 0] == 0.0 and depth[0, -1] == pytest.approx(3.0)
    assert labels is not None
    assert (labels[0, 0], labels[0, 15], labels[0, 25], labels[0, 35], labels[0, 45]) == (255, 0, 3, 37, 39)
    clone = pickle.loads(pickle.dumps(data))  # as a spawned DataLoader worker gets it
    np.testing.assert_array_equal(clone[0].depth_m, depth)
    filled = open_dataset(f"nyudv2:{mat}?depth=filled", split="test", size=(H, W))[0]
    assert filled.depth_m[0, 0] == pytest.approx(1.0)

    table = tmp_path / "map.txt"
    table.write_text(" ".join(["7"] * 894))  # everything is a table (NYU40 id 7, 0-based 6)
    with NYUDv2Mat(mat, "train", mapping=table) as custom:
        labels = custom[0].labels
        assert labels is not None and set(np.unique(labels).tolist()) == {6, 255}
    table.write_text("7 7 7")
    with pytest.raises(DatasetError, match=r"map\.txt"):
        NYUDv2Mat(mat, "train", mapping=table)
    raw[0, 0] = 900
    _write_mat(tmp_path / "corrupt.mat", raw)
    with pytest.raises(DatasetError, match=r"corrupt\.mat\[1\].*900"):
        NYUDv2Mat(tmp_path / "corrupt.mat", "train")[0]
    (tmp_path / "bad.mat").write_bytes(b"MATLAB 5.0 MAT-file")
    with pytest.raises(DatasetError, match="HDF5"):
        NYUDv2Mat(tmp_path / "bad.mat", "train")
