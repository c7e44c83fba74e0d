"""Cityscapes and SUN RGB-D loaders on tiny layouts the tests write in the official formats."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from asymfusion_ros.classes import load_classes
from asymfusion_ros.data import DatasetError, open_dataset
from asymfusion_ros.data.cityscapes import label_ids_to_train_ids
from asymfusion_ros.data.sunrgbd import unrotate_depth

H, W = 32, 64
CITY_STEM = "aachen/aachen_000000_000019"
BASELINE, FX, FY, U0, V0 = 0.209313, 2262.52, 2265.30, 31.5, 15.5


def _write_city(root: Path, split: str = "val", stem: str = CITY_STEM, *, train_ids: bool = True) -> None:
    """One Cityscapes frame: left image, disparity (p = 256 d + 1), camera JSON and labels."""

    def path(kind: str, suffix: str) -> Path:
        p = root / kind / split / f"{stem}_{suffix}"
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    cv2.imwrite(str(path("leftImg8bit", "leftImg8bit.png")), rgb[..., ::-1])
    disparity = np.full((H, W), 256 * 20 + 1, np.uint16)  # d = 20 px
    disparity[:, :8] = 0  # invalid
    disparity[:, 8:16] = 256 * 2 + 1  # d = 2 px: 237 m, beyond max_depth
    cv2.imwrite(str(path("disparity", "disparity.png")), disparity)
    camera = {
        "extrinsic": {
            "baseline": BASELINE,
            "pitch": 0.038,
            "roll": 0.0,
            "x": 1.7,
            "y": 0.1,
            "yaw": -0.02,
            "z": 1.2,
        },
        "intrinsic": {"fx": FX, "fy": FY, "u0": U0, "v0": V0},
    }
    path("camera", "camera.json").write_text(json.dumps(camera))
    if train_ids:
        labels = np.tile((np.arange(W) % 19).astype(np.uint8), (H, 1))
        labels[0] = 255
        cv2.imwrite(str(path("gtFine", "gtFine_labelTrainIds.png")), labels)
    else:
        label_ids = np.full((H, W), 26, np.uint8)  # car
        label_ids[:, 0] = 4  # static: ignored
        cv2.imwrite(str(path("gtFine", "gtFine_labelIds.png")), label_ids)


def _first_frame_fails_naming(spec: str, split: str, named: str) -> None:
    """The dataset opens (files are read lazily), its first frame raises naming ``named``."""
    data = open_dataset(spec, split=split, size=(H, W))
    with pytest.raises(DatasetError, match=re.escape(named)):
        data[0]


def test_cityscapes_depth_from_disparity_k_and_train_ids(tmp_path: Path) -> None:
    _write_city(tmp_path)
    data = open_dataset(f"cityscapes:{tmp_path}", split="val", size=(H, W))
    assert len(data) == 1
    rgb, depth, labels, k = data[0]
    assert tuple(rgb[0, 0]) == (255, 0, 0)
    np.testing.assert_allclose(k, [[FX, 0, U0], [0, FY, V0], [0, 0, 1]])
    assert depth.dtype == np.float32
    np.testing.assert_allclose(depth[:, 16:], BASELINE * FX / 20.0, rtol=1e-5)  # 23.7 m
    assert np.all(depth[:, :16] == 0.0)  # invalid and beyond 100 m
    assert labels is not None and labels[1, 20] == 20 % 19 and np.all(labels[0] == 255)
    far = open_dataset(f"cityscapes:{tmp_path}?max_depth=300", split="val", size=(H, W))[0]
    np.testing.assert_allclose(far.depth_m[:, 8:16], BASELINE * FX / 2.0, rtol=1e-5)
    assert len(load_classes("cityscapes19")) == 19


def test_cityscapes_label_ids_are_mapped_when_train_ids_are_missing(tmp_path: Path) -> None:
    _write_city(tmp_path, "train", train_ids=False)
    labels = open_dataset(f"cityscapes:{tmp_path}", split="train", size=(H, W))[0].labels
    assert labels is not None and np.all(labels[:, 1:] == 13) and np.all(labels[:, 0] == 255)
    lut = label_ids_to_train_ids()
    assert lut[7] == 0 and lut[33] == 18 and lut[0] == 255 and (lut != 255).sum() == 19


def test_cityscapes_resized_keeps_projection(tmp_path: Path) -> None:
    _write_city(tmp_path)
    _, depth, _, k = open_dataset(f"cityscapes:{tmp_path}", split="val", size=(H // 2, W // 2))[0]
    assert depth.shape == (H // 2, W // 2)
    np.testing.assert_allclose(k[0, 0], FX / 2)


@pytest.mark.parametrize(
    ("broken", "named"),
    [
        ("camera", "camera.json"),
        ("disparity", "disparity.png"),
        ("labels", "labelTrainIds.png"),
        ("size", "disparity.png"),
        ("no_labels", "gtFine"),
    ],
)
def test_cityscapes_malformed_files_name_the_file(tmp_path: Path, broken: str, named: str) -> None:
    _write_city(tmp_path)
    base = tmp_path / "{}" / "val" / f"{CITY_STEM}_{{}}"
    if broken == "camera":
        Path(str(base).format("camera", "camera.json")).write_text('{"intrinsic": {"fx": 1}}')
    elif broken == "disparity":
        cv2.imwrite(str(base).format("disparity", "disparity.png"), np.zeros((H, W), np.uint8))
    elif broken == "labels":
        cv2.imwrite(str(base).format("gtFine", "gtFine_labelTrainIds.png"), np.full((H, W), 30, np.uint8))
    elif broken == "size":
        cv2.imwrite(str(base).format("disparity", "disparity.png"), np.ones((H, W + 2), np.uint16))
    else:
        Path(str(base).format("gtFine", "gtFine_labelTrainIds.png")).unlink()
    _first_frame_fails_naming(f"cityscapes:{tmp_path}", "val", named)


def test_cityscapes_bad_root_split_and_options(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="leftImg8bit"):
        open_dataset(f"cityscapes:{tmp_path}", split="val", size=(H, W))
    _write_city(tmp_path)
    with pytest.raises(DatasetError, match="unknown option"):
        open_dataset(f"cityscapes:{tmp_path}?depth_scale=2", split="val", size=(H, W))
    with pytest.raises(DatasetError, match="max_depth"):
        open_dataset(f"cityscapes:{tmp_path}?max_depth=far", split="val", size=(H, W))


def _rotate(mm: np.ndarray) -> np.ndarray:
    """SUN RGB-D's on-disk depth: millimetres with their 16 bits rotated left by 3."""
    v = mm.astype(np.uint32)
    return (((v << 3) | (v >> 13)) & 0xFFFF).astype(np.uint16)


