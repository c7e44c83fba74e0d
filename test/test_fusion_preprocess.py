"""ModalityInputs: exact encodings on hand-made frames, invalid depth, and a real NYUv2 frame."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from asymfusion_ros.fusion import ModalityInputs
from asymfusion_ros.fusion.preprocess import IMAGENET_MEAN, IMAGENET_STD

ALL = ("rgb", "depth", "normals")


def _frame(depth_m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    rgb = torch.zeros(1, *depth_m.shape[-2:], 3, dtype=torch.uint8)
    return rgb, depth_m.reshape(1, *depth_m.shape[-2:]).float()


def test_rgb_is_imagenet_normalised_nchw() -> None:
    rgb = torch.zeros(1, 2, 3, 3, dtype=torch.uint8)
    rgb[0, 1, 2] = torch.tensor([255, 0, 128], dtype=torch.uint8)
    out = ModalityInputs(("rgb",))(rgb, torch.ones(1, 2, 3))
    assert set(out) == {"rgb"} and out["rgb"].shape == (1, 3, 2, 3) and out["rgb"].dtype == torch.float32
    pixel = out["rgb"][0, :, 1, 2]
    expected = [(v / 255 - m) / s for v, m, s in zip((255, 0, 128), IMAGENET_MEAN, IMAGENET_STD, strict=True)]
    assert torch.allclose(pixel, torch.tensor(expected), atol=1e-6)
    assert torch.allclose(out["rgb"][0, :, 0, 0], -torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD))


@pytest.mark.parametrize(
    ("encoding", "depth_m", "expected"),
    [
        ("linear", 2.5, 0.0),  # 2.5 / 10 = 0.25 -> centre
        ("linear", 5.0, 2.0),
        ("linear", 50.0, 6.0),  # clipped at max_depth_m
        ("inverse", 2.0, 0.0),  # 0.5 / 2 = 0.25
        ("inverse", 0.1, 6.0),  # clipped at min_depth_m -> 1.0
    ],
)
def test_depth_encodings(encoding: str, depth_m: float, expected: float) -> None:
    out = ModalityInputs(("depth",), depth_encoding=encoding)(*_frame(torch.full((2, 2), depth_m)))
    assert torch.allclose(out["depth"], torch.full((1, 3, 2, 2), expected), atol=1e-5)


def test_invalid_depth_is_zero_and_never_nan() -> None:
    depth = torch.full((4, 5), 3.0)
    depth[1, 1], depth[2, 3], depth[0, 4] = 0.0, float("nan"), -1.0
    out = ModalityInputs(ALL)(*_frame(depth))
    enc = out["depth"][0]
    assert torch.equal(enc[0], enc[1]) and torch.equal(enc[0], enc[2])
    for r, c in ((1, 1), (2, 3), (0, 4)):
        assert (enc[:, r, c] == 0).all() and (out["normals"][0, :, r, c] == 0).all()
    assert all(torch.isfinite(t).all() for t in out.values())


def test_normals_of_planes() -> None:
    # a wall facing the camera: normal (0, 0, -1) inside, 0 on the border (no central difference)
    out = ModalityInputs(("normals",))(*_frame(torch.full((5, 6), 2.0)))["normals"][0]
    assert torch.allclose(out[:, 1:-1, 1:-1], torch.tensor([0.0, 0.0, -1.0]).view(3, 1, 1).expand(3, 3, 4))
    assert (out[:, 0] == 0).all() and (out[:, :, -1] == 0).all()
    # depth rising 0.01 m per column: n ~ (f * 0.01, 0, -z), f = focal_ratio * W
    cols = torch.arange(8.0)
    depth = (2.0 + 0.01 * cols).expand(6, 8)
    inputs = ModalityInputs(("normals",), focal_ratio=0.8)
    n = inputs(*_frame(depth))["normals"][0, :, 3, 4]
    expected = torch.tensor([0.8 * 8 * 0.01, 0.0, -(2.0 + 0.04)])
    assert torch.allclose(n, expected / expected.norm(), atol=1e-5)


def test_a_hole_blanks_its_neighbours_normals() -> None:
    depth = torch.full((7, 7), 2.0)
    depth[3, 3] = float("nan")
    n = ModalityInputs(("normals",))(*_frame(depth))["normals"][0]
    for r, c in ((3, 3), (2, 3), (4, 3), (3, 2), (3, 4)):
        assert (n[:, r, c] == 0).all()
    assert n[2, 2, 2] == -1.0


def test_config_round_trip_and_json() -> None:
    inputs = ModalityInputs(ALL, depth_encoding="inverse", max_depth_m=8.0, focal_ratio=0.9)
    config = json.loads(json.dumps(inputs.config))
    assert ModalityInputs(**config).config == inputs.config
    assert list(inputs.state_dict()) == []  # everything lives in the config


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"modalities": ("rgb", "thermal")}, "thermal"),
        ({"modalities": ()}, "none"),
        ({"depth_encoding": "hha"}, "'hha'"),
        ({"min_depth_m": 5.0, "max_depth_m": 2.0}, "min_depth_m"),
        ({"focal_ratio": 0.0}, "focal_ratio"),
    ],
)
def test_bad_options_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModalityInputs(**kwargs)


def test_bad_frames_are_named() -> None:
    inputs = ModalityInputs()
    with pytest.raises(ValueError, match=r"rgb must be uint8 \[B, H, W, 3\]"):
        inputs(torch.zeros(1, 3, 4, 4, dtype=torch.uint8), torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match=r"depth_m must be \[B, H, W\] = \[1, 4, 4\]"):
        inputs(torch.zeros(1, 4, 4, 3, dtype=torch.uint8), torch.zeros(1, 4, 5))


def _read(path: Path, flags: int) -> np.ndarray:
    image = cv2.imread(str(path), flags)
    assert image is not None, path
    return np.asarray(image)


def test_real_nyuv2_frame(nyu_sample: Path) -> None:
    """On a real Kinect frame, floor normals point up (-y) and walls face the camera (-z)."""
    rgb = cv2.cvtColor(_read(nyu_sample / "rgb" / "000433.png", cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    raw = _read(nyu_sample / "depth" / "000433.png", cv2.IMREAD_UNCHANGED)
    labels = _read(nyu_sample / "masks" / "000433.png", cv2.IMREAD_UNCHANGED)
    depth = torch.from_numpy(raw.astype(np.float32) / 5000.0)[None]
    out = ModalityInputs(ALL)(torch.from_numpy(rgb)[None], depth)
    assert all(t.shape == (1, 3, 480, 640) and torch.isfinite(t).all() for t in out.values())
    normals = out["normals"][0].numpy()
    valid = np.abs(normals).sum(axis=0) > 0
    assert 0.5 < float(valid.mean()) <= float((raw > 0).mean())
    floor, wall = (labels == 1) & valid, (labels == 0) & valid
    assert np.median(normals[1, floor]) < -0.6
    assert np.median(normals[2, wall]) < -0.6
    encoded = out["depth"][0, 0].numpy()[raw > 0]
    assert -2.0 < np.median(encoded) < 2.0  # roughly centred for indoor depth
