"""geometry.py against analytic scenes: planes, the principal point, strides, NaN handling."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from asymfusion_ros.classes import IGNORE_INDEX, load_classes
from asymfusion_ros.geometry import (
    POINT_DTYPE,
    class_tags,
    colorize,
    labeled_points,
    overlay,
    resize_rgb,
)

H, W = 48, 64
K = np.array([[50.0, 0.0, 32.0], [0.0, 50.0, 24.0], [0.0, 0.0, 1.0]])


def plane(z_m: float = 2.0) -> np.ndarray:
    return np.full((H, W), z_m, dtype=np.float32)


def zeros_labels() -> np.ndarray:
    return np.zeros((H, W), dtype=np.uint8)


def test_point_dtype_is_the_pointcloud2_layout() -> None:
    assert POINT_DTYPE.itemsize == 24
    offsets = {name: POINT_DTYPE.fields[name][1] for name in POINT_DTYPE.names or ()}  # type: ignore[index]
    assert offsets == {"x": 0, "y": 4, "z": 8, "rgb": 12, "label": 16, "confidence": 20}


def test_fronto_parallel_plane_at_2m_back_projects_to_z_2m() -> None:
    pts = labeled_points(plane(2.0), K, zeros_labels())
    assert pts.shape == (H * W,)
    np.testing.assert_allclose(pts["z"], 2.0)
    # x = (u - cx) z / fx, y = (v - cy) z / fy: pixel (u=0, v=0) is up-left (x < 0, y < 0).
    first = pts[0]
    assert first["x"] == pytest.approx((0 - 32) * 2.0 / 50)
    assert first["y"] == pytest.approx((0 - 24) * 2.0 / 50)


def test_principal_point_maps_to_the_optical_axis() -> None:
    pts = labeled_points(plane(3.0), K, zeros_labels(), organized=True)
    centre = pts[24, 32]
    assert (centre["x"], centre["y"], centre["z"]) == (0.0, 0.0, pytest.approx(3.0))
    # REP 103 optical frame: x grows to the right, y grows downwards.
    assert pts[24, 40]["x"] > 0 and pts[30, 32]["y"] > 0


def test_invalid_depth_is_dropped_or_nan_when_organized() -> None:
    depth = plane(2.0)
    depth[0, :] = 0.0
    depth[1, :] = np.nan
    depth[2, :] = 0.05  # below min_range
    depth[3, :] = 50.0  # beyond max_range
    labels = zeros_labels()
    flat = labeled_points(depth, K, labels)
    assert flat.shape == ((H - 4) * W,)
    assert np.isfinite(flat["z"]).all()
    organized = labeled_points(depth, K, labels, organized=True)
    assert organized.shape == (H, W)
    assert np.isnan(organized["x"][:4]).all() and np.isnan(organized["z"][:4]).all()
    assert np.isfinite(organized["z"][4:]).all()


def test_all_invalid_depth_gives_no_points() -> None:
    pts = labeled_points(np.zeros((H, W), np.float32), K, zeros_labels())
    assert pts.shape == (0,) and pts.dtype == POINT_DTYPE


def test_stride_samples_every_nth_pixel() -> None:
    depth = plane(2.0)
    labels = np.arange(H * W, dtype=np.uint16).reshape(H, W) % 7
    pts = labeled_points(depth, K, labels, stride=4, organized=True)
    assert pts.shape == (H // 4, W // 4)
    np.testing.assert_array_equal(pts["label"], labels[::4, ::4])
    # Column j of the strided grid is pixel u = 4 j.
    assert pts[0, 1]["x"] == pytest.approx((4 - 32) * 2.0 / 50)
    assert labeled_points(depth, K, labels, stride=4).shape == ((H // 4) * (W // 4),)


def test_fields_carry_labels_colour_and_confidence() -> None:
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 0x12, 0x34, 0x56
    confidence = np.full((H, W), 0.75, np.float32)
    labels = np.full((H, W), 300, np.uint16)
    pts = labeled_points(plane(), K, labels, rgb, confidence)
    assert (pts["rgb"].view(np.uint32) == 0x00123456).all()
    assert (pts["label"] == 300).all() and (pts["confidence"] == 0.75).all()
    bare = labeled_points(plane(), K, labels)
    assert (bare["rgb"].view(np.uint32) == 0).all() and np.isnan(bare["confidence"]).all()


def test_bad_inputs_name_the_fault() -> None:
    with pytest.raises(ValueError, match="labels must have shape"):
        labeled_points(plane(), K, np.zeros((H, W + 1), np.uint8))
    with pytest.raises(ValueError, match="rgb must have shape"):
        labeled_points(plane(), K, zeros_labels(), rgb=np.zeros((H, W), np.uint8))
    with pytest.raises(ValueError, match="3x3"):
        labeled_points(plane(), np.eye(4), zeros_labels())
    with pytest.raises(ValueError, match="stride"):
        labeled_points(plane(), K, zeros_labels(), stride=0)


def test_colorize_and_overlay() -> None:
    classes = load_classes("nyu40")
    palette = classes.palette()
    labels = np.array([[0, 1], [39, IGNORE_INDEX]], np.uint8)
    color = colorize(labels, palette)
    assert color.shape == (2, 2, 3) and color.dtype == np.uint8
    assert tuple(color[0, 1]) == classes.colors[1] and tuple(color[1, 1]) == (0, 0, 0)
    rgb = np.full((2, 2, 3), 200, np.uint8)
    white = np.full((2, 2, 3), 255, np.uint8)
    np.testing.assert_array_equal(overlay(rgb, white, 0.0), rgb)
    np.testing.assert_array_equal(overlay(rgb, white, 1.0), white)
    assert abs(int(overlay(np.zeros_like(rgb), white, 0.5)[0, 0, 0]) - 128) <= 1
    with pytest.raises(ValueError, match="uint8 of one shape"):
        overlay(rgb, white[:1], 0.5)


def smooth_image(h: int, w: int) -> np.ndarray:
    """A photo-like image: smooth gradients plus mild noise (seeded)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([x / w * 200, y / h * 200, (x + y) / (w + h) * 255], axis=-1)
    noise = np.random.default_rng(0).normal(0, 8, base.shape)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def test_resize_rgb_is_area_averaging_by_another_route() -> None:
    """640x480 -> 256x192 (2.5x) goes 2x area then bilinear; it stays within 2 levels of one
    area step on average (grey levels), and integer factors are exactly OpenCV's area resize."""
    rgb = smooth_image(480, 640)
    area = cv2.resize(rgb, (256, 192), interpolation=cv2.INTER_AREA)
    fast = resize_rgb(rgb, (192, 256))
    assert fast.shape == (192, 256, 3) and fast.dtype == np.uint8
    assert np.abs(fast.astype(int) - area.astype(int)).mean() < 2.0
    half = cv2.resize(rgb, (320, 240), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(resize_rgb(rgb, (240, 320)), half)
    assert resize_rgb(rgb, (480, 640)) is rgb
    grown = resize_rgb(rgb[:100, :100], (150, 150))
    np.testing.assert_array_equal(
        grown, cv2.resize(rgb[:100, :100], (150, 150), interpolation=cv2.INTER_LINEAR)
    )
    odd = rgb[:479, :639]  # no whole factor divides it: one area step
    np.testing.assert_array_equal(
        resize_rgb(odd, (192, 256)), cv2.resize(odd, (256, 192), interpolation=cv2.INTER_AREA)
    )


def test_class_tags_at_centroids_with_enough_points() -> None:
    classes = load_classes("nyu40")
    labels = zeros_labels()
    labels[:, W // 2 :] = 5
    labels[0, 0] = 7  # one stray pixel: below min_points
    labels[1, :] = IGNORE_INDEX
    depth = plane(2.0)
    depth[2, :] = 0.0
    tags = class_tags(labeled_points(depth, K, labels, organized=True), classes, min_points=10)
    by_label = {t.label: t for t in tags}
    assert set(by_label) == {0, 5}
    assert by_label[5].name == classes.names[5]
    assert by_label[5].centroid[0] > 0 > by_label[0].centroid[0]
    assert by_label[5].centroid[2] == pytest.approx(2.0)
    # 46 rows remain (row 1 void, row 2 without depth); the stray label 7 pixel is not a 0.
    assert by_label[0].count == (H - 2) * (W // 2) - 1


def test_colorize_table_lookup_equals_the_gather() -> None:
    palette = np.random.default_rng(0).integers(0, 256, (40, 3), dtype=np.uint8)
    labels = np.arange(256, dtype=np.uint8).reshape(16, 16)  # every id, past the palette too
    expected = np.take(palette, labels, axis=0, mode="clip")
    np.testing.assert_array_equal(colorize(labels, palette), expected)
    np.testing.assert_array_equal(colorize(labels.astype(np.uint16), palette), expected)
