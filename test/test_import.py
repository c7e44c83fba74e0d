"""``asymfusion import``: foreign networks (ESANet's interface) as bundles that everything takes.

Tiny torch nets with ESANet's ONNX interface (test/foreign_nets.py) are exported at opset 11
and 17, RGB-only, with logits at 1/4 resolution, with dynamic spatial dims and with labels
out; each is imported, checked for parity, then run through the Segmenter, replay, eval,
bench, build-engine and the node over DDS. Every bad input is one ``error:`` line, exit 1
(2 for usage), and no file.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from foreign_nets import SIZE, build, esanet_preprocess, export
from onnx import TensorProto, helper, numpy_helper

from asymfusion_ros.cli import main
from asymfusion_ros.cli.frame_sources import camera_frames
from asymfusion_ros.export.exporter import ExportError
from asymfusion_ros.export.import_spec import PRESETS, ChannelOrder, DepthMode, DepthUnit, ImportSpec, preset
from asymfusion_ros.export.importer import AUTO, import_onnx
from asymfusion_ros.export.onnx_checks import TENSORRT_ONNX_OPS, run_structural_checks
from asymfusion_ros.inference.files import sha256_file
from asymfusion_ros.inference.letterbox import fit_frames
from asymfusion_ros.inference.model_bundle import read_onnx_info
from asymfusion_ros.inference.pipeline import Segmenter

NYU = PRESETS["esanet-nyuv2"]
FLAGS = ImportSpec(rgb_input=AUTO, depth_input=AUTO)


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every foreign network of this module, exported once."""
    root = tmp_path_factory.mktemp("foreign")
    return {
        "opset11": export(build(), root / "esanet_like_11.onnx", opset=11),
        "opset17": export(build(), root / "esanet_like_17.onnx", opset=17),
        "rgb_only": export(build(depth=False, classes=19), root / "rgb_only.onnx", inputs=("rgb",)),
        "quarter": export(build(quarter=True), root / "quarter.onnx"),
        "dynamic": export(build(), root / "dynamic.onnx", dynamic=True),
        "labels": export(build(labels=True), root / "labels.onnx"),
        "classes19": export(build(classes=19), root / "classes19.onnx"),
    }


