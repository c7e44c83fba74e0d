"""Shared test set-up.

DDS must stay on loopback on these machines: discovery is limited to localhost and every
test session gets its own domain id. This is set here and in the Makefile, never in the
node, since a robot needs real discovery.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tiny_model import export_tiny_onnx, save_tiny_checkpoint

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")

REPO = Path(__file__).resolve().parent.parent
NYU_SAMPLE = REPO.parent / "shared" / "nyuv2_sample"


@pytest.fixture(scope="session")
def nyu_sample() -> Path:
    """The two real NYUv2 frames shipped beside the repository (skip where absent)."""
    if not (NYU_SAMPLE / "rgb").is_dir():
        pytest.skip(f"real NYUv2 sample not found at {NYU_SAMPLE}")
    return NYU_SAMPLE


TINY_ONNX_ENV = "ASYMFUSION_TEST_ONNX"
"""A prebuilt tiny bundle (``make test-jazzy``/``test-py310``: venvs without torch)."""


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained asymfusion resnet18 (width 0.125, nyu40, input 64x96) saved as a .pt checkpoint."""
    pytest.importorskip("torch")
    return save_tiny_checkpoint(tmp_path_factory.mktemp("tiny_model") / "tiny_asymfusion.pt")


@pytest.fixture(scope="session")
def tiny_onnx(request: pytest.FixtureRequest) -> Path:
    """The ONNX bundle of ``tiny_checkpoint`` (exported and checked once per test session)."""
    if prebuilt := os.environ.get(TINY_ONNX_ENV):
        return Path(prebuilt)
    return export_tiny_onnx(request.getfixturevalue("tiny_checkpoint"))


@pytest.fixture(scope="session")
def tiny_onnx_other(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second tiny bundle, of the same network with other weights (seed 1): a model to compare."""
    pytest.importorskip("torch")
    checkpoint = tmp_path_factory.mktemp("tiny_other") / "tiny_other.pt"
    return export_tiny_onnx(save_tiny_checkpoint(checkpoint, seed=1))


@pytest.fixture(scope="session")
def segmenter(tiny_onnx: Path) -> Any:
    """``tiny_onnx`` on ONNX Runtime: what the node under test computes, for comparisons."""
    from asymfusion_ros.inference.pipeline import Segmenter

    return Segmenter.from_path(tiny_onnx, backend="onnxruntime")


@pytest.fixture(scope="module")
def context() -> Iterator[Any]:
    """An rclpy context of the test module's own (skips where rclpy is not installed)."""
    rclpy = pytest.importorskip("rclpy")
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.shutdown(context=ctx)
