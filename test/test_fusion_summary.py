"""``asymfusion models``: every scheme's parameters and MACs."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from asymfusion_ros.cli import main
from asymfusion_ros.fusion import SCHEMES
from asymfusion_ros.fusion.summary import count_macs, model_cost


def test_json_lists_every_scheme(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--width", "0.5", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["scheme"] for r in rows] == list(SCHEMES)
    assert all(set(r) == {"scheme", "backbone", "params", "macs"} for r in rows)
    assert {r["backbone"] for r in rows} == {"resnet18"}
    by = {r["scheme"]: r for r in rows}
    # shared convs: AsymFusion has single-stream params (+ BN, alpha) but two streams' MACs
    assert 1.0 < by["asymfusion"]["params"] / by["rgb"]["params"] <= 1.01
    assert by["asymfusion"]["macs"] == 2 * by["rgb"]["macs"] == by["average"]["macs"]
    assert by["average"]["params"] == 2 * by["rgb"]["params"]


def test_table_and_bad_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--backbone", "resnet50", "--width", "0.25"]) == 0
    out = capsys.readouterr().out
    assert "resnet50" in out and all(s in out for s in SCHEMES)
    assert main(["models", "--size", "100", "64"]) == 2
    assert "100x64 is not divisible by 32" in capsys.readouterr().err


def test_mac_count_of_a_known_conv() -> None:
    """resnet18's stem conv alone: 64 x 3 x 7 x 7 MACs per output pixel at stride 2."""

    class Stem(nn.Module):
        modalities = ("rgb",)

        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)

        def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
            return self.conv(inputs["rgb"])

    assert count_macs(Stem(), (64, 96)) == 32 * 48 * 64 * 3 * 7 * 7
    assert model_cost("rgb", width=0.125, size_hw=(64, 64)).macs > 0
