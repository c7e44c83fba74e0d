"""Checkpoints: a round trip rebuilds the same network; bad files are named."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from asymfusion_ros.classes import load_classes
from asymfusion_ros.fusion import ModalityInputs, build_model
from asymfusion_ros.fusion.checkpoint import FORMAT, CheckpointError, load_checkpoint, save_checkpoint

torch.set_num_threads(1)


def test_round_trip_rebuilds_the_same_network(tmp_path: Path) -> None:
    classes = load_classes("nyu40")
    model = build_model("asymfusion", width=0.125, num_classes=len(classes), modalities=("rgb", "normals"))
    with torch.no_grad():  # move BN statistics and alpha away from their initial values
        frames = torch.randint(0, 256, (2, 64, 64, 3), dtype=torch.uint8), torch.rand(2, 64, 64) * 5
        model.train()(ModalityInputs(model.modalities)(*frames))
        model.state_dict()["alpha"].fill_(0.7)
    preprocess = ModalityInputs(model.modalities, depth_encoding="inverse")
    path = save_checkpoint(
        tmp_path / "runs" / "a.pt",
        model,
        preprocess,
        classes=classes,
        input_size=(64, 80),
        data="synthetic",
        metrics={"miou": 0.25},
        extra={"epochs": 3},
    )
    checkpoint = load_checkpoint(path)
    assert checkpoint.model_config == model.config and checkpoint.preprocess_config == preprocess.config
    assert checkpoint.classes == classes and checkpoint.input_size == (64, 80)
    assert checkpoint.data == "synthetic"
    assert (checkpoint.metrics, checkpoint.extra) == ({"miou": 0.25}, {"epochs": 3})
    assert checkpoint.git_revision is None or len(checkpoint.git_revision) >= 7
    rebuilt, rebuilt_preprocess = checkpoint.build()
    assert not rebuilt.training and rebuilt_preprocess.config == preprocess.config
    rgb = torch.randint(0, 256, (1, 64, 96, 3), dtype=torch.uint8)
    depth = torch.rand(1, 64, 96) * 4
    inputs = preprocess(rgb, depth)
    with torch.no_grad():
        assert torch.equal(model.eval()(inputs).logits, rebuilt(rebuilt_preprocess(rgb, depth)).logits)
    assert torch.load(path, weights_only=True)["format"] == FORMAT


def test_missing_and_foreign_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"nope\.pt' not found"):
        load_checkpoint(tmp_path / "nope.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match=r"cannot read checkpoint .*junk\.pt"):
        load_checkpoint(junk)
    weights = tmp_path / "weights.pt"
    torch.save({"conv1.weight": torch.zeros(1)}, weights)
    with pytest.raises(CheckpointError, match=r"weights\.pt' is not an asymfusion_ros\.checkpoint/1"):
        load_checkpoint(weights)
    partial = tmp_path / "partial.pt"
    torch.save({"format": FORMAT, "data": "synthetic"}, partial)
    with pytest.raises(CheckpointError, match=r"partial\.pt' lacks"):
        load_checkpoint(partial)


def test_mismatched_weights_and_class_counts_are_refused(tmp_path: Path) -> None:
    classes = load_classes("nyu40")
    model = build_model("rgb", width=0.125, num_classes=len(classes))
    preprocess = ModalityInputs(model.modalities)
    with pytest.raises(CheckpointError, match="predicts 5 classes, the class set has 40"):
        five = build_model("rgb", width=0.125, num_classes=5)
        save_checkpoint(tmp_path / "x.pt", five, preprocess, classes=classes, input_size=(64, 64), data="s")
    path = save_checkpoint(
        tmp_path / "y.pt", model, preprocess, classes=classes, input_size=(64, 64), data="synthetic"
    )
    raw = torch.load(path, weights_only=True)
    raw["model_config"]["width"] = 0.25  # weights no longer fit the config
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match=r"y\.pt' does not build"):
        load_checkpoint(path).build()
