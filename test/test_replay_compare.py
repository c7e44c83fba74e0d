"""Several models on the same bags (``replay --model A --model B``): one report, a row per model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from asymfusion_ros.bags import BagReader
from asymfusion_ros.cli import main
from asymfusion_ros.inference.pipeline import Segmenter
from asymfusion_ros.replay import make_bag
from asymfusion_ros.replay.agreement import LabelAgreement
from asymfusion_ros.replay.comparison import COMPARISON_FORMAT, model_names
from asymfusion_ros.replay.runner import OUTPUT_TOPICS, ReplayConfig, replay

SIZE = (64, 80)
FRAMES = 5
FLEET = {"a": FRAMES, "b": 4}


@pytest.fixture(scope="module")
def bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compare") / "labelled"
    make_bag.write_synthetic_bag(path, frames=FRAMES, rate_hz=30.0, size=SIZE, seed=3)
    return path


@pytest.fixture(scope="module")
def fleet(bag: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two bags: the labelled one and another scene."""
    root = tmp_path_factory.mktemp("compare_fleet")
    shutil.copytree(bag, root / "a")
    make_bag.write_synthetic_bag(root / "b", frames=FLEET["b"], rate_hz=30.0, size=SIZE, seed=30)
    return root


@pytest.fixture(scope="module")
def models(tiny_onnx: Path, tiny_onnx_other: Path) -> dict[str, Path]:
    """The two models by the name the comparison gives each (its file's stem)."""
    return dict(zip(model_names([tiny_onnx, tiny_onnx_other]), [tiny_onnx, tiny_onnx_other], strict=True))


def _replay(*args: Any) -> int:
    return main(["replay", *map(str, args), "--backend", "onnxruntime"])


def _model_args(models: dict[str, Path]) -> list[str]:
    return [arg for path in models.values() for arg in ("--model", str(path))]


def test_agreement_counts_pixels_with_the_same_class_name() -> None:
    nyu = ("wall", "floor", "chair")
    other = ("floor", "wall", "sky")  # another class set: agreement by name
    agreement = LabelAgreement(["a", "b", "c"], [nyu, nyu, other])
    a = np.array([[0, 1], [2, 2]], np.uint8)
    b = np.array([[0, 1], [1, 0]], np.uint8)
    c = np.array([[1, 0], [2, 1]], np.uint8)  # wall floor / sky wall
    agreement.update([a, b, c])
    matrix = agreement.matrix()
    assert matrix[0, 0] == matrix[1, 1] == matrix[2, 2] == 1.0
    assert np.array_equal(matrix, matrix.T)
    assert matrix[0, 1] == 0.5 and matrix[0, 2] == 0.5 and matrix[1, 2] == 0.75
    assert agreement.class_shares(0) == {"wall": 0.25, "floor": 0.25, "chair": 0.5}
    assert agreement.class_shares(2) == {"floor": 0.25, "wall": 0.5, "sky": 0.25}
    twice = LabelAgreement(["a", "b", "c"], [nyu, nyu, other])
    twice.add(agreement)
    twice.add(agreement)
    assert twice.pixels == 8 and np.array_equal(twice.matrix(), matrix)
    with pytest.raises(ValueError, match="cannot add"):
        twice.add(LabelAgreement(["a", "b"], [nyu, nyu]))


def test_model_names_are_unique_ros_names(tmp_path: Path) -> None:
    assert model_names(["/m/asymfusion_r18.onnx", "/m/esanet-r34.onnx"]) == ["asymfusion_r18", "esanet_r34"]
    assert model_names(["/x/a/model.onnx", "/x/b/model.onnx"]) == ["a_model", "b_model"]
    assert model_names(["/m/2024.onnx", "/m/m_2024.pt"]) == ["m_2024", "m_2024_2"]


