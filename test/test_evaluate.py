"""``asymfusion eval`` on the tiny fixtures: JSON keys, per-stream scores, ONNX parity, files, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asymfusion_ros.cli import main as cli_main

KEYS = {"pixel_acc", "mean_acc", "miou", "per_class_iou"}


def eval_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert cli_main(["eval", *args, "--frames", "4", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_checkpoint_report_has_the_keys_and_each_stream(
    tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = eval_json(capsys, "--model", str(tiny_checkpoint), "--out", str(tmp_path))
    assert set(report) >= KEYS
    assert set(report["streams"]) == {"rgb", "depth"}
    assert set(report["streams"]["rgb"]) >= KEYS
    assert len(report["per_class_iou"]) == 40 and "wall" in report["per_class_iou"]
    assert 0.0 <= report["pixel_acc"] <= 1.0
    assert report["size"] == [64, 96]
    assert json.loads((tmp_path / "metrics.json").read_text())["miou"] == report["miou"]
    assert (tmp_path / "confusion.png").stat().st_size > 0


def test_onnx_bundle_scores_like_its_checkpoint(
    tiny_checkpoint: Path, tiny_onnx: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch_report = eval_json(capsys, "--model", str(tiny_checkpoint))
    onnx_report = eval_json(capsys, "--model", str(tiny_onnx), "--backend", "onnxruntime")
    assert set(onnx_report) >= KEYS
    assert onnx_report["streams"] == {}
    assert onnx_report["pixel_acc"] == pytest.approx(torch_report["pixel_acc"], abs=0.01)


def test_frames_at_another_size_are_resized_to_the_network(
    tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = eval_json(capsys, "--model", str(tiny_checkpoint), "--size", "128x96")
    assert report["size"] == [96, 128]


def test_missing_model_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["eval", "--model", str(tmp_path / "nope.pt")]) == 2
    assert "nope.pt" in capsys.readouterr().err


def test_a_model_file_that_does_not_load_is_a_failure_not_usage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx graph")
    assert cli_main(["eval", "--model", str(broken), "--frames", "1"]) == 1
    assert "broken.onnx" in capsys.readouterr().err


def test_compare_trains_scores_and_tabulates_each_scheme(tmp_path: Path) -> None:
    pytest.importorskip("torch")  # compare trains each scheme
    import yaml

    config = tmp_path / "compare.yaml"
    config.write_text(
        yaml.safe_dump(
            {"width": 0.125, "input_size": [64, 96], "train_frames": 8, "val_frames": 4, "augment": False,
             "batch_size": 4, "epochs": 1, "threads": 1, "eval_frames": 50}
        )
    )  # fmt: skip
    out = tmp_path / "compare"
    args = ["compare", "--config", str(config), "--schemes", "asymfusion", "rgb"]
    args += ["--eval-frames", "4", "--out", str(out)]
    assert cli_main(args) == 0
    report = json.loads((out / "compare.json").read_text())
    assert report["eval_frames"] == 4, "--eval-frames overrides the YAML"
    results = report["results"]
    assert [r["scheme"] for r in results] == ["asymfusion", "rgb"]
    assert all(set(r) >= KEYS and r["params"] > 0 and r["macs"] > 0 for r in results)
    table = (out / "compare.md").read_text()
    assert "| asymfusion |" in table and "| rgb |" in table and "asymfusion compare --config" in table
    assert (out / "compare.png").stat().st_size > 0
    # --reuse keeps finished schemes instead of training them again
    before = (out / "rgb" / "seed0" / "best.pt").stat().st_mtime_ns
    assert cli_main([*args, "--reuse"]) == 0
    assert (out / "rgb" / "seed0" / "best.pt").stat().st_mtime_ns == before


def test_compare_arms_over_seeds_give_mean_and_std_with_real_scores(tmp_path: Path, nyu_sample: Path) -> None:
    pytest.importorskip("torch")  # compare trains each arm
    import yaml

    config = tmp_path / "arms.yaml"
    config.write_text(
        yaml.safe_dump(
            {"width": 0.125, "input_size": [64, 96], "train_frames": 8, "val_frames": 4, "augment": False,
             "batch_size": 4, "epochs": 1, "threads": 1, "eval_frames": 4, "seeds": [0, 1],
             "arms": [{"name": "af", "scheme": "asymfusion"},
                      {"name": "af-joint", "scheme": "asymfusion", "fusion": {"detach_ensemble": False}},
                      {"name": "unused", "scheme": "rgb"}]}
        )
    )  # fmt: skip
    out = tmp_path / "arms"
    real = f"nyudv2:{nyu_sample}?depth_scale=5000"
    args = ["compare", "--config", str(config), "--arms", "af", "af-joint", "--real-data", real]
    assert cli_main([*args, "--out", str(out)]) == 0
    report = json.loads((out / "compare.json").read_text())
    rows = report["results"]
    assert [r["arm"] for r in rows] == ["af", "af-joint"]
    assert [r["seeds"] for r in rows] == [[0, 1], [0, 1]]
    assert rows[1]["fusion"] == {"detach_ensemble": False}
    runs = [r for r in report["runs"] if r["arm"] == "af"]
    assert rows[0]["miou"] == pytest.approx(sum(r["miou"] for r in runs) / 2)
    assert rows[0]["miou_std"] == pytest.approx(abs(runs[0]["miou"] - runs[1]["miou"]) / 2**0.5)
    assert all(0.0 <= r["real_miou"] <= 1.0 and "real_miou_std" in r for r in rows)
    assert "--arms af af-joint" in report["command"] and "--seeds" not in report["command"]
    table = (out / "compare.md").read_text()
    assert "| af-joint | asymfusion |" in table and " ± " in table
    assert (out / "af-joint" / "seed1" / "scores.json").is_file()
    assert cli_main(["compare", "--config", str(config), "--arms", "nope", "--out", str(out)]) == 2
