"""Backends (ONNX Runtime vs Torch parity, dispatch, errors) and the Segmenter's resizing."""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from asymfusion_ros.classes import load_classes
from asymfusion_ros.export.exporter import parity_inputs
from asymfusion_ros.inference import Backend, BackendError, load_backend
from asymfusion_ros.inference.letterbox import Fit
from asymfusion_ros.inference.pipeline import Segmenter

NET = (64, 96)


@pytest.fixture(scope="module")
def ort_backend(tiny_onnx: Path) -> Backend:
    return load_backend(tiny_onnx, threads=1)


def test_onnxruntime_matches_torch_on_one_checkpoint(tiny_checkpoint: Path, ort_backend: Backend) -> None:
    torch_backend = load_backend(tiny_checkpoint, threads=1)
    assert (ort_backend.name, torch_backend.name) == ("onnxruntime", "torch")
    assert ort_backend.input_size == torch_backend.input_size == NET
    assert ort_backend.classes == torch_backend.classes
    for rgb, depth in parity_inputs(NET, count=2, seed=3):
        labels_o, conf_o = ort_backend.run(rgb, depth)
        labels_t, conf_t = torch_backend.run(rgb, depth)
        assert labels_o.dtype == labels_t.dtype == np.uint8 and labels_o.shape == NET
        assert conf_o.dtype == np.float32
        assert (labels_o == labels_t).mean() >= 0.999
        assert np.abs(conf_o - conf_t).max() <= 1e-4
    assert "fp32" in torch_backend.describe() and "cpu" in torch_backend.describe()
    assert "CPUExecutionProvider, 1 threads" in ort_backend.describe()


def test_all_invalid_depth_still_gives_labels(ort_backend: Backend) -> None:
    rgb = np.full((*NET, 3), 120, np.uint8)
    for depth in (np.zeros(NET, np.float32), np.full(NET, np.nan, np.float32)):
        labels, confidence = ort_backend.run(rgb, depth)
        assert labels.shape == NET and (labels < 40).all()
        assert np.isfinite(confidence).all() and (confidence > 0).all()


def test_dispatch_and_bad_names(tiny_onnx: Path, tiny_checkpoint: Path) -> None:
    assert load_backend(tiny_onnx, backend="onnxruntime").name == "onnxruntime"
    with pytest.raises(BackendError, match="export the checkpoint first"):
        load_backend(tiny_checkpoint, backend="onnxruntime")
    with pytest.raises(BackendError, match=r"torch backend runs \.pt"):
        load_backend(tiny_onnx, backend="torch")
    with pytest.raises(BackendError, match="backend must be one of"):
        load_backend(tiny_onnx, backend="tflite")
    with pytest.raises(BackendError, match="precision one of"):
        load_backend(tiny_onnx, precision="fp8")


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_asking_for_an_absent_runtime_says_what_to_install(tiny_onnx: Path) -> None:
    with pytest.raises(BackendError, match=r"needs the `tensorrt` package.*JetPack"):
        load_backend(tiny_onnx, backend="tensorrt")


def test_missing_file_and_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="model file not found"):
        load_backend(tmp_path / "nothing.onnx")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(BackendError, match=r"not a model: expected \.onnx"):
        load_backend(text)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\x01not protobuf at all" * 10)
    with pytest.raises(BackendError, match=r"garbage\.onnx"):
        load_backend(garbage)