def test_two_models_score_as_each_alone_and_agree_with_themselves(
    bag: Path, models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_dir, out = tmp_path / "report", tmp_path / "out"
    assert _replay(bag, *_model_args(models), "--report", report_dir, "--out", out, "--json") == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads((report_dir / "report.json").read_text())
    assert printed["agreement"] == saved["agreement"]
    assert saved["format"] == COMPARISON_FORMAT and saved["frames"] == FRAMES
    assert [row["name"] for row in saved["models"]] == list(models)

    for row, (name, path) in zip(saved["models"], models.items(), strict=True):
        alone = replay(
            ReplayConfig(bag=bag, progress=False), Segmenter.from_path(path, backend="onnxruntime")
        )
        assert row["metrics"] == alone.metrics()  # the same frames, the same scores
        assert row["model"] == path.name and row["frames"] == FRAMES
        assert {"p50", "p95"} <= set(row["latency"]["backend"]) and "total" in row["latency"]
        assert sum(row["class_shares"].values()) == pytest.approx(1.0)
        assert row["report"] == f"models/{name}"
        own = json.loads((report_dir / row["report"] / "report.json").read_text())
        assert own["metrics"] == alone.metrics() and own["model"] == path.name  # a one-model report
        assert (report_dir / row["report"] / "overlay_00.png").is_file()

    matrix = np.array(saved["agreement"]["matrix"])
    assert np.array_equal(np.diag(matrix), [1.0, 1.0]) and np.array_equal(matrix, matrix.T)
    assert 0.0 <= matrix[0, 1] < 1.0  # other weights, other labels somewhere
    assert saved["agreement"]["pixels"] == FRAMES * SIZE[0] * SIZE[1]
    markdown = (report_dir / "report.md").read_text()
    assert "## Agreement" in markdown and "## Latency per stage" in markdown
    assert all(f"[report](models/{name}/report.md)" in markdown for name in models)

    with BagReader(out) as written:  # each model's outputs under its own prefix, the inputs once
        topics = written.topics()
        for name in models:
            for output in OUTPUT_TOPICS:
                expected = 1 if output == "classes" else FRAMES
                assert topics[f"/camera/{name}/segmentation/{output}"].msgcount == expected
        assert topics[make_bag.RGB_TOPIC].msgcount == FRAMES
        assert "/camera/segmentation/labels" not in topics


def test_one_model_keeps_its_report(bag: Path, tiny_onnx: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _replay(bag, "--model", tiny_onnx, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "asymfusion_ros.replay_report/1" and "models" not in report


def test_bad_models_write_nothing(
    bag: Path, tiny_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    outputs = ["--report", tmp_path / "report", "--out", tmp_path / "out"]
    copy = tmp_path / "copy" / tiny_onnx.name
    copy.parent.mkdir()
    copy.symlink_to(tiny_onnx)  # another path to the same file
    cases = {
        1: ["--model", tiny_onnx, "--model", broken],
        2: ["--model", tiny_onnx, "--model", copy],
    }
    for status, models in cases.items():
        assert _replay(bag, *models, *outputs) == status
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
        assert not (tmp_path / "report").exists() and not (tmp_path / "out").exists()
    assert "same model" in _last_error(bag, ["--model", tiny_onnx, "--model", tiny_onnx], capsys)


def _last_error(bag: Path, models: list[Any], capsys: pytest.CaptureFixture[str]) -> str:
    assert _replay(bag, *models) == 2
    return capsys.readouterr().err


def test_fleet_compares_every_bag_with_two_jobs(
    fleet: Path, models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_dir = tmp_path / "compared"
    assert _replay(fleet, *_model_args(models), "--jobs", "2", "--report", report_dir) == 0
    saved = json.loads((report_dir / "report.json").read_text())
    assert saved["frames"] == sum(FLEET.values())
    for row, (name, path) in zip(saved["models"], models.items(), strict=True):
        alone_dir = tmp_path / f"alone_{name}"
        assert _replay(fleet, "--model", path, "--report", alone_dir) == 0
        alone = json.loads((alone_dir / "report.json").read_text())
        assert row["metrics"] == alone["metrics"]
        assert [b["metrics"] for b in row["bags"]] == [b["metrics"] for b in alone["bags"]]
        own = json.loads((report_dir / row["report"] / "report.json").read_text())
        assert own["metrics"] == alone["metrics"] and len(own["bags"]) == len(FLEET)
        for entry in own["bags"]:  # the model's fleet report links its own bag reports
            assert (report_dir / row["report"] / entry["report"] / "report.json").is_file()
    matrix = np.array(saved["agreement"]["matrix"])
    assert np.array_equal(np.diag(matrix), [1.0, 1.0]) and np.array_equal(matrix, matrix.T)
    assert saved["agreement"]["pixels"] == sum(FLEET.values()) * SIZE[0] * SIZE[1]
    for bag_name in FLEET:  # each bag's own comparison
        per_bag = json.loads((report_dir / "bags" / bag_name / "report.json").read_text())
        assert per_bag["format"] == COMPARISON_FORMAT and per_bag["frames"] == FLEET[bag_name]
    assert "## mIoU per bag" in (report_dir / "report.md").read_text()
    printed = capsys.readouterr().out
    assert "agreement" in printed and "bags, worst first:" in printed


def test_fleet_outputs_keep_each_model_apart(
    fleet: Path, models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "one_bag"
    shutil.copytree(fleet / "a", folder / "a")
    out = tmp_path / "out"
    assert _replay(folder, *_model_args(models), "--out", out, "--json") == 0
    printed = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in printed["models"]] == list(models)
    with BagReader(out / "a") as written:
        topics = written.topics()
        assert all(topics[f"/camera/{name}/segmentation/labels"].msgcount == FLEET["a"] for name in models)


def test_a_trained_model_scores_in_a_comparison_as_alone(
    bag: Path, tiny_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--model default --model OTHER``: the shipped model's row is its own replay's."""
    from asymfusion_ros.resources import ResourceError, resolve_model

    try:
        default = resolve_model("default")
    except ResourceError:
        pytest.skip("the default model is not shipped in this checkout")
    assert _replay(bag, "--model", "default", "--model", tiny_onnx, "--json") == 0
    rows = json.loads(capsys.readouterr().out)["models"]
    alone = replay(ReplayConfig(bag=bag, progress=False), Segmenter.from_path(default, backend="onnxruntime"))
    assert rows[0]["model"] == default.name and rows[0]["metrics"] == alone.metrics()
    assert rows[0]["metrics"]["pixel_acc"] > 0.5 > rows[1]["metrics"]["pixel_acc"]