@pytest.fixture(scope="module")
def bundle(nets: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The opset-11 ESANet-like net imported with ``--preset esanet-nyuv2``."""
    out = tmp_path_factory.mktemp("bundle") / "imported.onnx"
    assert main(["import", str(nets["opset11"]), "--preset", "esanet-nyuv2", "-o", str(out)]) == 0
    return out


def _frame(seed: int = 0, size: tuple[int, int] = SIZE) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    depth = rng.uniform(0.5, 6.0, size).astype(np.float32)
    depth[rng.random(size) < 0.1] = 0.0
    depth[rng.random(size) < 0.05] = np.nan
    return rgb, depth


def _esanet_argmax(net: torch.nn.Module, rgb: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The foreign net in torch on ESANet's preprocessing: labels and max softmax at input size."""
    x, d = esanet_preprocess(torch.from_numpy(rgb), torch.from_numpy(depth), NYU.depth_mean, NYU.depth_std)
    with torch.no_grad():
        logits = net(x, d)
        logits = F.interpolate(logits, size=rgb.shape[:2], mode="bilinear", align_corners=False)
        confidence, labels = torch.softmax(logits, dim=1).max(dim=1)
    return labels[0].numpy(), confidence[0].numpy()


def _run(path: Path, rgb: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    labels, confidence = session.run(["labels", "confidence"], {"rgb": rgb[None], "depth": depth[None]})
    return labels[0], confidence[0]


@pytest.mark.parametrize("opset", [11, 17])
def test_esanet_interface_becomes_a_checked_bundle(nets: dict[str, Path], tmp_path: Path, opset: int) -> None:
    source = nets[f"opset{opset}"]
    result = import_onnx(source, tmp_path / "b.onnx", preset("esanet-nyuv2"))
    assert result.parity.ok and result.tensorrt_warning == "" and result.source_opset == opset
    model = onnx.load(str(result.path))
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in (*model.graph.input, *model.graph.output)
    }
    assert shapes == {
        "rgb": [1, 48, 64, 3],
        "depth": [1, 48, 64],
        "labels": [1, 48, 64],
        "confidence": [1, 48, 64],
    }
    run_structural_checks(model)
    assert {n.op_type for n in model.graph.node} <= TENSORRT_ONNX_OPS
    assert [(o.domain, 13 <= o.version <= 17) for o in model.opset_import] == [("", True)]
    info = read_onnx_info(result.path)
    assert info.modalities == ("rgb", "depth") and info.input_size == SIZE and info.classes.name == "nyu40"
    assert info.model["origin"] == "imported" and info.model["trained_here"] is False
    assert info.model["source_sha256"] == sha256_file(source) and info.model["preset"] == "esanet-nyuv2"
    assert info.preprocess["imported"]["depth_mean"] == NYU.depth_mean
    # the foreign net's own argmax, on ESANet's preprocessing written in torch (not the importer's numpy)
    rgb, depth = _frame()
    labels, confidence = _run(result.path, rgb, depth)
    theirs, their_conf = _esanet_argmax(build(), rgb, depth)
    assert (labels == theirs).mean() >= 0.999
    assert np.abs(confidence - their_conf).max() < 1e-4


def test_parity_on_real_frames(nets: dict[str, Path], nyu_sample: Path, tmp_path: Path) -> None:
    def real(size: tuple[int, int]) -> list[tuple[np.ndarray, np.ndarray]]:
        return fit_frames(
            camera_frames(f"nyudv2:{nyu_sample}?depth_scale=5000", 0.001, size, 2), size, limit=2
        )

    result = import_onnx(nets["opset17"], tmp_path / "b.onnx", preset("esanet-nyuv2"), check_frames=real)
    assert result.parity.label_agreement >= 0.999
    for rgb, depth in real(SIZE):
        labels, _ = _run(result.path, rgb, depth)
        assert (labels == _esanet_argmax(build(), rgb, depth)[0]).mean() >= 0.999


def test_rgb_only_net_with_flags(nets: dict[str, Path], tmp_path: Path) -> None:
    result = import_onnx(nets["rgb_only"], tmp_path / "b.onnx", replace(FLAGS, classes="cityscapes19"))
    assert result.info.modalities == ("rgb",) and len(result.info.classes) == 19
    rgb, depth = _frame()
    labels, _ = _run(result.path, rgb, depth)
    assert np.array_equal(labels, _run(result.path, rgb, np.zeros_like(depth))[0])  # depth unused


def test_quarter_resolution_logits_are_upsampled_bilinearly(nets: dict[str, Path], tmp_path: Path) -> None:
    result = import_onnx(nets["quarter"], tmp_path / "b.onnx", preset("esanet-nyuv2"))
    assert result.info.model["output"] == {"name": "output", "kind": "logits", "size": [12, 16]}
    rgb, depth = _frame(1)
    labels, confidence = _run(result.path, rgb, depth)
    theirs, their_conf = _esanet_argmax(build(quarter=True), rgb, depth)
    assert labels.shape == SIZE and (labels == theirs).mean() >= 0.999
    assert np.abs(confidence - their_conf).max() < 1e-4


def test_dynamic_dims_are_fixed_by_size(nets: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="dynamic spatial dims"):
        import_onnx(nets["dynamic"], tmp_path / "b.onnx", preset("esanet-nyuv2"))
    result = import_onnx(nets["dynamic"], tmp_path / "b.onnx", preset("esanet-nyuv2"), size=(64, 96))
    assert result.info.input_size == (64, 96) and result.parity.ok
    run_structural_checks(onnx.load(str(result.path)))


def test_labels_output_gets_full_confidence(nets: dict[str, Path], tmp_path: Path) -> None:
    result = import_onnx(nets["labels"], tmp_path / "b.onnx", preset("esanet-nyuv2"))
    assert result.info.model["output"]["kind"] == "labels"
    rgb, depth = _frame(2)
    labels, confidence = _run(result.path, rgb, depth)
    assert (labels == _esanet_argmax(build(), rgb, depth)[0]).mean() >= 0.999
    assert np.all(confidence == 1.0)


def test_generic_flags_bgr_metres_and_a_class_file(nets: dict[str, Path], tmp_path: Path) -> None:
    classes = tmp_path / "mine.yaml"
    entries = [{"id": i, "name": f"c{i}", "color": [i, i, i]} for i in range(40)]
    classes.write_text(json.dumps({"name": "mine", "classes": entries}))
    out = tmp_path / "b.onnx"
    flags = ["--channel-order", "bgr", "--rgb-mean", "0.4", "0.5", "0.6", "--rgb-std", "0.2", "0.25", "0.3"]
    flags += ["--depth-unit", "m", "--depth-mean", "2.5", "--depth-std", "1.5", "--depth-invalid", "-3"]
    assert main(["import", str(nets["opset17"]), "-o", str(out), "--classes", str(classes), *flags]) == 0
    info = read_onnx_info(out)
    assert info.classes.name == "mine" and info.preprocess["imported"]["channel_order"] == "bgr"
    rgb, depth = _frame(3)
    x = (rgb[..., ::-1].astype(np.float64) / 255 - [0.4, 0.5, 0.6]) / [0.2, 0.25, 0.3]
    valid = np.nan_to_num(depth) > 0
    d = np.where(valid, (np.nan_to_num(depth) - 2.5) / 1.5, -3.0)
    with torch.no_grad():
        theirs = build()(
            torch.tensor(x.transpose(2, 0, 1)[None]).float(), torch.tensor(d[None, None]).float()
        )
    assert (_run(out, rgb, depth)[0] == theirs.argmax(1)[0].numpy()).mean() >= 0.999


def test_refined_depth_mode_normalises_holes_as_zero_depth() -> None:
    raw, refined = preset("esanet-nyuv2"), preset("esanet-nyuv2", DepthMode.REFINED)
    assert raw.depth_invalid == 0.0
    assert refined.depth_invalid == pytest.approx(-2841.94941272766 / 1417.2594281672277)
    assert PRESETS["esanet-cityscapes"].depth_per_metre == DepthUnit.M.per_metre == 1.0
    assert PRESETS["esanet-sunrgbd"].depth_per_metre == 8000.0  # SUN RGB-D PNGs as stored: 8 a mm
    assert raw.depth_per_metre == 1000.0 and raw.channel_order is ChannelOrder.RGB


def test_opset_above_tensorrt_is_converted(tmp_path: Path) -> None:
    source = export(build(), tmp_path / "opset18.onnx", opset=18)
    result = import_onnx(source, tmp_path / "b.onnx", preset("esanet-nyuv2"))
    assert result.source_opset == 18 and result.parity.ok
    assert next(o.version for o in onnx.load(str(result.path)).opset_import if o.domain == "") == 17


def test_opset_18_graph_that_cannot_convert_keeps_its_opset_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """BitwiseNot is new in opset 18: nothing takes it to 17, so the graph stays at 18 and is named."""
    weight = numpy_helper.from_array(np.linspace(-4, 4, 40, dtype=np.float32).reshape(40, 1, 1, 1), "w")
    nodes = [
        helper.make_node("ReduceMean", ["rgb"], ["rgb_mean"], keepdims=1),  # all axes: colour counts too
        helper.make_node("Conv", ["depth", "w"], ["c"]),
        helper.make_node("Cast", ["c"], ["c_int"], to=TensorProto.INT32),
        helper.make_node("BitwiseNot", ["c_int"], ["flipped"]),
        helper.make_node("Cast", ["flipped"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["f", "rgb_mean"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "mish",
        [
            helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, c, *SIZE])
            for n, c in (("rgb", 3), ("depth", 1))
        ],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 40, *SIZE])],
        [weight],
    )
    source = tmp_path / "mish.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(source))
    assert main(["import", str(source), *NYU_PRESET, "-o", str(tmp_path / "b.onnx")]) == 0
    warning = capsys.readouterr().err
    assert (
        "opset 18 outside [13, 17]" in warning
        and "op BitwiseNot is not on the TensorRT allow-list" in warning
    )
    assert next(o.version for o in onnx.load(str(tmp_path / "b.onnx")).opset_import) == 18


