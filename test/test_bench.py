"""The benchmark command: JSON shape, side-by-side backends, model resolution per backend."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from asymfusion_ros.cli import main as cli_main
from asymfusion_ros.cli.bench import STAGES, model_for
from asymfusion_ros.inference.base import BackendKind


def test_compare_prints_per_stage_json(tiny_onnx: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("torch")  # the torch backend is one side of the comparison
    argv = ["bench", "--model", str(tiny_onnx), "--compare", "torch,onnxruntime", "--size", "128x96"]
    assert cli_main([*argv, "--iters", "3", "--warmup", "1", "--threads", "1", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["backend"] for r in results] == ["torch", "onnxruntime"]
    for result in results:
        assert result["fps"] > 0 and result["size"] == "128x96" and result["iters"] == 3
        assert set(result["stages"]) == set(STAGES)
        for stage in result["stages"].values():
            assert 0 <= stage["p50_ms"] <= stage["p95_ms"]
        assert result["overhead_ratio"] > 0


def test_table_output_and_bad_arguments(tiny_onnx: Path, capsys: pytest.CaptureFixture) -> None:
    assert (
        cli_main(["bench", "--model", str(tiny_onnx), "--size", "96x64", "--iters", "2", "--warmup", "0"])
        == 0
    )
    out = capsys.readouterr().out
    assert "onnxruntime" in out and "point_cloud" in out and "fps" in out
    assert cli_main(["bench", "--model", str(tiny_onnx), "--compare", "torch,tflite"]) == 2
    assert cli_main(["bench", "--model", str(tiny_onnx.with_name("missing.onnx"))]) == 1


def test_each_backend_gets_the_file_it_runs(tiny_checkpoint: Path, tmp_path: Path) -> None:
    alone = shutil.copy(tiny_checkpoint, tmp_path / "alone.pt")
    assert model_for(str(alone), BackendKind.TORCH, tmp_path) == Path(alone)
    exported = model_for(str(alone), BackendKind.ONNXRUNTIME, tmp_path / "work")
    assert exported == tmp_path / "work" / "alone.onnx" and exported.is_file()


def test_planned_network_timed_beside_a_peer(tiny_onnx: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("torch")  # the planned network is built and exported with torch
    argv = ["bench", "--scheme", "asymfusion", "--width", "0.125", "--size", "96x64"]
    argv += ["--peer", str(tiny_onnx)]
    assert cli_main([*argv, "--iters", "2", "--warmup", "0", "--threads", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"].endswith("untrained_asymfusion_resnet18_w0.125.onnx") and result["size"] == "96x64"
    assert result["peer"]["model"] == str(tiny_onnx) and result["peer"]["p50_ms"] > 0
    assert result["peer"]["backend_ratio"] > 0
    assert cli_main(["bench", "--scheme", "fancy", "--size", "96x64", "--iters", "1"]) == 1
    assert "unknown scheme 'fancy'" in capsys.readouterr().out
    assert cli_main(["bench", "--scheme", "rgb", "--size", "100x64", "--iters", "1"]) == 1
    assert "multiples of 32" in capsys.readouterr().out


def test_peer_needs_static_inputs(tmp_path: Path, capsys: pytest.CaptureFixture, tiny_onnx: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    dynamic = tmp_path / "dynamic.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what every supported ONNX Runtime loads (Humble's numpy 1.21 pins an older one)
    onnx.save(model, str(dynamic))
    assert cli_main(["bench", "--model", str(tiny_onnx), "--peer", str(dynamic), "--iters", "1"]) == 1
    assert "static shapes" in capsys.readouterr().out