def test_an_onnx_file_that_is_not_a_bundle(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    plain = tmp_path / "plain.onnx"
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    onnx.save(helper.make_model(graph), plain)
    with pytest.raises(BackendError, match="not an asymfusion_ros model bundle"):
        load_backend(plain)


def test_wrong_inputs_name_the_fault(ort_backend: Backend) -> None:
    rgb, depth = np.zeros((*NET, 3), np.uint8), np.ones(NET, np.float32)
    cases: list[tuple[np.ndarray, np.ndarray, str]] = [
        (rgb.astype(np.float32), depth, "rgb must be uint8"),
        (rgb, depth.astype(np.float64), "depth_m must be float32"),
        (rgb, (depth * 1000).astype(np.uint16), "depth_m must be float32"),
        (np.zeros((32, 32, 3), np.uint8), depth, r"rgb must be \(H, W, 3\) = \(64, 96, 3\)"),
        (rgb, np.ones((64, 95), np.float32), r"depth_m must be \(H, W\) = \(64, 96\)"),
    ]
    for bad_rgb, bad_depth, message in cases:
        with pytest.raises(BackendError, match=message):
            ort_backend.run(bad_rgb, bad_depth)


def test_onnxruntime_path_never_imports_torch(tiny_onnx: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        from asymfusion_ros.inference import load_backend
        from asymfusion_ros.inference.pipeline import Segmenter
        from asymfusion_ros.geometry import labeled_points
        seg = Segmenter(load_backend({str(tiny_onnx)!r}, backend="auto"))
        assert seg.backend.name == "onnxruntime", seg.backend.name
        out = seg.segment(np.zeros((48, 64, 3), np.uint8), np.ones((48, 64), np.float32))
        labeled_points(np.ones((48, 64), np.float32), np.eye(3), out.labels)
        print("torch" in sys.modules)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_inference_imports_nothing_above_it() -> None:
    """Callers hand frames in: no module of inference/ reads bags, folders or ROS messages."""
    above = ("bags", "cli", "data", "replay", "ros", "training")
    found = []
    for path in (Path(__file__).resolve().parent.parent / "asymfusion_ros" / "inference").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [
                    f"{node.module}.{alias.name}" for alias in node.names
                ]  # from asymfusion_ros import data
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            found += [
                f"{path.name}: {n}"
                for n in names
                if n.split(".")[:2] in (["asymfusion_ros", a] for a in above)
            ]
    assert found == []


def test_segmenter_letterboxes_a_camera_of_another_aspect(ort_backend: Backend) -> None:
    segmenter = Segmenter(ort_backend)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    depth = rng.uniform(0.5, 4.0, (480, 640)).astype(np.float32)
    out = segmenter.segment(rgb, depth)
    assert out.labels.shape == (480, 640) and out.labels.dtype == np.uint8
    assert out.confidence.shape == (480, 640) and out.confidence.dtype == np.float32
    assert set(out.timings_ms) == {"preprocess", "backend", "postprocess"}
    assert all(v >= 0 for v in out.timings_ms.values())
    # 480x640 (3:4) into 64x96 (2:3): scaled by 0.133 to 64x85, centred with 5 + 6 columns of padding.
    assert Fit.of((480, 640), NET) == Fit(0, 5, 64, 85)
    assert Fit.of((128, 192), NET) == Fit(0, 0, 64, 96)  # same aspect: a plain resize
    assert Fit.of((64, 96), NET).whole


class _ColumnBands:
    """A Backend whose label is the network column // 8 and whose confidence is the row / H.

    It makes the Segmenter's mapping checkable exactly, which a trained network cannot.
    """

    name = "columns"
    input_size = NET
    classes = load_classes("nyu40")

    def run(self, rgb: np.ndarray, depth_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert rgb.shape == (*NET, 3) and depth_m.shape == NET
        self.last = (rgb, depth_m)
        cols = np.broadcast_to(np.arange(NET[1]) // 8, NET).astype(np.uint8)
        rows = np.broadcast_to((np.arange(NET[0], dtype=np.float32) / NET[0])[:, None], NET)
        return cols.copy(), rows.copy()

    def describe(self) -> str:
        return "column bands"


def test_segmenter_maps_the_window_back_by_nearest_neighbour() -> None:
    backend = _ColumnBands()
    segmenter = Segmenter(backend)
    rgb = np.full((480, 640, 3), 200, np.uint8)
    depth = np.full((480, 640), 2.0, np.float32)
    out = segmenter.segment(rgb, depth)
    net_rgb, net_depth = backend.last
    # Padding: black RGB, invalid depth, outside the 85 columns of the window that starts at 5.
    assert (net_rgb[:, :5] == 0).all() and (net_depth[:, 90:] == 0).all()
    assert (net_rgb[:, 5:90] == 200).all() and (net_depth[:, 5:90] == 2.0).all()
    # Camera column 0 is network column 5 (band 0), the last one network column 89 (band 11).
    assert out.labels[0, 0] == 0 and out.labels[0, -1] == 89 // 8
    assert set(np.unique(out.labels)) <= set(range(12))  # only predicted ids, never blends
    assert out.confidence[0, 0] == 0.0 and out.confidence[-1, 0] == pytest.approx(63 / 64)


def test_segmenter_refuses_mismatched_frames(ort_backend: Backend) -> None:
    segmenter = Segmenter(ort_backend)
    with pytest.raises(BackendError, match="must have the same"):
        segmenter.segment(np.zeros((48, 64, 3), np.uint8), np.ones((24, 32), np.float32))
    with pytest.raises(BackendError, match="rgb must be an"):
        segmenter.segment(np.zeros((48, 64), np.uint8), np.ones((48, 64), np.float32))


def test_real_nyu_frames_through_segmenter_and_geometry(nyu_sample: Path, ort_backend: Backend) -> None:
    import cv2

    from asymfusion_ros.geometry import class_tags, labeled_points

    k = np.array([[518.8579, 0.0, 325.5824], [0.0, 519.4696, 253.7362], [0.0, 0.0, 1.0]])
    segmenter = Segmenter(ort_backend)
    for rgb_path in sorted((nyu_sample / "rgb").glob("*.png")):
        bgr = cv2.imread(str(rgb_path))
        raw = cv2.imread(str(nyu_sample / "depth" / rgb_path.name), cv2.IMREAD_UNCHANGED)
        assert bgr is not None and raw is not None
        rgb = np.ascontiguousarray(bgr[..., ::-1])
        depth = raw.astype(np.float32) / 5000.0  # the sample's PNG convention
        out = segmenter.segment(rgb, depth)
        assert out.labels.shape == (480, 640) and out.labels.max() < 40
        points = labeled_points(depth, k, out.labels, rgb, out.confidence)
        assert points.size == int(((depth >= 0.1) & (depth <= 10.0)).sum())  # the ~35 % holes are dropped
        assert 0.5 < float(np.median(points["z"])) < 6.0  # a room, in metres
        assert sum(t.count for t in class_tags(points, segmenter.classes, min_points=1)) == points.size
