"""ros/frame_pipeline.py without ROS: what one frame becomes, which outputs, which problems."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from asymfusion_ros.bags import typestore
from asymfusion_ros.inference.pipeline import Segmenter
from asymfusion_ros.ros import messages
from asymfusion_ros.ros.frame_pipeline import OUTPUTS, FramePipeline, InputError
from asymfusion_ros.ros.params import Settings
from asymfusion_ros.ros.problems import Problem
from asymfusion_ros.ros.sync import DEPTH, RGB

SIZE = (48, 64)
STAMP_NS = 1_700_000_000_000_000_000
K = np.array([[60.0, 0.0, 32.0], [0.0, 60.0, 24.0], [0.0, 0.0, 1.0]])
FACTORY = messages.rosbags_factory(typestore())


@pytest.fixture(scope="module")
def pipeline(tiny_onnx: Path) -> FramePipeline:
    return FramePipeline(Segmenter.from_path(tiny_onnx, backend="onnxruntime"), FACTORY)


def camera(depth_shape: tuple[int, int] = SIZE) -> tuple[Any, Any, Any]:
    """Colour (rgb8), depth (16UC1, a wall at 2 m) and camera_info, rosbags messages."""
    header = messages.build_header(FACTORY, STAMP_NS, "camera_color_optical_frame")
    rgb = np.random.default_rng(0).integers(0, 256, (*SIZE, 3), dtype=np.uint8)
    depth = np.full(depth_shape, 2000, np.uint16)
    return (
        messages.build_image(FACTORY, header, rgb),
        messages.build_image(FACTORY, header, depth, "16UC1"),
        messages.build_camera_info(FACTORY, header, K, *SIZE),
    )


def test_a_clean_frame_gives_every_output_and_stage(pipeline: FramePipeline) -> None:
    rgb, depth, info = camera()
    frame = pipeline.process(rgb, depth, info, Settings())
    assert frame.stamp_ns == STAMP_NS and frame.problems == ()
    assert list(frame.messages) == list(OUTPUTS)
    assert frame.rgb.shape == (*SIZE, 3) and frame.depth_m.shape == SIZE
    np.testing.assert_allclose(frame.depth_m, 2.0)
    assert frame.k is not None
    np.testing.assert_array_equal(frame.k, K)
    stages = ("decode", "preprocess", "backend", "postprocess", "segment", "images", "points")
    assert tuple(frame.timings_ms) == stages
    labels = messages.image_to_labels(frame.messages["labels"])
    np.testing.assert_array_equal(labels, frame.segmentation.labels)


def test_only_wanted_outputs_are_built(pipeline: FramePipeline) -> None:
    frame = pipeline.process(*camera(), Settings(), {"points"})
    assert list(frame.messages) == ["points"] and "images" not in frame.timings_ms
    frame = pipeline.process(*camera(), Settings(), ())
    assert frame.messages == {} and frame.segmentation.labels.shape == SIZE


def test_without_camera_info_images_only_and_counted(pipeline: FramePipeline) -> None:
    rgb, depth, _ = camera()
    frame = pipeline.process(rgb, depth, None, Settings())
    assert frame.k is None
    assert set(frame.messages) == {"labels", "confidence", "color", "overlay"}
    assert [p.problem for p in frame.problems] == [Problem.MISSING_CAMERA_INFO]


def test_camera_info_is_checked_only_when_needed_or_asked(pipeline: FramePipeline) -> None:
    rgb, depth, _ = camera()
    assert pipeline.process(rgb, depth, None, Settings(), {"labels"}).problems == ()
    asked = pipeline.process(rgb, depth, None, Settings(), {"labels"}, check_intrinsics=True)
    assert [p.problem for p in asked.problems] == [Problem.MISSING_CAMERA_INFO]


def test_depth_of_another_size_is_resized_and_counted(pipeline: FramePipeline) -> None:
    frame = pipeline.process(*camera(depth_shape=(24, 32)), Settings())
    assert frame.depth_m.shape == SIZE
    assert [p.problem for p in frame.problems] == [Problem.SIZE_MISMATCH]


@pytest.mark.parametrize("index", [RGB, DEPTH])
def test_an_undecodable_input_names_itself(pipeline: FramePipeline, index: int) -> None:
    inputs = list(camera())
    inputs[index] = dataclasses.replace(inputs[index], encoding="yuv422")
    with pytest.raises(InputError, match="yuv422") as err:
        pipeline.process(*inputs, Settings())
    assert err.value.index == index and err.value.problem is Problem.UNSUPPORTED_ENCODING
