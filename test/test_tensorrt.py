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
import onnx
import pytest
from onnx import TensorProto, helper

from asymfusion_ros.cli import main as cli_main
from asymfusion_ros.cli.build_engine import calibration_source
from asymfusion_ros.inference.base import Precision
from asymfusion_ros.inference.errors import BackendError, EngineBuildError
from asymfusion_ros.inference.files import write_atomically
from asymfusion_ros.inference.tensorrt.calibration import CalibrationFeed, calibration_frames, fingerprint
from asymfusion_ros.inference.tensorrt.cuda_memory import GpuInfo, cuda_api
from asymfusion_ros.inference.tensorrt.engine_cache import (
    CACHE_ENV,
    PLATFORM_FIELDS,
    EngineCache,
    EngineKey,
    cache_root,
    engine_key,
)
from asymfusion_ros.inference.tensorrt.onnx_graph import parser_bytes, without_unused_inputs
from asymfusion_ros.inference.tensorrt.settings import builder_settings

KEY = EngineKey(
    onnx_sha256="ab" * 32,
    tensorrt_version="8.5.2.2",
    gpu_name="Orin",
    compute_capability="8.7",
    gpu_sm_count=16,
    gpu_memory_bytes=64 << 30,
    precision="fp16",
    builder="fp16 +FP16 workspace=1073741824",
    package_version="0.1.0",
    input_shapes=(("rgb", (1, 240, 320, 3)), ("depth", (1, 240, 320))),
)
ORIN_NX = GpuInfo("Orin", (8, 7), 8, 16 << 30)


