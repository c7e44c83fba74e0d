"""Training on tiny synthetic data: the loss falls, checkpoints load and rebuild, resume continues."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
import torch

from asymfusion_ros.cli import main as cli_main
from asymfusion_ros.fusion.checkpoint import load_checkpoint
from asymfusion_ros.training.train import TrainConfig, TrainError, main

TINY = {
    "scheme": "asymfusion",
    "width": 0.125,
    "input_size": [64, 96],
    "train_frames": 8,
    "val_frames": 4,
    "augment": False,
    "batch_size": 4,
    "lr": 0.01,
    "threads": 1,
}


def tiny_config(tmp_path: Path, **overrides: Any) -> TrainConfig:
    return TrainConfig.from_dict({**TINY, "out": str(tmp_path / "run")}, **overrides)


def test_a_few_steps_reduce_the_loss_and_write_loadable_checkpoints(tmp_path: Path) -> None:
    result = main(tiny_config(tmp_path, epochs=6))
    with (tmp_path / "run" / "log.csv").open() as f:
        losses = [float(row["train_loss"]) for row in csv.DictReader(f)]
    assert len(losses) == 6
    assert losses[-1] < 0.8 * losses[0]
    assert (tmp_path / "run" / "curves.png").stat().st_size > 0

    ckpt = load_checkpoint(result.best_path)
    assert ckpt.model_config["scheme"] == "asymfusion"
    assert ckpt.classes.name == "nyu40"
    assert ckpt.input_size == (64, 96)
    assert ckpt.data == "synthetic"
    assert ckpt.metrics is not None and set(ckpt.metrics["streams"]) == {"rgb", "depth"}
    assert ckpt.extra is not None and ckpt.extra["train_config"]["width"] == 0.125
    assert "train_state" not in ckpt.extra, "the shipped best.pt must not carry optimiser state"
    model, preprocess = ckpt.build()
    out = model(preprocess(torch.zeros(1, 64, 96, 3, dtype=torch.uint8), torch.ones(1, 64, 96)))
    assert out.logits.shape == (1, 40, 64, 96)


def test_resume_continues_where_training_stopped(tmp_path: Path) -> None:
    first = main(tiny_config(tmp_path, epochs=1, scheme="rgb"))
    main(tiny_config(tmp_path, epochs=2, scheme="rgb", resume=str(first.last_path)))
    state = load_checkpoint(first.last_path).extra["train_state"]  # type: ignore[index]
    assert state["epoch"] == 2
    assert [row["epoch"] for row in state["history"]] == [1, 2]
    with pytest.raises(TrainError, match="resume"):
        main(tiny_config(tmp_path, epochs=2, scheme="depth", resume=str(first.last_path)))


def test_cli_reads_yaml_and_overrides(tmp_path: Path) -> None:
    import yaml

    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "epochs": 5}))
    out = tmp_path / "cli_run"
    args = ["train", "--config", str(config), "--scheme", "depth", "--epochs", "1", "--out", str(out)]
    assert cli_main(args) == 0
    assert load_checkpoint(out / "best.pt").model_config["scheme"] == "depth"


def test_bad_configs_are_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(TrainError, match="unknown training option"):
        TrainConfig.from_dict({"lerning_rate": 1.0})
    with pytest.raises(TrainError, match="divisible by 32"):
        TrainConfig.from_dict({"input_size": [60, 80]})
    with pytest.raises(TrainError, match="unknown scheme"):
        TrainConfig.from_dict({"scheme": "late"})
    with pytest.raises(TrainError, match="optimizer"):
        TrainConfig.from_dict({"optimizer": "rmsprop"})
    with pytest.raises(TrainError, match=r"missing\.yaml"):
        TrainConfig.from_yaml(tmp_path / "missing.yaml")
    with pytest.raises(TrainError, match="depth_dropout"):
        TrainConfig.from_dict({"depth_dropout": 1.5})
    with pytest.raises(TrainError, match="rgb_dropout"):
        TrainConfig.from_dict({"rgb_dropout": -0.1})


def test_shipped_configs_parse() -> None:
    from asymfusion_ros.training.compare import load_config

    root = Path(__file__).resolve().parent.parent / "config" / "train"
    assert TrainConfig.from_yaml(root / "default.yaml").scheme == "asymfusion"
    cityscapes = TrainConfig.from_yaml(root / "cityscapes.yaml")
    assert (cityscapes.classes, cityscapes.backbone, cityscapes.data) == (
        "cityscapes19",
        "resnet101",
        "cityscapes:data/cityscapes",
    )
    compare = load_config(root / "compare.yaml", out="unused", reuse=False, command="")
    assert set(compare.schemes) == {"asymfusion", "dmf", "concat", "average", "rgb", "depth"}
    matched = load_config(root / "compare_matched.yaml", out="unused", reuse=False, command="")
    assert len(matched.seeds) >= 3 and "asymfusion-r50" in [a.name for a in matched.arms]
    paper = TrainConfig.from_yaml(root / "nyudv2_r101.yaml")
    assert (paper.backbone, paper.optimizer, paper.batch_size, paper.freeze_bn) == (
        "resnet101",
        "sgd",
        6,
        True,
    )
    assert [paper.group_lrs(e) for e in (0, 99, 100, 299)] == [
        (5e-4, 3e-3),
        (5e-4, 3e-3),
        (2.5e-4, 1.5e-3),
        (1e-4, 7e-4),
    ]


def test_freeze_bn_keeps_the_running_statistics_and_learns_scale_and_shift(tmp_path: Path) -> None:
    import torch.nn as nn

    from asymfusion_ros.fusion import build_model

    def bn_state(model: nn.Module) -> dict[str, torch.Tensor]:
        return {k: v.clone() for k, v in model.state_dict().items() if ".bns." in k or "bn" in k}

    torch.manual_seed(0)
    start = bn_state(build_model("asymfusion", width=0.125))
    result = main(tiny_config(tmp_path, epochs=1, freeze_bn=True))
    trained = load_checkpoint(result.last_path).state_dict
    stats = [k for k in start if k.endswith(("running_mean", "running_var"))]
    affine = [k for k in start if k.endswith((".weight", ".bias"))]
    assert stats and affine
    assert all(torch.equal(start[k], trained[k]) for k in stats), "frozen BN statistics moved"
    assert any(not torch.equal(start[k], trained[k]) for k in affine), "BN scale/shift did not learn"


def test_stages_give_encoder_and_decoder_their_own_constant_rates(tmp_path: Path) -> None:
    stages = [{"epochs": 1, "lr": 0.01, "lr_decoder": 0.05}, {"epochs": 1, "lr": 0.002}]
    result = main(tiny_config(tmp_path, epochs=2, optimizer="sgd", stages=stages))
    groups = load_checkpoint(result.last_path).extra["train_state"]["optimizer"]["param_groups"]  # type: ignore[index]
    assert [g["lr"] for g in groups] == pytest.approx([0.002, 0.002])  # stage 2: decoder rate = lr
    decoder_group = set(groups[1]["params"])
    assert len(decoder_group) > 1 and len(groups[0]["params"]) > len(decoder_group)
    with pytest.raises(TrainError, match="add up to epochs=3"):
        TrainConfig.from_dict({"epochs": 3, "stages": stages})
    with pytest.raises(TrainError, match="a stage needs"):
        TrainConfig.from_dict({"epochs": 1, "stages": [{"epochs": 1, "lr": 0}]})
