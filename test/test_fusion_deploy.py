"""The deployment form of a network: channels-last post-processing and per-modality BN folding."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from asymfusion_ros.cli import main as cli_main
from asymfusion_ros.fusion import build_model
from asymfusion_ros.fusion.decoder import RefineDecoder
from asymfusion_ros.fusion.folding import FoldedAsymFusion, fold_for_deployment
from asymfusion_ros.fusion.postprocess import labels_and_confidence

torch.set_num_threads(1)


def test_channels_last_postprocessing_is_the_channel_softmax() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 7, 6, 8) * 3
    labels, confidence = labels_and_confidence(logits, (24, 32))
    up = F.interpolate(logits, size=(24, 32), mode="bilinear", align_corners=False)
    expected_confidence, expected_labels = torch.softmax(up, dim=1).max(dim=1)
    assert labels.dtype == torch.int32 and labels.shape == (2, 24, 32)
    assert torch.equal(labels.long(), expected_labels)
    assert torch.allclose(confidence, expected_confidence, atol=1e-6)


def _randomise_batchnorm(model: nn.Module) -> None:
    """Trained-looking BN statistics, so a wrong fold cannot hide behind identity BNs."""
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            for tensor, low, high in (
                (module.running_mean, -1.0, 1.0),
                (module.running_var, 0.5, 2.0),
                (module.weight.data, 0.5, 1.5),
                (module.bias.data, -0.5, 0.5),
            ):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) * (high - low) + low)


@pytest.mark.parametrize(
    ("backbone", "modalities"),
    [("resnet18", ("rgb", "depth")), ("resnet50", ("rgb", "depth", "normals"))],
)
def test_folded_asymfusion_decodes_like_the_trained_form(backbone: str, modalities: tuple[str, ...]) -> None:
    torch.manual_seed(0)
    model = build_model("asymfusion", backbone=backbone, width=0.125, modalities=modalities, num_classes=5)
    _randomise_batchnorm(model)
    with torch.no_grad():
        model.alpha.copy_(torch.linspace(-0.3, 0.4, len(modalities)))
    model.eval()
    folded = fold_for_deployment(model)
    assert isinstance(folded, FoldedAsymFusion)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    inputs = {m: torch.randn(1, 3, 64, 96) for m in modalities}
    with torch.no_grad():
        assert torch.allclose(folded.decode(inputs), model.decode(inputs), atol=1e-4)
    assert model.alpha.requires_grad and next(model.parameters()).requires_grad  # source untouched


def test_other_schemes_deploy_as_they_are() -> None:
    model = build_model("concat", width=0.125)
    assert fold_for_deployment(model) is model


def _conv_consumers(model: onnx.ModelProto) -> set[str]:
    conv_outputs = {o for n in model.graph.node if n.op_type == "Conv" for o in n.output}
    return {n.op_type for n in model.graph.node if set(n.input) & conv_outputs}


def test_folded_export_runs_conv_relu_without_bn_affine(
    tiny_onnx: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    shared = onnx.load(str(tiny_onnx))  # the default keeps the trained layout
    assert "Reshape" in _conv_consumers(shared)  # the per-modality BN affine
    softmax = next(n for n in shared.graph.node if n.op_type == "Softmax")
    assert onnx.helper.get_attribute_value(softmax.attribute[0]) in (-1, 3)  # channels-last
    out = tmp_path / "folded.onnx"
    assert cli_main(["export", str(tiny_checkpoint), "-o", str(out), "--fold-bn"]) == 0  # parity checked
    folded = onnx.load(str(out))
    assert not _conv_consumers(folded) & {"Mul", "Reshape", "BatchNormalization"}
    assert any(a.name == "group" and a.i == 2 for n in folded.graph.node for a in n.attribute)


def test_decoder_width_narrows_only_the_decoder() -> None:
    wide = build_model("asymfusion", width=0.25, num_classes=5)
    narrow = build_model("asymfusion", width=0.25, num_classes=5, decoder_width=0.5)
    assert narrow.config["decoder_width"] == 0.5
    assert narrow.decoder.level1.reduce.out_channels == wide.decoder.level1.reduce.out_channels // 2
    assert narrow.encoder.out_channels == wide.encoder.out_channels
    with pytest.raises(ValueError, match="decoder_width"):
        build_model("asymfusion", decoder_width=0.0)


@pytest.mark.parametrize("scheme", ["rgb", "depth", "concat", "average"])
def test_baselines_take_the_same_decoder_width(scheme: str) -> None:
    """A baseline compared with a half-width-decoder AsymFusion gets the same decoder."""
    wide = build_model(scheme, width=0.25, num_classes=5)
    narrow = build_model(scheme, width=0.25, num_classes=5, decoder_width=0.5)
    assert narrow.config["decoder_width"] == 0.5
    for w, n in zip(wide.modules(), narrow.modules(), strict=True):
        if isinstance(w, RefineDecoder):
            assert n.level1.reduce.out_channels == w.level1.reduce.out_channels // 2
    assert sum(p.numel() for p in narrow.parameters()) < sum(p.numel() for p in wide.parameters())