def test_every_key_part_changes_the_key() -> None:
    changes: dict[str, Any] = {
        "onnx_sha256": "cd" * 32,
        "tensorrt_version": "10.3.0",
        "gpu_name": "NVIDIA H100",
        "compute_capability": "9.0",
        "gpu_sm_count": 8,
        "gpu_memory_bytes": 16 << 30,
        "precision": "int8",
        "builder": "fp16 +FP16 workspace=2147483648",
        "package_version": "0.2.0",
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
    # Orin modules share name and compute capability; an engine key tells them apart.
    nx = KEY.on_platform(ORIN_NX, "8.5.2.2")
    assert (
        nx.platform_mismatch(KEY) == "gpu_sm_count 8 here 16, gpu_memory_bytes 17179869184 here 68719476736"
    )
    assert KEY.on_platform(GpuInfo("Orin", (8, 7), 16, 64 << 30), "8.5.2.2") == KEY
    assert set(PLATFORM_FIELDS) < set(changes)


def test_engine_keys_of_builds(tiny_onnx: Path) -> None:
    fp16 = builder_settings(Precision.FP16)
    plain = engine_key(tiny_onnx, fp16, ORIN_NX, "8.6.2")
    assert (plain.gpu_sm_count, plain.gpu_memory_bytes, plain.compute_capability) == (8, 16 << 30, "8.7")
    assert plain.input_shapes == (("rgb", (1, 64, 96, 3)), ("depth", (1, 64, 96)))
    assert plain.builder == "fp16 +FP16 workspace=1073741824" and plain.package_version
    # `build-engine --precision fp16 --calib X` must build the engine a later plain load looks up.
    assert engine_key(tiny_onnx, fp16, ORIN_NX, "8.6.2", calibration="frames-a") == plain
    int8 = builder_settings(Precision.INT8)
    assert engine_key(tiny_onnx, int8, ORIN_NX, "8.6.2", "frames-a").calibration == "frames-a"
    assert engine_key(tiny_onnx, int8, ORIN_NX, "8.6.2", "frames-a") != engine_key(
        tiny_onnx, int8, ORIN_NX, "8.6.2", "frames-b"
    )
    bigger = builder_settings(Precision.FP16, workspace_bytes=2 << 30)
    assert engine_key(tiny_onnx, bigger, ORIN_NX, "8.6.2") != plain  # builder settings are in the key


def test_builder_flags_per_precision() -> None:
    fp32 = builder_settings(Precision.FP32)
    # TensorRT enables TF32 by default: an fp32 build must clear it, or Ampere+ runs TF32.
    assert fp32.set_flags == () and fp32.clear_flags == ("TF32",)
    assert fp32.describe() == "fp32 -TF32 workspace=1073741824"
    assert builder_settings(Precision.FP16).set_flags == ("FP16",)
    int8 = builder_settings(Precision.INT8)
    assert int8.set_flags == ("FP16", "INT8") and int8.clear_flags == ()
    with pytest.raises(ValueError, match="workspace_bytes must be > 0, got 0"):
        builder_settings(Precision.FP16, workspace_bytes=0)


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
    assert cache.timing_cache_path(KEY) != cache.timing_cache_path(KEY.on_platform(ORIN_NX, "8.5.2.2"))


def test_the_sidecar_names_the_onnx_source_resolved(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A relative source would be looked up from wherever the next load runs (ros2 launch: elsewhere).
    monkeypatch.chdir(tmp_path)
    path = EngineCache(tmp_path / "cache").store(KEY, "model", b"engine", {}, Path("model.onnx"))
    assert json.loads(path.with_name(path.name + ".json").read_text())["source"] == str(
        tmp_path / "model.onnx"
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


def test_atomic_write_leaves_the_process_umask_alone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    mask = os.umask(0o027)
    try:

        def no_umask(value: int) -> int:
            raise AssertionError("os.umask changes the mask of every thread of the process")

        monkeypatch.setattr(os, "umask", no_umask)
        path = write_atomically(tmp_path / "engine", b"bytes")
        assert path.stat().st_mode & 0o777 == 0o640  # 0666 less the umask, applied by the kernel
    finally:
        monkeypatch.undo()
        os.umask(mask)


def test_calibration_frames_from_a_folder(nyu_sample: Path) -> None:
    source = calibration_source(nyu_sample, 5, 1 / 5000)
    frames = list(calibration_frames(source.frames, (64, 96), limit=source.limit))
    assert len(frames) == 2
    for rgb, depth in frames:
        assert rgb.shape == (64, 96, 3) and rgb.dtype == np.uint8
        assert depth.shape == (64, 96) and depth.dtype == np.float32
        assert 0.5 < float(np.median(depth[depth > 0])) < 10.0  # metres, not raw PNG units
    assert fingerprint(nyu_sample, 5, 1 / 5000) != fingerprint(nyu_sample, 4, 1 / 5000)
    assert source.fingerprint == fingerprint(nyu_sample, 5, 1 / 5000)


def test_calibration_frames_from_a_bag(tmp_path: Path) -> None:
    from asymfusion_ros.replay.make_bag import write_synthetic_bag

    bag = tmp_path / "calib_bag"
    write_synthetic_bag(bag, frames=3, size=(48, 64))
    frames = list(calibration_frames(calibration_source(bag, 10, 0.001).frames, (64, 96), limit=10))
    assert len(frames) == 3
    assert all(rgb.shape == (64, 96, 3) and depth.shape == (64, 96) for rgb, depth in frames)


def test_calibration_source_errors(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="not found"):
        calibration_source(tmp_path / "nothing", 200, 0.001)
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackendError, match="no calibration frames"):
        calibration_source(tmp_path / "empty", 200, 0.001)


def _frames(count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(np.full((48, 64, 3), i, np.uint8), np.full((48, 64), 1.0 + i, np.float32)) for i in range(count)]


def test_calibration_frames_are_checked_before_the_build() -> None:
    frames = calibration_frames(iter(_frames(5)), (64, 96), limit=3)
    assert len(frames) == 3 and frames[2][0].shape == (64, 96, 3) and frames[2][1].dtype == np.float32
    with pytest.raises(EngineBuildError, match="gave no frames"):
        calibration_frames(iter([]), (64, 96), limit=200)
    with pytest.raises(EngineBuildError, match=r"frame 1: rgb must be \(H, W, 3\) uint8, got float32"):
        calibration_frames(
            [_frames(1)[0], (np.zeros((48, 64, 3), np.float32), _frames(1)[0][1])], (64, 96), limit=9
        )
    with pytest.raises(
        EngineBuildError, match=r"frame 0: depth must be \(48, 64\) float32 metres, got uint16"
    ):
        calibration_frames([(_frames(1)[0][0], np.zeros((48, 64), np.uint16))], (64, 96), limit=9)


def test_a_bad_calibration_folder_is_named_before_the_build(tmp_path: Path, nyu_sample: Path) -> None:
    folder = tmp_path / "calib"
    for sub in ("rgb", "depth"):
        (folder / sub).mkdir(parents=True)
        for png in sorted((nyu_sample / sub).glob("*.png")):
            (folder / sub / png.name).write_bytes(png.read_bytes())
    (folder / "rgb" / "000464.png").write_bytes(b"not a png")
    source = calibration_source(folder, 200, 1 / 5000)
    with pytest.raises(
        EngineBuildError, match=r"INT8 calibration input .*calib: cannot read image .*000464\.png"
    ):
        calibration_frames(source.frames, (64, 96), limit=source.limit)


def test_calibration_errors_inside_tensorrt_are_kept_and_raised(tmp_path: Path) -> None:
    cache_path = tmp_path / "calib.cache"
    feed = CalibrationFeed(_frames(3), cache_path)
    assert feed.read_cache() is None
    uploaded: list[int] = []

    def upload(frame: tuple[np.ndarray, np.ndarray]) -> list[int]:
        if len(uploaded) == 1:
            raise RuntimeError("cudaMemcpyAsync failed")
        uploaded.append(int(frame[0][0, 0, 0]))
        return [1000 + len(uploaded)]

    assert feed.next_batch(upload) == [1001]
    assert feed.next_batch(upload) is None  # what TensorRT's wrapper would have turned it into
    assert feed.next_batch(upload) is None and uploaded == [0]  # nothing more after an error
    feed.write_cache(b"partial scales")
    assert not cache_path.exists()  # partial scales would be reused by every later build
    with pytest.raises(
        EngineBuildError, match=r"failed after 1 of 3 frames: RuntimeError\('cudaMemcpyAsync failed'\)"
    ) as err:
        feed.raise_error()
    assert isinstance(err.value.__cause__, RuntimeError)


def test_a_clean_calibration_keeps_its_cache(tmp_path: Path) -> None:
    feed = CalibrationFeed(_frames(2), tmp_path / "calib.cache")
    batches = [feed.next_batch(lambda frame: [int(frame[1][0, 0])]) for _ in range(3)]
    assert batches == [[1], [2], None]
    feed.raise_error()  # nothing to raise
    feed.write_cache(b"scales")
    assert feed.read_cache() == b"scales"


def test_a_missing_calibration_source_is_an_error_not_a_traceback(
    tiny_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(EngineBuildError, match="calibration source not found"):
        fingerprint(tmp_path / "nothing", 200, 0.001)
    missing = tmp_path / "no_such_bag.mcap"
    assert cli_main(["build-engine", str(tiny_onnx), "--precision", "int8", "--calib", str(missing)]) == 1
    assert f"error: calibration source not found: {missing}" in capsys.readouterr().out


def test_a_cuda_binding_without_a_device_is_passed_over() -> None:
    torch = pytest.importorskip("torch")  # the real binding that imports but sees no device

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible here: torch.cuda would rightly be chosen")
    # torch imports here and sees no device: it must not be chosen, and the advice must not be
    # the `pip install cuda-python` that gives JetPack 5 (CUDA 11.4) a binding seeing no device.
    with pytest.raises(BackendError, match=r"torch\.cuda: imports but sees no CUDA device") as err:
        cuda_api()
    assert "pip install cuda-python" not in str(err.value)


def _single_modality_graph() -> onnx.ModelProto:
    rgb = helper.make_tensor_value_info("rgb", TensorProto.UINT8, [1, 4, 4, 3])
    depth = helper.make_tensor_value_info("depth", TensorProto.FLOAT, [1, 4, 4])
    out = helper.make_tensor_value_info("labels", TensorProto.FLOAT, [1, 4, 4])
    graph = helper.make_graph(
        [helper.make_node("Relu", ["depth"], ["labels"])], "depth_only", [rgb, depth], [out]
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_unused_inputs_stay_out_of_the_engine(tmp_path: Path, tiny_onnx: Path) -> None:
    model = _single_modality_graph()
    pruned, unused = without_unused_inputs(model)
    assert unused == ("rgb",) and [i.name for i in pruned.graph.input] == ["depth"]
    assert [i.name for i in model.graph.input] == ["rgb", "depth"]  # the bundle itself is untouched
    onnx.checker.check_model(pruned, full_check=True)
    path = tmp_path / "depth_only.onnx"
    onnx.save(model, str(path))
    data, removed = parser_bytes(path)
    assert removed == ("rgb",) and [i.name for i in onnx.load_from_string(data).graph.input] == ["depth"]
    assert parser_bytes(tiny_onnx) == (tiny_onnx.read_bytes(), ())  # a fusion bundle reads both


NO_TENSORRT = importlib.util.find_spec("tensorrt") is None


@pytest.mark.skipif(not NO_TENSORRT, reason="TensorRT is installed here: the engine tests below run instead")
def test_build_engine_cli_says_why_without_tensorrt(tiny_onnx: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["build-engine", str(tiny_onnx)]) == 1
    assert "TensorRT is not importable" in capsys.readouterr().out
    assert cli_main(["build-engine", str(tiny_onnx), "--calib", str(tiny_onnx.parent)]) == 1
    out = capsys.readouterr().out
    assert "note: --calib is for int8 builds; a fp16 engine does not use it" in out
    assert "TensorRT is not importable" in out


# --- need TensorRT and a CUDA GPU -------------------------------------------------------------


@pytest.fixture
def trt_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    pytest.importorskip("tensorrt", reason="TensorRT is not installed (JetPack / NVIDIA wheels only)")
    from asymfusion_ros.inference.loader import tensorrt_usable

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
    # A corrupt engine whose sidecar matches this platform reaches deserialisation and says so.
    corrupt = tmp_path / "corrupt.engine"
    corrupt.write_bytes(b"not an engine")
    sidecar_path(corrupt).write_text(sidecar_path(first.path).read_text())
    with pytest.raises(EngineBuildError, match="cannot deserialize"):
        load_backend(corrupt)
    # A corrupt cached engine is rebuilt from its bundle.
    first.path.write_bytes(b"truncated")
    assert load_backend(tiny_onnx, backend="tensorrt").name == "tensorrt"
    assert first.path.read_bytes() != b"truncated"


def test_build_engine_cli(
    trt_cache: Path, tiny_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "tiny.engine"
    assert cli_main(["build-engine", str(tiny_onnx), "--precision", "fp16", "-o", str(out)]) == 0
    assert "built in" in capsys.readouterr().out and out.is_file()
    assert cli_main(["build-engine", str(tiny_onnx), "--precision", "int8"]) == 1
    assert "INT8 needs calibration frames" in capsys.readouterr().out
