"""``asymfusion adapt``: BatchNorm re-estimation (AdaBN) and tent, in the maths and on the command line."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import Tensor, nn

from asymfusion_ros.bags import BagWriter, typestore
from asymfusion_ros.cli import main as cli_main
from asymfusion_ros.data import open_dataset
from asymfusion_ros.export.exporter import check_parity
from asymfusion_ros.fusion.checkpoint import load_checkpoint
from asymfusion_ros.fusion.ops import ModalityBatchNorm, stack_inputs
from asymfusion_ros.inference.model_bundle import read_onnx_info
from asymfusion_ros.inference.torch_backend import load_deployed
from asymfusion_ros.replay.make_bag import Compression, write_synthetic_bag
from asymfusion_ros.ros import messages
from asymfusion_ros.training.adapt import (
    AdaptError,
    AdaptMethod,
    adapt,
    batch_norms,
    input_batches,
    reestimate_bn,
)

SIZE = (64, 96)


@pytest.fixture(scope="module")
def frames() -> list[tuple[np.ndarray, np.ndarray]]:
    """Three synthetic camera frames at the tiny model's input size."""
    return [(s.rgb, s.depth_m) for s in open_dataset("synthetic", split="train", size=SIZE, frames=3, seed=5)]


def _changed(before: Mapping[str, Tensor], after: Mapping[str, Tensor]) -> set[str]:
    return {k for k in before if not torch.equal(before[k], after[k])}


def _bn_keys(model: nn.Module, fields: Sequence[str]) -> set[str]:
    names = {m: n for n, m in model.named_modules()}
    return {f"{names[bn]}.{f}" for bn in batch_norms(model) for f in fields}


class _StackedBN(nn.Module):
    """A shared conv and a per-modality BN: enough to check the statistics by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = ModalityBatchNorm(4, num_modalities=2)

    def forward(self, inputs: Mapping[str, Tensor]) -> Tensor:
        return self.bn(self.conv(stack_inputs(inputs, ("rgb", "depth"))))


def test_statistics_are_the_cumulative_average_over_every_batch() -> None:
    torch.manual_seed(0)
    model = _StackedBN().eval()
    batches = [
        {"rgb": torch.randn(2, 3, 32, 32) + i, "depth": 3 * torch.randn(2, 3, 32, 32)} for i in range(3)
    ]
    assert reestimate_bn(model, batches, mix=1.0) == 2
    assert not model.training and not model.bn.training  # inference path again
    with torch.no_grad():
        feats = [model.conv(torch.cat([b["rgb"], b["depth"]])) for b in batches]
    for m, bn in enumerate(model.bn.bns):
        stream = [f[2 * m : 2 * m + 2] for f in feats]
        mean = torch.stack([s.mean(dim=(0, 2, 3)) for s in stream]).mean(0)
        var = torch.stack([s.var(dim=(0, 2, 3), unbiased=True) for s in stream]).mean(0)
        torch.testing.assert_close(bn.running_mean, mean, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(bn.running_var, var, rtol=1e-4, atol=1e-5)
        assert bn.momentum == 0.1  # restored
    # the eval path uses them: depth (std 3) is normalised to about unit spread
    with torch.no_grad():
        out = model(batches[0])
    assert 0.7 < float(out[2:].std()) < 1.3


def test_adabn_changes_only_bn_statistics_and_mix_blends(tiny_checkpoint: Path, frames: list) -> None:
    ckpt = load_checkpoint(tiny_checkpoint)
    model, preprocess = ckpt.build()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batch = input_batches(preprocess, frames[:1], 1)[0]
    with torch.no_grad():
        logits_before = model(batch).logits
    adapt(model, preprocess, frames, method=AdaptMethod.ADABN, mix=1.0)
    changed = _changed(before, model.state_dict())
    stats = _bn_keys(model, ("running_mean", "running_var", "num_batches_tracked"))
    assert changed <= stats
    assert _bn_keys(model, ("running_mean",)) <= changed  # every BN was reached
    with torch.no_grad():
        assert not torch.equal(model(batch).logits, logits_before)  # inference sees the new statistics

    half, _ = ckpt.build()
    adapt(half, preprocess, frames, method=AdaptMethod.ADABN, mix=0.5)
    for key in _bn_keys(model, ("running_mean", "running_var")):
        expected = 0.5 * before[key] + 0.5 * model.state_dict()[key]
        torch.testing.assert_close(half.state_dict()[key], expected, rtol=1e-5, atol=1e-6)


def test_mix_zero_gives_the_model_back_bit_for_bit(tiny_checkpoint: Path, frames: list) -> None:
    model, preprocess = load_checkpoint(tiny_checkpoint).build()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    adapt(model, preprocess, frames, method=AdaptMethod.ADABN, mix=0.0)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) and before[k].dtype == after[k].dtype for k in before)


def test_tent_changes_only_bn_statistics_and_affine_parameters(tiny_checkpoint: Path, frames: list) -> None:
    model, preprocess = load_checkpoint(tiny_checkpoint).build()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    entropies = adapt(model, preprocess, frames, method=AdaptMethod.TENT, mix=1.0, steps=4, batch_size=2)
    assert len(entropies) == 4 and entropies[-1] < entropies[0]
    changed = _changed(before, model.state_dict())
    assert changed <= _bn_keys(
        model, ("running_mean", "running_var", "num_batches_tracked", "weight", "bias")
    )
    assert _bn_keys(model, ("weight",)) & changed
    assert all(p.requires_grad and p.grad is None for p in model.parameters())
    assert not model.training


def test_bad_settings_and_a_model_without_batchnorm_are_refused(tiny_checkpoint: Path, frames: list) -> None:
    model, preprocess = load_checkpoint(tiny_checkpoint).build()
    with pytest.raises(AdaptError, match="at least 1"):
        adapt(model, preprocess, [], method=AdaptMethod.ADABN, mix=1.0)
    with pytest.raises(AdaptError, match=r"mix must be in \[0, 1\]"):
        adapt(model, preprocess, frames, method=AdaptMethod.ADABN, mix=1.5)
    with pytest.raises(AdaptError, match="steps"):
        adapt(model, preprocess, frames, method=AdaptMethod.TENT, mix=1.0, steps=0)
    with pytest.raises(AdaptError, match="no BatchNorm"):
        reestimate_bn(nn.Conv2d(3, 3, 1), [{"rgb": torch.zeros(1, 3, 8, 8)}], mix=1.0)


# --- the command line ------------------------------------------------------------------------


NO_BATCHNORM_RUN = """
import sys
from torch import nn
from asymfusion_ros.classes import load_classes
from asymfusion_ros.cli import main
from asymfusion_ros.fusion import ModalityInputs
from asymfusion_ros.fusion.base import ModelOutput, SegmentationNet
from asymfusion_ros.fusion.checkpoint import save_checkpoint
from asymfusion_ros.fusion.registry import register_scheme