def _write_scene(root: Path, name: str, *, depth_mm: int = 2345, label: int = 5) -> Path:
    scene = root / "kv1" / "NYUdata" / name
    for sub in ("image", "depth", "label37"):
        (scene / sub).mkdir(parents=True, exist_ok=True)
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[0, 0] = (0, 0, 255)
    cv2.imwrite(str(scene / "image" / f"{name}.png"), rgb[..., ::-1])
    depth = np.full((H, W), depth_mm, np.uint16)
    depth[:, :4] = 0
    cv2.imwrite(str(scene / "depth" / f"{name}.png"), _rotate(depth))
    labels = np.full((H, W), label, np.uint8)
    labels[:, -1] = 0  # unlabelled
    cv2.imwrite(str(scene / "label37" / f"{name}.png"), labels)
    (scene / "intrinsics.txt").write_text("518.857901 0 32.0\n0 519.469611 16.0\n0 0 1\n")
    return scene


def test_sunrgbd_depth_rotation_intrinsics_labels_and_splits(tmp_path: Path) -> None:
    for name in ("NYU0001", "NYU0002", "NYU0003"):
        _write_scene(tmp_path, name)
    (tmp_path / "train.txt").write_text("kv1/NYUdata/NYU0001\nkv1/NYUdata/NYU0002/\n")
    (tmp_path / "test.txt").write_text("/kv1/NYUdata/NYU0003\n")
    train = open_dataset(f"sunrgbd:{tmp_path}", split="train", size=(H, W))
    val = open_dataset(f"sunrgbd:{tmp_path}", split="val", size=(H, W))  # no val.txt: the test list
    assert (len(train), len(val)) == (2, 1)
    rgb, depth, labels, k = val[0]
    assert tuple(rgb[0, 0]) == (0, 0, 255)
    np.testing.assert_allclose(depth[:, 4:], 2.345, rtol=1e-6)
    assert np.all(depth[:, :4] == 0.0)
    assert (
        labels is not None and np.all(labels[:, :-1] == 4) and np.all(labels[:, -1] == 255)
    )  # sofa in NYU40
    np.testing.assert_allclose(k[0], [518.857901, 0, 32.0])
    mm = np.array([0, 1, 700, 8191, 65535], np.uint16)
    np.testing.assert_allclose(unrotate_depth(_rotate(mm)), mm / 1000.0)


