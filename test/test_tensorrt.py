"""TensorRT: engine cache keys and files, calibration frames (run anywhere); engines (need TensorRT + GPU).

TensorRT cannot be installed on the development machine: the engine tests skip there with the
reason, and run on a Jetson / GPU machine where ``import tensorrt`` works.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from asymfusion_ros.cli import main as cli_main
from asymfusion_ros.inference.errors import BackendError
from asymfusion_ros.inference.files import write_atomically
from asymfusion_ros.inference.tensorrt.calibration import calibration_frames, fingerprint
from asymfusion_ros.inference.tensorrt.engine_cache import CACHE_ENV, EngineCache, EngineKey, cache_root

KEY = EngineKey(
    onnx_sha256="ab" * 32,
    tensorrt_version="8.5.2.2",
    gpu_name="Orin",
    compute_capability="8.7",
    precision="fp16",
    input_shapes=(("rgb", (1, 240, 320, 3)), ("depth", (1, 240, 320))),
)


def test_every_key_part_changes_the_key() -> None:
    changes: dict[str, Any] = {
        "onnx_sha256": "cd" * 32,
        "tensorrt_version": "10.3.0",
        "gpu_name": "NVIDIA H100",
        "compute_capability": "9.0",
        "precision": "int8",
        "input_shapes": (("rgb", (1, 480, 640, 3)), ("depth", (1, 480, 640))),
        "calibration": "frames-v2",
    }
    assert set(changes) == {f.name for f in dataclasses.fields(EngineKey)}
    digests = {KEY.digest()} | {dataclasses.replace(KEY, **{k: v}).digest() for k, v in changes.items()}
    assert len(digests) == len(changes) + 1
    assert EngineKey.from_dict(json.loads(json.dumps(KEY.to_dict()))) == KEY
    assert KEY.platform_mismatch(KEY) is None
    other = dataclasses.replace(KEY, tensorrt_version="10.3.0", gpu_name="NVIDIA H100")
    assert (
        KEY.platform_mismatch(other)
        == "tensorrt_version '8.5.2.2' here '10.3.0', gpu_name 'Orin' here 'NVIDIA H100'"
    )


def test_cache_folder_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    assert EngineCache().engines == tmp_path / "c" / "engines"
    monkeypatch.delenv(CACHE_ENV)
    assert cache_root() == Path.home() / ".cache" / "asymfusion_ros"


def test_store_lookup_and_never_stale(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    assert cache.lookup(KEY, "model") is None
    path = cache.store(KEY, "model", b"engine bytes", {"asymfusion.format": "1"}, tmp_path / "model.onnx")
    assert path.parent == tmp_path / "engines" and KEY.digest() in path.name and "fp16" in path.name
    assert cache.lookup(KEY, "model") == path and path.read_bytes() == b"engine bytes"
    sidecar = json.loads(path.with_name(path.name + ".json").read_text())
    assert sidecar["metadata"] == {"asymfusion.format": "1"} and sidecar["source"].endswith("model.onnx")
    assert cache.lookup(dataclasses.replace(KEY, onnx_sha256="ef" * 32), "model") is None  # a new model
    # A sidecar whose key disagrees with the file name (edited, or half-replaced) is not trusted.
    sidecar["key"]["gpu_name"] = "another GPU"
    path.with_name(path.name + ".json").write_text(json.dumps(sidecar))
    assert cache.lookup(KEY, "model") is None
    cache.discard(KEY, "model")
    assert not path.exists()
    assert cache.timing_cache_path(KEY) == cache.timing_cache_path(
        dataclasses.replace(KEY, onnx_sha256="0" * 64)
    )
    assert cache.calibration_cache_path(KEY, "m") != cache.calibration_cache_path(
        dataclasses.replace(KEY, calibration="other frames"), "m"
    )


def test_int8_engines_are_found_whatever_their_calibration(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    int8 = dataclasses.replace(KEY, precision="int8", calibration="frames-a")
    path = cache.store(int8, "model", b"int8 engine", {}, tmp_path / "model.onnx")
    assert cache.lookup_any_calibration(dataclasses.replace(int8, calibration=""), "model") == path
    elsewhere = dataclasses.replace(int8, calibration="", gpu_name="other")
    assert cache.lookup_any_calibration(elsewhere, "model") is None


def test_atomic_write_keeps_the_old_file_when_interrupted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    target = tmp_path / "engines" / "x.engine"
    write_atomically(target, b"old")

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, b"new and longer")
    assert target.read_bytes() == b"old"
    assert [p.name for p in target.parent.iterdir()] == ["x.engine"]  # no temporary file left
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600: others read engines


def test_calibration_frames_from_a_folder(nyu_sample: Path) -> None:
    frames = list(calibration_frames(nyu_sample, (64, 96), limit=5, depth_scale=1 / 5000))
    assert len(frames) == 2
    for rgb, depth in frames:
        assert rgb.shape == (64, 96, 3) and rgb.dtype == np.uint8
        assert depth.shape == (64, 96) and depth.dtype == np.float32
        assert 0.5 < float(np.median(depth[depth > 0])) < 10.0  # metres, not raw PNG units
    assert fingerprint(nyu_sample, 5, 1 / 5000) != fingerprint(nyu_sample, 4, 1 / 5000)


def test_calibration_frames_from_a_bag(tmp_path: Path) -> None:
    from asymfusion_ros.replay.make_bag import write_synthetic_bag

    bag = tmp_path / "calib_bag"
    write_synthetic_bag(bag, frames=3, size=(48, 64))
    frames = list(calibration_frames(bag, (64, 96), limit=10))
    assert len(frames) == 3
    assert all(rgb.shape == (64, 96, 3) and depth.shape == (64, 96) for rgb, depth in frames)


def test_calibration_bag_pairs_within_50_ms_inclusive_either_order(tmp_path: Path) -> None:
    from asymfusion_ros.bags import BagWriter, typestore
    from asymfusion_ros.ros import messages

    factory = messages.rosbags_factory(typestore())
    ms = 1_000_000
    # (colour stamp, depth stamp, colour value): 50 ms apart pairs, 50 ms + 1 ns does not.
    frames = [(0, 50 * ms, 10), (1000 * ms, 1050 * ms + 1, 20), (2000 * ms, 2000 * ms, 30)]
    frames.append((3010 * ms, 3000 * ms, 40))  # depth first
    color, depth = "/camera/color/image_raw", "/camera/depth/image_raw"
    written = [(rgb_ns, color, np.full((64, 96, 3), v, np.uint8)) for rgb_ns, _, v in frames]
    written += [(depth_ns, depth, np.full((64, 96), 1000, np.uint16)) for _, depth_ns, _ in frames]
    written.sort(key=lambda item: item[0])
    bag = tmp_path / "skew_bag"
    with BagWriter(bag) as writer:
        header = messages.build_header(factory, 0, "camera")
        info = messages.build_camera_info(factory, header, np.diag([80.0, 80.0, 1.0]), 64, 96)
        writer.write("/camera/color/camera_info", info, 0)  # detect_topics wants one
        for stamp_ns, topic, array in written:
            header = messages.build_header(factory, stamp_ns, "camera")
            encoding = "16UC1" if array.ndim == 2 else None
            writer.write(topic, messages.build_image(factory, header, array, encoding), stamp_ns)
    paired = [int(rgb[0, 0, 0]) for rgb, _ in calibration_frames(bag, (64, 96))]
    assert paired == [10, 30, 40]


def test_calibration_source_errors(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="not found"):
        list(calibration_frames(tmp_path / "nothing", (64, 96)))
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackendError, match="no calibration frames"):
        list(calibration_frames(tmp_path / "empty", (64, 96)))


NO_TENSORRT = importlib.util.find_spec("tensorrt") is None


@pytest.mark.skipif(not NO_TENSORRT, reason="TensorRT is installed here: the engine tests below run instead")
def test_build_engine_cli_says_why_without_tensorrt(tiny_onnx: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["build-engine", str(tiny_onnx)]) == 1
    assert "TensorRT is not importable" in capsys.readouterr().out


# --- need TensorRT and a CUDA GPU -------------------------------------------------------------


@pytest.fixture
def trt_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    pytest.importorskip("tensorrt", reason="TensorRT is not installed (JetPack / NVIDIA wheels only)")
    from asymfusion_ros.inference.backends import tensorrt_usable

    if not tensorrt_usable():
        pytest.skip("tensorrt imports but no CUDA GPU (or no CUDA binding: cuda-python / pycuda / torch)")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("precision, agreement", [("fp32", 0.999), ("fp16", 0.98)])
def test_tensorrt_engine_matches_onnxruntime(
    trt_cache: Path, tiny_onnx: Path, precision: str, agreement: float
) -> None:
    from asymfusion_ros.export.exporter import parity_inputs
    from asymfusion_ros.inference import load_backend

    trt_backend = load_backend(tiny_onnx, backend="auto", precision=precision)
    assert trt_backend.name == "tensorrt" and precision in trt_backend.describe()
    ort_backend = load_backend(tiny_onnx, backend="onnxruntime")
    for rgb, depth in parity_inputs(trt_backend.input_size):
        labels_t, conf_t = trt_backend.run(rgb, depth)
        labels_o, conf_o = ort_backend.run(rgb, depth)
        assert labels_t.dtype == np.uint8 and (labels_t == labels_o).mean() >= agreement
        assert np.abs(conf_t - conf_o).max() < (1e-3 if precision == "fp32" else 2e-2)
    assert len(list((trt_cache / "engines").glob("*.engine"))) == 1
    assert list((trt_cache / "engines").glob("timing-*.cache"))


def test_tensorrt_engine_cache_and_platform_mismatch(
    trt_cache: Path, tiny_onnx: Path, tmp_path: Path
) -> None:
    from asymfusion_ros.inference import EngineBuildError, load_backend
    from asymfusion_ros.inference.model_bundle import sidecar_path
    from asymfusion_ros.inference.tensorrt.backend import build_engine

    first = build_engine(tiny_onnx)
    again = build_engine(tiny_onnx)
    assert not first.cached and again.cached and again.path == first.path
    assert load_backend(first.path).name == "tensorrt"  # a built .engine loads through its sidecar
    # An engine that claims another TensorRT: rebuilt from its ONNX source while that exists...
    moved = tmp_path / "old.engine"
    moved.write_bytes(first.path.read_bytes())
    sidecar = json.loads(sidecar_path(first.path).read_text())
    sidecar["key"]["tensorrt_version"] = "7.1.3"
    sidecar_path(moved).write_text(json.dumps(sidecar))
    assert load_backend(moved).name == "tensorrt"
    # ... and a clear error once it is gone.
    sidecar["source"] = str(tmp_path / "deleted.onnx")
    sidecar_path(moved).write_text(json.dumps(sidecar))
    with pytest.raises(EngineBuildError, match="built for another platform"):
        load_backend(moved)
    moved.write_bytes(b"not an engine")
    with pytest.raises(BackendError):
        load_backend(moved)


def test_build_engine_cli(
    trt_cache: Path, tiny_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "tiny.engine"
    assert cli_main(["build-engine", str(tiny_onnx), "--precision", "fp16", "-o", str(out)]) == 0
    assert "built in" in capsys.readouterr().out and out.is_file()
    assert cli_main(["build-engine", str(tiny_onnx), "--precision", "int8"]) == 1
    assert "INT8 needs calibration frames" in capsys.readouterr().out