@register_scheme("no_batchnorm")
class NoBatchNorm(SegmentationNet):
    def __init__(self, modalities, *, backbone, num_classes, width):
        super().__init__("no_batchnorm", modalities, backbone=backbone, num_classes=num_classes, width=width)
        self.head = nn.Conv2d(3, num_classes, 1)

    def forward(self, inputs):
        return ModelOutput(self.head(inputs[self.modalities[0]]), ())

ckpt, *argv = sys.argv[1:]
net = NoBatchNorm(("rgb", "depth"), backbone="resnet18", num_classes=40, width=1.0)
save_checkpoint(ckpt, net, ModalityInputs(), classes=load_classes("nyu40"), input_size=(64, 96), data="test")
sys.exit(main(["adapt", ckpt, *argv]))
"""
"""A registered scheme without any BatchNorm, adapted in a process of its own (the registry is
global: registering it here would add a scheme to every later test)."""


def _adapt(*argv: str | Path) -> int:
    return cli_main(["adapt", *map(str, argv)])


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    return err[0]


def test_cli_adapts_on_a_synthetic_bag_and_exports_with_provenance(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bag = tmp_path / "camera_bag"
    write_synthetic_bag(bag, frames=3, size=(48, 64), seed=3)  # 4:3 camera into a 2:3 network: letterboxed
    out, onnx_out = tmp_path / "adapted.pt", tmp_path / "adapted.onnx"
    assert _adapt(tiny_checkpoint, "--data", bag, "-o", out, "--export", onnx_out, "--mix", "0.5") == 0
    assert "on 3 frames" in capsys.readouterr().out
    record = load_checkpoint(out).adaptation
    assert record == {
        "source": str(bag),
        "frames": 3,
        "method": "adabn",
        "mix": 0.5,
        "steps": 0,
        "base": str(tiny_checkpoint),
        "every": 1,
    }
    assert read_onnx_info(onnx_out).adaptation == record
    segmenter, info = load_deployed(out)
    assert check_parity(segmenter, onnx_out, info.input_size).ok
    assert load_checkpoint(tiny_checkpoint).adaptation is None


def test_cli_reads_compressed_bags_and_folders(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bag = tmp_path / "compressed_bag"
    write_synthetic_bag(bag, frames=2, size=(64, 96), compression=Compression())
    assert (
        _adapt(tiny_checkpoint, "--data", bag, "-o", tmp_path / "a.pt", "--method", "tent", "--steps", "2")
        == 0
    )
    assert "tent" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "a.pt").adaptation["steps"] == 2  # type: ignore[index]

    folder = tmp_path / "frames"
    for name in ("rgb", "depth"):
        (folder / name).mkdir(parents=True)
    for i, sample in enumerate(open_dataset("synthetic", split="train", size=(96, 128), frames=2)):
        cv2.imwrite(str(folder / "rgb" / f"{i:06d}.png"), cv2.cvtColor(sample.rgb, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(folder / "depth" / f"{i:06d}.png"), (sample.depth_m * 1000).astype(np.uint16))
    assert _adapt(tiny_checkpoint, "--data", folder, "-o", tmp_path / "b.pt", "--frames", "5") == 0
    assert load_checkpoint(tmp_path / "b.pt").adaptation["frames"] == 2  # type: ignore[index]
    assert _adapt(tiny_checkpoint, "--data", folder, "-o", tmp_path / "c.pt", "--every", "2") == 0
    assert load_checkpoint(tmp_path / "c.pt").adaptation["frames"] == 1  # type: ignore[index]


def _bag(path: Path, depth_ns: int | None) -> Path:
    """One colour image; a depth image stamped ``depth_ns`` (None: no depth topic at all)."""
    factory = messages.rosbags_factory(typestore())
    with BagWriter(path) as writer:
        header = messages.build_header(factory, 0, "camera")
        info = messages.build_camera_info(factory, header, np.diag([80.0, 80.0, 1.0]), 64, 96)
        writer.write("/camera/color/camera_info", info, 0)
        colour = messages.build_image(factory, header, np.zeros((64, 96, 3), np.uint8))
        writer.write("/camera/color/image_raw", colour, 0)
        if depth_ns is not None:
            depth_header = messages.build_header(factory, depth_ns, "camera")
            depth = messages.build_image(factory, depth_header, np.ones((64, 96), np.uint16), "16UC1")
            writer.write("/camera/depth/image_raw", depth, depth_ns)
    return path


def test_bad_inputs_give_one_error_line_and_write_nothing(
    tmp_path: Path, tiny_checkpoint: Path, tiny_onnx: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, onnx_out = tmp_path / "never.pt", tmp_path / "never.onnx"
    bag = _bag(tmp_path / "colour_only", None)
    unpaired = _bag(tmp_path / "unpaired", 1_000_000_000)  # depth a second after colour: no frame
    empty = tmp_path / "empty"
    (empty / "rgb").mkdir(parents=True)
    (empty / "depth").mkdir()
    cases = [
        ((tiny_checkpoint, "--data", bag), 1, "no depth image topic"),
        ((tiny_checkpoint, "--data", empty), 1, "no rgb/NAME"),
        ((tiny_checkpoint, "--data", unpaired), 1, "gave 0 colour+depth frames; adaptation needs at least 1"),
        ((tiny_checkpoint, "--data", tmp_path / "missing"), 1, "not found"),
        ((tiny_onnx, "--data", bag), 2, "asymfusion_r18_synthetic.pt"),
        ((tiny_checkpoint, "--data", bag, "--frames", "0"), 2, ">= 1"),
        ((tiny_checkpoint, "--data", bag, "--mix", "1.5"), 2, "[0, 1]"),
        ((tiny_checkpoint, "--data", bag, "--every", "0"), 2, "--every must be >= 1"),
    ]
    for argv, status, message in cases:
        assert _adapt(*argv, "-o", out, "--export", onnx_out) == status, argv
        assert message in _one_error_line(capsys), argv
        assert not out.exists() and not onnx_out.exists()


def test_a_model_without_batchnorm_is_refused(tmp_path: Path, tiny_checkpoint: Path) -> None:
    folder = tmp_path / "frames"
    for name in ("rgb", "depth"):
        (folder / name).mkdir(parents=True)
    cv2.imwrite(str(folder / "rgb" / "1.png"), np.zeros((64, 96, 3), np.uint8))
    cv2.imwrite(str(folder / "depth" / "1.png"), np.full((64, 96), 1500, np.uint16))
    out = tmp_path / "never.pt"
    run = subprocess.run(
        [sys.executable, "-c", NO_BATCHNORM_RUN, tmp_path / "no_bn.pt", "--data", folder, "-o", out],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 1, run.stderr
    assert run.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'no_bn.pt'} has no BatchNorm layer: there are no statistics to adapt"
    ]
    assert not out.exists()