def test_sunrgbd_without_lists_finds_every_scene(tmp_path: Path) -> None:
    _write_scene(tmp_path, "NYU0001")
    _write_scene(tmp_path / "b", "NYU0002")
    assert len(open_dataset(f"sunrgbd:{tmp_path}", split="test", size=(H, W))) == 2
    zero_based = open_dataset(f"sunrgbd:{tmp_path}?label_offset=0", split="test", size=(H, W))[0]
    assert zero_based.labels is not None and zero_based.labels[0, 0] == 5


@pytest.mark.parametrize(
    ("broken", "named"),
    [
        ("intrinsics", "intrinsics.txt"),
        ("two_images", "image"),
        ("labels", "label37"),
        ("depth_dtype", "depth"),
        ("size", "NYU0001.png"),
    ],
)
def test_sunrgbd_malformed_files_name_the_file(tmp_path: Path, broken: str, named: str) -> None:
    scene = _write_scene(tmp_path, "NYU0001")
    if broken == "intrinsics":
        (scene / "intrinsics.txt").write_text("518.8 0 32\n0 519.4 16\n")
    elif broken == "two_images":
        cv2.imwrite(str(scene / "image" / "extra.jpg"), np.zeros((H, W, 3), np.uint8))
    elif broken == "labels":
        cv2.imwrite(str(scene / "label37" / "NYU0001.png"), np.full((H, W), 40, np.uint8))
    elif broken == "depth_dtype":
        cv2.imwrite(str(scene / "depth" / "NYU0001.png"), np.zeros((H, W), np.uint8))
    else:
        cv2.imwrite(str(scene / "depth" / "NYU0001.png"), np.zeros((H + 1, W), np.uint16))
    _first_frame_fails_naming(f"sunrgbd:{tmp_path}", "test", named)


def test_sunrgbd_bad_root_lists_and_options(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no SUN RGB-D scenes"):
        open_dataset(f"sunrgbd:{tmp_path}", split="test", size=(H, W))
    _write_scene(tmp_path, "NYU0001")
    (tmp_path / "test.txt").write_text("kv1/NYUdata/NYU9999\n")
    with pytest.raises(DatasetError, match=r"test\.txt"):
        open_dataset(f"sunrgbd:{tmp_path}", split="test", size=(H, W))
    with pytest.raises(DatasetError, match="unknown option"):
        open_dataset(f"sunrgbd:{tmp_path}?depth_scale=1000", split="test", size=(H, W))
    with pytest.raises(DatasetError, match="depth"):
        open_dataset(f"sunrgbd:{tmp_path}?depth=inpainted", split="train", size=(H, W))