def test_foreign_op_outside_the_allow_list_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    class WithSelu(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = build()

        def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
            return F.selu(self.net(rgb, depth))

    source = export(WithSelu().eval(), tmp_path / "selu.onnx")
    assert main(["import", str(source), "--preset", "esanet-nyuv2", "-o", str(tmp_path / "b.onnx")]) == 0
    assert (
        "warning: TensorRT compatibility: op Selu is not on the TensorRT allow-list"
        in capsys.readouterr().err
    )


def _bad_output(tmp_path: Path) -> Path:
    class Pooled(torch.nn.Module):
        def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
            return torch.cat([rgb, depth], dim=1).mean(dim=(2, 3))  # [1, 4]: neither logits nor labels

    return export(Pooled(), tmp_path / "pooled.onnx")


def _four_channel_rgb(tmp_path: Path) -> Path:
    class RGBA(torch.nn.Module):
        def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
            return torch.cat([rgb, depth], dim=1).repeat(1, 10, 1, 1)

    path = tmp_path / "rgba.onnx"
    torch.onnx.export(
        RGBA(), (torch.rand(1, 4, 48, 64), torch.rand(1, 1, 48, 64)), str(path),
        input_names=["rgb", "depth"], output_names=["output"], opset_version=17, dynamo=False,
    )  # fmt: skip
    return path


NYU_PRESET = ["--preset", "esanet-nyuv2"]
# case: (source: a key of ``nets`` or of ``_made``, flags, exit status, part of the error line)
BAD_INPUTS: dict[str, tuple[str, list[str], int, str]] = {
    "not onnx": ("text", NYU_PRESET, 1, "is not an ONNX file"),
    "missing file": ("absent", NYU_PRESET, 1, "is not an ONNX file"),
    "input count": ("rgb_only", NYU_PRESET, 1, "has inputs ['rgb']"),
    "channel count": ("rgba", NYU_PRESET, 1, "expected [1,3,H,W]"),
    "class count": ("classes19", NYU_PRESET, 1, "has 19 channels"),
    "preset of another shape": ("opset17", ["--preset", "esanet-cityscapes"], 1, "has 40 channels but class"),
    "dynamic without size": ("dynamic", NYU_PRESET, 1, "give --size"),
    "size on a static net": ("opset17", [*NYU_PRESET, "--size", "96x64"], 1, "is fixed at 64x48"),
    "neither logits nor labels": ("pooled", NYU_PRESET, 1, "neither logits"),
    "unknown output": ("opset17", ["--output", "logits"], 1, "name the one to use"),
    "unknown class set": ("opset17", ["--classes", "nope"], 1, "class set 'nope'"),
    "preset with flags": ("opset17", [*NYU_PRESET, "--depth-unit", "m"], 2, "drop --depth-unit"),
    "bad std": ("opset17", ["--depth-std", "0"], 2, "must be > 0"),
    "depth mode without preset": ("opset17", ["--depth-mode", "refined"], 2, "for a preset"),
}


def _made(name: str, tmp: Path) -> Path:
    """The bad sources that are not networks of the ``nets`` fixture."""
    if name == "text":
        path = tmp / "notes.onnx"
        path.write_text("not a network\n" * 10)
        return path
    if name == "absent":
        return tmp / "absent.onnx"
    return _four_channel_rgb(tmp) if name == "rgba" else _bad_output(tmp)


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_error_line_and_nothing_written(
    nets: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    name, flags, status, message = BAD_INPUTS[case]
    source = nets[name] if name in nets else _made(name, tmp_path)
    out = tmp_path / "out" / "b.onnx"
    assert main(["import", str(source), "-o", str(out), *flags]) == status
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_segmenter_eval_bench_and_build_engine_take_the_bundle(
    bundle: Path, nyu_sample: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    segmenter = Segmenter.from_path(bundle, backend="onnxruntime")
    rgb, depth = _frame(4, (480, 640))
    result = segmenter.segment(rgb, depth)
    assert result.labels.shape == (480, 640) and result.labels.max() < 40
    assert (
        main(["eval", "--model", str(bundle), "--data", f"nyudv2:{nyu_sample}?depth_scale=5000", "--json"])
        == 0
    )
    assert 0.0 <= json.loads(capsys.readouterr().out)["pixel_acc"] <= 1.0
    assert (
        main(["bench", "--model", str(bundle), "--backend", "onnxruntime", "--iters", "2", "--warmup", "0"])
        == 0
    )
    capsys.readouterr()
    status = main(["build-engine", str(bundle)])
    if status != 0:  # no TensorRT here: it got as far as looking for it
        assert "TensorRT is not importable here" in capsys.readouterr().out


def test_replay_fleet_and_the_node_over_dds_take_the_bundle(
    bundle: Path, context: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ros_harness import Harness, wall_frame

    from asymfusion_ros.replay import make_bag

    fleet = tmp_path / "fleet"
    for seed in (1, 2):
        make_bag.write_synthetic_bag(fleet / f"bag{seed}", frames=3, rate_hz=30.0, size=(48, 64), seed=seed)
    model = ["--model", str(bundle), "--backend", "onnxruntime"]
    assert main(["replay", str(fleet / "bag1"), *model, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 3
    report = tmp_path / "report"
    assert main(["replay", str(fleet), *model, "--jobs", "2", "--report", str(report)]) == 0
    assert json.loads((report / "report.json").read_text())["frames"] == 6
    harness = Harness(context, bundle, "/import_test")
    try:
        frame = wall_frame()
        stamp = harness.send(frame, ("labels", "color"))
        assert harness.received["labels"][stamp].height == frame.rgb.shape[0]
        harness.wait_for(lambda: bool(harness.classes), 5.0, "the latched class list")
        assert json.loads(harness.classes[-1])["name"] == "nyu40"
    finally:
        harness.close()
