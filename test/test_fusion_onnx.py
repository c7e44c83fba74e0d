"""Every scheme and the preprocessing export to static ONNX (opset 17) and match PyTorch."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from asymfusion_ros.fusion import SCHEMES, ModalityInputs, build_model

torch.set_num_threads(1)

MODALITIES = ("rgb", "depth", "normals")


class LogitsOf(nn.Module):
    """Positional tensors in (ONNX has no dict inputs), the final logits out."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor, normals: torch.Tensor) -> torch.Tensor:
        return self.model({"rgb": rgb, "depth": depth, "normals": normals}).logits


def _export(
    module: nn.Module, args: tuple[torch.Tensor, ...], names: list[str], path: Path
) -> onnx.ModelProto:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notices
        torch.onnx.export(module.eval(), args, str(path), opset_version=17, input_names=names, dynamo=False)
    return onnx.load(str(path))


def _run(proto: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}
    return session.run(None, {k: v for k, v in feeds.items() if k in wanted})


def _assert_static(proto: onnx.ModelProto) -> None:
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    for value in [*proto.graph.input, *proto.graph.output]:
        dims = value.type.tensor_type.shape.dim
        assert dims and all(d.HasField("dim_value") for d in dims), value.name


CASES = [(scheme, ("rgb", "depth")) for scheme in SCHEMES] + [("asymfusion", MODALITIES)]


@pytest.mark.parametrize(("scheme", "modalities"), CASES)
def test_scheme_exports_and_onnxruntime_matches(
    scheme: str, modalities: tuple[str, ...], tmp_path: Path
) -> None:
    model = build_model(scheme, width=0.125, num_classes=6, modalities=modalities).eval()
    gen = torch.Generator().manual_seed(3)
    args = tuple(torch.randn(1, 3, 64, 64, generator=gen) for _ in MODALITIES)
    proto = _export(LogitsOf(model), args, list(MODALITIES), tmp_path / "model.onnx")
    _assert_static(proto)
    assert {i.name for i in proto.graph.input} == set(model.modalities)
    (onnx_logits,) = _run(proto, {m: a.numpy() for m, a in zip(MODALITIES, args, strict=True)})
    with torch.no_grad():
        torch_logits = LogitsOf(model)(*args).numpy()
    assert onnx_logits.shape == (1, 6, 64, 64)
    assert np.abs(onnx_logits - torch_logits).max() < 1e-4


class Preprocess(nn.Module):
    def __init__(self, inputs: ModalityInputs) -> None:
        super().__init__()
        self.inputs = inputs

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.inputs(rgb, depth)
        return tuple(out[m] for m in self.inputs.modalities)


@pytest.mark.parametrize("encoding", ["linear", "inverse"])
def test_preprocess_exports_with_invalid_depth(encoding: str, tmp_path: Path) -> None:
    inputs = ModalityInputs(MODALITIES, depth_encoding=encoding)
    gen = torch.Generator().manual_seed(4)
    rgb = torch.randint(0, 256, (1, 32, 48, 3), dtype=torch.uint8, generator=gen)
    depth = torch.rand(1, 32, 48, generator=gen) * 8
    depth[0, 5, 5], depth[0, 10, 20], depth[0, 0, :4] = float("nan"), 0.0, float("nan")
    proto = _export(Preprocess(inputs), (rgb, depth), ["rgb", "depth"], tmp_path / "preprocess.onnx")
    _assert_static(proto)
    outputs = _run(proto, {"rgb": rgb.numpy(), "depth": depth.numpy()})
    with torch.no_grad():
        expected = Preprocess(inputs)(rgb, depth)
    for got, want in zip(outputs, expected, strict=True):
        assert np.isfinite(got).all()
        assert np.abs(got - want.numpy()).max() < 1e-5
