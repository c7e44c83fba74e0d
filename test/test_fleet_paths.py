"""Every path given to a many-bag replay is accounted for: a status in the terminal and in
report.json, and exit status 1 unless every one is done."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from asymfusion_ros.cli import main
from asymfusion_ros.replay import make_bag
from asymfusion_ros.replay.fleet import find_bags
from asymfusion_ros.replay.task import BagStatus

SIZE = (64, 80)


@pytest.fixture(scope="module")
def bags(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A good bag, and a recorder killed mid-write: one .mcap (more than one chunk), cut, no
    metadata.yaml."""
    root = tmp_path_factory.mktemp("bags")
    make_bag.write_synthetic_bag(root / "good", frames=3, rate_hz=30.0, size=SIZE, seed=20)
    make_bag.write_synthetic_bag(root / "whole", frames=40, rate_hz=30.0, size=(240, 320), seed=21)
    data = next((root / "whole").glob("*.mcap")).read_bytes()
    (root / "killed").mkdir()
    (root / "killed" / "killed_0.mcap").write_bytes(data[: int(len(data) * 0.9)])
    return {"good": root / "good", "unfinished": root / "killed"}


@pytest.fixture
def good(bags: dict[str, Path]) -> Path:
    return bags["good"]


@pytest.fixture
def unfinished(bags: dict[str, Path]) -> Path:
    return bags["unfinished"]


def _replay(paths: list[Path], tiny_onnx: Path, *extra: str) -> int:
    return main(["replay", *map(str, paths), "--model", str(tiny_onnx), "--backend", "onnxruntime", *extra])


def test_good_bag_and_empty_folder(
    good: Path, tiny_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's case: the empty folder is listed as empty, and the run is not a success."""
    empty = tmp_path / "empty_folder"
    empty.mkdir()
    status = _replay([good, empty], tiny_onnx, "--report", str(tmp_path / "report"))
    out, err = capsys.readouterr()
    assert status == 1
    assert "1 of 2 paths not done (1 empty;" in err and err.count("\n") == 1
    assert "3 frames from 1 bag, 1 path without one" in out
    lines = {line.split()[0]: line for line in out.splitlines() if str(tmp_path) in line or str(good) in line}
    assert str(empty) in lines["empty"] and str(good) in lines["done"]
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    entries = {entry["path"]: entry for entry in report["bags"]}
    assert entries[str(empty)]["status"] == "empty" and "no bag in it" in entries[str(empty)]["reason"]
    assert entries[str(empty)]["frames"] == 0 and entries[str(empty)]["report"] is None
    assert entries[str(good)]["status"] == "done" and report["frames"] == 3
    assert "| empty: no bag in it" in (tmp_path / "report" / "report.md").read_text()


def test_every_kind_of_path_has_its_status(
    good: Path, unfinished: Path, tiny_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a bag")
    only_notes = tmp_path / "only_notes"
    only_notes.mkdir()
    (only_notes / "README").write_text("no bag here either")
    junk = tmp_path / "junk.mcap"
    junk.write_bytes(b"\x89MCAP0\r\n but nothing after the magic")
    missing = tmp_path / "missing"
    given = [good, unfinished, notes, only_notes, junk, missing]
    assert find_bags(given)[0] == [good, unfinished, junk]  # a file named as a bag is tried

    status = _replay(given, tiny_onnx, "--json")
    out, err = capsys.readouterr()
    assert status == 1
    assert "5 of 6 paths not done (1 empty, 2 failed, 1 not a bag, 1 partial;" in err
    entries = {entry["path"]: entry for entry in json.loads(out)["bags"]}
    assert set(entries) == set(map(str, given))
    expected = {
        good: (BagStatus.DONE, None),
        unfinished: (BagStatus.PARTIAL, "unfinished"),
        notes: (BagStatus.NOT_A_BAG, "not a .mcap, .db3, .bag file"),
        only_notes: (BagStatus.EMPTY, "no bag in it"),
        junk: (BagStatus.FAILED, str(junk)),
        missing: (BagStatus.FAILED, "no such file or folder"),
    }
    for path, (state, reason) in expected.items():
        entry = entries[str(path)]
        assert entry["status"] == state.value, entry
        assert (entry["reason"] is None) if reason is None else (reason in entry["reason"]), entry
    assert 10 < entries[str(unfinished)]["frames"] < 40  # the complete chunks count
    worst = [entry["status"] for entry in json.loads(out)["bags"]]
    assert set(worst[:4]) == {"failed", "not a bag", "empty"}  # paths without a result first


def test_nothing_to_replay_is_one_line_and_no_report(
    tiny_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    status = _replay([empty, tmp_path / "gone"], tiny_onnx, "--report", str(tmp_path / "report"))
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1
    assert f"{empty}: empty" in err and f"{tmp_path / 'gone'}: failed (no such file or folder)" in err
    assert not (tmp_path / "report").exists()


def test_a_bag_given_twice_is_replayed_once(
    good: Path, tiny_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "folder" / "good"
    shutil.copytree(good, copy)
    assert _replay([copy, copy.parent], tiny_onnx, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert [entry["status"] for entry in report["bags"]] == ["done"] and report["frames"] == 3


def test_a_bag_given_alone_says_its_status(
    good: Path, unfinished: Path, tiny_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One bag, replayed as ever (its own report), says its status as a fleet's bag does: in the
    terminal, in report.json's ``bags``, and exit status 1 when read only in part."""
    assert _replay([good], tiny_onnx, "--report", str(tmp_path / "good")) == 0
    out = capsys.readouterr().out
    heading, line = out.splitlines()[-2:]
    assert heading == "bag:" and line.split()[0] == "done" and line.endswith(f" 3 frames  {good}")
    report = json.loads((tmp_path / "good" / "report.json").read_text())
    assert report["format"] == "asymfusion_ros.replay_report/1" and report["frames"] == 3  # as ever
    assert [(b["path"], b["status"], b["reason"]) for b in report["bags"]] == [(str(good), "done", None)]

    status = _replay([unfinished], tiny_onnx, "--report", str(tmp_path / "cut"))
    out, err = capsys.readouterr()
    assert status == 1
    assert err == "error: 1 of 1 paths not done (1 partial; see the list)\n"
    last = out.splitlines()[-1]
    assert last.split()[0] == "partial" and str(unfinished) in last and "unfinished" in last
    report = json.loads((tmp_path / "cut" / "report.json").read_text())
    [entry] = report["bags"]
    assert entry["status"] == "partial" and "unfinished" in entry["reason"]
    assert entry["frames"] == report["frames"] and 10 < report["frames"] < 40
    assert report["latency"] and report["metrics"] is not None  # the one-bag report, whole

    assert _replay([unfinished], tiny_onnx, "--json") == 1
    assert json.loads(capsys.readouterr().out)["bags"][0]["status"] == "partial"


def test_a_bag_given_alone_to_compare_models_says_its_status(
    unfinished: Path,
    tiny_onnx: Path,
    tiny_onnx_other: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    report_dir = tmp_path / "compare"
    status = _replay([unfinished], tiny_onnx, "--model", str(tiny_onnx_other), "--report", str(report_dir))
    out, err = capsys.readouterr()
    assert status == 1 and "1 partial" in err
    assert "agreement (pixels with the same label):" in out and out.splitlines()[-1].split()[0] == "partial"
    report = json.loads((report_dir / "report.json").read_text())
    assert len(report["models"]) == 2 and report["agreement"]["matrix"]  # the comparison, whole
    assert [b["status"] for b in report["bags"]] == ["partial"]
    for model in report["models"]:
        assert (report_dir / model["report"] / "report.json").is_file()
