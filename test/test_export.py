"""The ONNX bundle: contract (names, dtypes, static shapes, metadata) and the checks that guard it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from asymfusion_ros.cli import main as cli_main
from asymfusion_ros.export.exporter import ExportError, check_parity, export_onnx
from asymfusion_ros.export.onnx_checks import (
    TENSORRT_ONNX_OPS,
    OnnxCheckError,
    check_static_shapes,
    check_tensorrt_compatible,
    run_structural_checks,
)
from asymfusion_ros.inference.model_bundle import read_onnx_info
from asymfusion_ros.inference.torch_backend import load_deployed


def _io(values: object) -> dict[str, tuple[int, list[int]]]:
    return {
        v.name: (v.type.tensor_type.elem_type, [d.dim_value for d in v.type.tensor_type.shape.dim])
        for v in values  # type: ignore[attr-defined]
    }


def test_bundle_inputs_outputs_and_metadata(tiny_onnx: Path) -> None:
    model = onnx.load(str(tiny_onnx))
    assert _io(model.graph.input) == {
        "rgb": (TensorProto.UINT8, [1, 64, 96, 3]),
        "depth": (TensorProto.FLOAT, [1, 64, 96]),
    }
    assert _io(model.graph.output) == {
        "labels": (TensorProto.INT32, [1, 64, 96]),
        "confidence": (TensorProto.FLOAT, [1, 64, 96]),
    }
    props = {p.key: p.value for p in model.metadata_props}
    assert props["asymfusion.format"] == "1"
    keys = {"classes", "modalities", "input_size", "preprocess", "model", "data", "version", "metrics"}
    assert set(props) >= keys
    assert json.loads(props["input_size"]) == [64, 96]
    assert json.loads(props["modalities"]) == ["rgb", "depth"]
    assert json.loads(props["model"])["scheme"] == "asymfusion"
    assert props["metrics"] == "null"
    info = read_onnx_info(tiny_onnx)
    assert len(info.classes) == 40 and info.classes.names[0] == "wall"


def test_bundle_passes_every_check(tiny_onnx: Path, tiny_checkpoint: Path) -> None:
    model = onnx.load(str(tiny_onnx))
    inferred = run_structural_checks(model)
    assert len(inferred.graph.value_info) > 0  # intermediate shapes present, and static
    assert {n.op_type for n in model.graph.node} <= TENSORRT_ONNX_OPS
    assert not any(n.op_type == "Shape" for n in model.graph.node)  # shapes folded to constants
    segmenter, info = load_deployed(tiny_checkpoint)
    parity = check_parity(segmenter, tiny_onnx, info.input_size)
    assert parity.ok, parity
    assert parity.label_agreement >= 0.999 and parity.max_confidence_diff <= 1e-4


def _graph(
    nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto], opset: int = 17
) -> onnx.ModelProto:
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", inputs, [out])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_symbolic_dims_are_refused() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])
    model = _graph([helper.make_node("Relu", ["x"], ["y"])], [x])
    with pytest.raises(OnnxCheckError, match=r"static shapes.*batch"):
        check_static_shapes(model)


def test_ops_off_the_tensorrt_list_and_uint8_misuse_are_refused() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])
    with pytest.raises(OnnxCheckError, match="NonZero is not on the TensorRT allow-list"):
        check_tensorrt_compatible(_graph([helper.make_node("NonZero", ["x"], ["y"])], [x]))
    with pytest.raises(OnnxCheckError, match="opset 18"):
        check_tensorrt_compatible(_graph([helper.make_node("Relu", ["x"], ["y"])], [x], opset=18))
    rgb = helper.make_tensor_value_info("rgb", TensorProto.UINT8, [1, 2, 2, 3])
    transpose_first = [
        helper.make_node("Transpose", ["rgb"], ["t"], perm=[0, 3, 1, 2]),
        helper.make_node("Cast", ["t"], ["y"], to=TensorProto.FLOAT),
    ]
    with pytest.raises(OnnxCheckError, match="UINT8 input 'rgb' feeds Transpose"):
        check_tensorrt_compatible(_graph(transpose_first, [rgb]))
    for target, accepted in (
        (TensorProto.FLOAT, True),
        (TensorProto.FLOAT16, True),
        (TensorProto.INT32, False),
    ):
        cast = [helper.make_node("Cast", ["rgb"], ["y"], to=target)]
        if accepted:
            check_tensorrt_compatible(_graph(cast, [rgb]))
        else:
            with pytest.raises(
                OnnxCheckError, match="UINT8 input 'rgb' is cast to INT32, TensorRT casts UINT8 only"
            ):
                check_tensorrt_compatible(_graph(cast, [rgb]))


def test_export_errors_name_the_cause(tmp_path: Path, tiny_checkpoint: Path) -> None:
    with pytest.raises(ExportError, match="not found"):
        export_onnx(tmp_path / "missing.pt", tmp_path / "m.onnx")
    not_a_checkpoint = tmp_path / "junk.pt"
    not_a_checkpoint.write_bytes(b"not a checkpoint")
    with pytest.raises(ExportError, match=r"junk\.pt"):
        export_onnx(not_a_checkpoint, tmp_path / "m.onnx")
    with pytest.raises(ExportError, match="multiples of 32"):
        export_onnx(tiny_checkpoint, tmp_path / "m.onnx", input_size=(64, 80))
    assert not (tmp_path / "m.onnx").exists()


def test_cli_export_at_another_size(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "small.onnx"
    assert cli_main(["export", str(tiny_checkpoint), "-o", str(out), "--height", "64", "--width", "64"]) == 0
    assert "checks passed" in capsys.readouterr().out
    assert read_onnx_info(out).input_size == (64, 64)
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was moved, not left behind
    assert np.array_equal(_io(onnx.load(str(out)).graph.input)["rgb"][1], [1, 64, 64, 3])
    assert cli_main(["export", str(tiny_checkpoint), "-o", str(out), "--height", "64"]) == 2


def test_single_modality_bundle_keeps_both_inputs(tmp_path: Path) -> None:
    import torch

    from asymfusion_ros.classes import load_classes
    from asymfusion_ros.fusion import ModalityInputs, build_model
    from asymfusion_ros.fusion.checkpoint import save_checkpoint
    from asymfusion_ros.inference import load_backend

    torch.manual_seed(0)
    model = build_model("rgb", width=0.125).eval()
    checkpoint = save_checkpoint(
        tmp_path / "rgb_only.pt", model, ModalityInputs(("rgb",)), classes=load_classes("nyu40"),
        input_size=(64, 64), data="untrained",
    )  # fmt: skip
    bundle = export_onnx(checkpoint, tmp_path / "rgb_only.onnx")
    assert [i.name for i in onnx.load(str(bundle)).graph.input] == ["rgb", "depth"]
    labels, _ = load_backend(bundle).run(np.zeros((64, 64, 3), np.uint8), np.zeros((64, 64), np.float32))
    assert labels.shape == (64, 64)


def test_int8_bundle_from_calibration_frames(
    tmp_path: Path, tiny_checkpoint: Path, nyu_sample: Path, capsys: pytest.CaptureFixture
) -> None:
    from asymfusion_ros.inference import load_backend

    out = tmp_path / "int8.onnx"
    argv = ["export", str(tiny_checkpoint), "-o", str(out), "--int8", "--calib"]
    assert cli_main([*argv, str(nyu_sample), "--calib-frames", "2"]) == 0  # a folder of rgb/ + depth/
    assert "calibrated on 2 frames" in capsys.readouterr().out
    model = onnx.load(str(out))
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops and ops <= TENSORRT_ONNX_OPS
    run_structural_checks(model)
    assert read_onnx_info(out).input_size == (64, 96)  # the bundle's self-description is kept
    labels, confidence = load_backend(out).run(np.zeros((64, 96, 3), np.uint8), np.ones((64, 96), np.float32))
    assert labels.shape == confidence.shape == (64, 96)
    assert not list(tmp_path.glob("*fp32*"))
    assert cli_main([*argv, "synthetic", "--calib-frames", "1", "--int8-activations", "int8"]) == 0
    assert "int8 activations" in capsys.readouterr().out
    assert cli_main(["export", str(tiny_checkpoint), "-o", str(out), "--int8"]) == 2
    bag = tmp_path / "frames.mcap"
    bag.write_bytes(b"")
    assert cli_main([*argv, str(bag)]) == 1
    assert "frames.mcap" in capsys.readouterr().out  # an unreadable bag is named
    from asymfusion_ros.replay.make_bag import write_synthetic_bag

    recorded = tmp_path / "recorded"
    write_synthetic_bag(recorded, frames=3, size=(48, 64))
    assert cli_main([*argv, str(recorded), "--calib-frames", "2"]) == 0  # a rosbag, as build-engine takes
    assert "calibrated on 2 frames" in capsys.readouterr().out
