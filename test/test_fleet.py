"""Many bags in one replay: bags found under folders, worker processes, Ray, one aggregate report."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from asymfusion_ros.bags import BagFormat, BagReader
from asymfusion_ros.cli import main
from asymfusion_ros.inference.pipeline import Segmenter
from asymfusion_ros.metrics import ConfusionMatrix
from asymfusion_ros.replay import make_bag
from asymfusion_ros.replay.fleet import FleetProgress, bag_names, find_bags, plan, run_fleet
from asymfusion_ros.replay.fleet_report import merge
from asymfusion_ros.replay.runner import ReplayConfig, replay
from asymfusion_ros.replay.task import BagResult, BagStatus, ModelSpec

SIZE = (64, 80)
LENGTHS = {"short": 3, "medium": 5, "long": 8}
"""Three bags of different lengths, from seeds no model here was trained on."""


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fleet")
    for seed, (name, frames) in enumerate(LENGTHS.items(), start=20):
        make_bag.write_synthetic_bag(root / name, frames=frames, rate_hz=30.0, size=SIZE, seed=seed)
    return root


@pytest.fixture(scope="module")
def victim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bag long enough to be still running when its worker is killed."""
    path = tmp_path_factory.mktemp("victim") / "victim"
    make_bag.write_synthetic_bag(path, frames=40, rate_hz=30.0, size=SIZE, seed=9)
    return path


@pytest.fixture(scope="module")
def model(tiny_onnx: Path) -> ModelSpec:
    return ModelSpec(str(tiny_onnx), "onnxruntime", "fp32")


@pytest.fixture(scope="module")
def trained() -> Path:
    """The shipped model: scores that differ between bags (an untrained one scores 0 everywhere)."""
    from asymfusion_ros.resources import ResourceError, resolve_model

    try:
        return resolve_model("default")
    except ResourceError:
        pytest.skip("the default model is not shipped in this checkout")


def _args(tiny_onnx: Path, *extra: str) -> list[str]:
    return ["--model", str(tiny_onnx), "--backend", "onnxruntime", *extra]


def _run(paths: list[Path], tiny_onnx: Path, report: Path, *extra: str) -> tuple[int, dict]:
    status = main(["replay", *map(str, paths), *_args(tiny_onnx, "--report", str(report), *extra)])
    return status, json.loads((report / "report.json").read_text())


def test_bags_are_found_under_folders(fleet: Path, tmp_path: Path) -> None:
    root = tmp_path / "robots"
    shutil.copytree(fleet / "short", root / "r1" / "monday")  # a rosbag2 folder: metadata.yaml
    make_bag.write_synthetic_bag(root / "r1" / "lite", frames=2, size=SIZE, seed=1, fmt=BagFormat.SQLITE3)
    (root / "r2" / "killed").mkdir(parents=True)  # a recorder killed before metadata.yaml: one .mcap
    mcap = next((fleet / "medium").glob("*.mcap"))
    shutil.copy(mcap, root / "r2" / "killed" / "killed_0.mcap")
    shutil.copy(mcap, root / "r2" / "loose.mcap")
    (root / "r2" / "old.bag").write_bytes(b"")  # ROS 1, by name; its replay would say it is empty
    (root / "r2" / "notes.txt").write_text("not a bag")
    expected = [
        root / "r1" / "lite",
        root / "r1" / "monday",
        root / "r2" / "killed",
        root / "r2" / "loose.mcap",
        root / "r2" / "old.bag",
    ]
    assert find_bags([root]) == (expected, [])
    assert find_bags([root / "r1" / "monday", root, root / "r2"]) == (
        [root / "r1" / "monday", *expected[:1], *expected[2:]],
        [],
    )
    assert find_bags([root / "r2" / "killed"]) == ([root / "r2" / "killed"], [])  # a bag given is itself
    assert bag_names(expected) == ["r1__lite", "r1__monday", "r2__killed", "r2__loose.mcap", "r2__old.bag"]


def test_jobs_two_and_one_give_one_report_from_summed_matrices(
    fleet: Path, trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, two = _run([fleet], trained, tmp_path / "two", "--jobs", "2")
    assert status == 0
    status, one = _run([fleet / name for name in LENGTHS], trained, tmp_path / "one")
    assert status == 0
    capsys.readouterr()
    assert two["frames"] == one["frames"] == sum(LENGTHS.values())
    assert two["metrics"] == one["metrics"]
    for key in ("frames", "skipped", "metrics", "latency", "fps", "backend", "model"):
        assert key in two
    assert len(two["latency"]["total"]) == 4 and two["backend"] == "onnxruntime"

    # The aggregate is the score of the summed confusion matrices, bag by bag as one bag gives them.
    segmenter = Segmenter.from_path(trained, backend="onnxruntime")
    summed = ConfusionMatrix(len(segmenter.classes))
    per_bag = {}
    for name in LENGTHS:
        report = replay(ReplayConfig(bag=fleet / name, progress=False), segmenter)
        assert report.confusion is not None
        summed.matrix += report.confusion.matrix
        per_bag[name] = report.metrics()
    assert two["metrics"]["miou"] == pytest.approx(summed.compute().miou, abs=1e-12)
    assert two["metrics"]["frames"] == sum(LENGTHS.values())

    entries = two["bags"]
    assert len({m["miou"] for m in per_bag.values()}) == 3
    assert [Path(e["path"]).name for e in entries] == sorted(LENGTHS, key=lambda n: per_bag[n]["miou"])
    for entry in entries:
        name = Path(entry["path"]).name
        assert entry["status"] == "done" and entry["reason"] is None
        assert entry["frames"] == LENGTHS[name] and entry["metrics"] == per_bag[name]
        assert (tmp_path / "two" / entry["report"] / "report.json").is_file()
    markdown = (tmp_path / "two" / "report.md").read_text()
    assert "| bag | status | frames |" in markdown and markdown.count("| done |") == 3
    assert "## Worst frames" in markdown
    for link in [line.split("](")[1].rstrip(")") for line in markdown.splitlines() if "worst_" in line]:
        assert (tmp_path / "two" / link).is_file()


def test_a_corrupt_bag_is_listed_with_its_reason_and_the_rest_scored(
    fleet: Path, tiny_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mixed = tmp_path / "mixed"
    shutil.copytree(fleet / "short", mixed / "a_good")
    shutil.copytree(fleet / "medium", mixed / "c_good")
    data = next((fleet / "long").glob("*.mcap")).read_bytes()
    (mixed / "b_cut.mcap").write_bytes(data[:200])  # not even one complete record
    (mixed / "d_junk.db3").write_bytes(np.random.default_rng(0).integers(0, 256, 5000, np.uint8).tobytes())
    status, report = _run([mixed], tiny_onnx, tmp_path / "report", "--jobs", "2")
    assert status == 1
    assert "2 of 4 paths not done (2 failed;" in capsys.readouterr().err
    assert report["frames"] == LENGTHS["short"] + LENGTHS["medium"]
    assert report["metrics"]["frames"] == report["frames"]
    by_name = {Path(e["path"]).name: e for e in report["bags"]}
    assert [e["status"] for e in report["bags"][:2]] == ["failed", "failed"]  # worst first
    for broken in ("b_cut.mcap", "d_junk.db3"):
        assert by_name[broken]["status"] == "failed" and broken in by_name[broken]["reason"]
    for good in ("a_good", "c_good"):
        assert by_name[good]["status"] == "done" and by_name[good]["metrics"]["miou"] is not None


def test_one_bag_is_replayed_as_before(fleet: Path, tiny_onnx: Path, tmp_path: Path) -> None:
    """One bag: today's report, with ``bags`` giving its status (no report folder of its own);
    a folder holding one bag is a fleet of one."""
    status, single = _run([fleet / "short"], tiny_onnx, tmp_path / "single")
    assert status == 0 and single["bag"] == str(fleet / "short")
    assert [(b["status"], b["report"]) for b in single["bags"]] == [("done", None)]
    folder = tmp_path / "folder"
    shutil.copytree(fleet / "short", folder / "short")
    out = tmp_path / "out"
    status, fleet_of_one = _run([folder], tiny_onnx, tmp_path / "of_one", "--out", str(out))
    assert status == 0 and [b["report"] for b in fleet_of_one["bags"]] == ["bags/short"]
    assert fleet_of_one["metrics"] == single["metrics"]
    with BagReader(out / "short") as bag:  # --out DIR: one output bag per input, named as its report
        assert bag.topics()["/camera/segmentation/labels"].msgcount == LENGTHS["short"]


class _KillOnStart(FleetProgress):
    """Kills the worker process that opens bag ``victim``, as the kernel's OOM killer would."""

    victim = 1

    def started(self, index: int, expected: int, pid: int | None = None) -> None:
        super().started(index, expected, pid)
        if index == self.victim and pid is not None and pid != os.getpid():
            os.kill(pid, signal.SIGKILL)


def test_a_killed_worker_fails_its_bag_only(fleet: Path, victim: Path, model: ModelSpec) -> None:
    tasks = plan(ReplayConfig(bag=fleet, progress=False), [fleet / "short", victim, fleet / "long"])
    results, _ = run_fleet(tasks, [model], _KillOnStart(tasks, threading.Event(), False), jobs=2)
    statuses = [(r.status, r.reason) for r in results]
    assert statuses[1][0] is BagStatus.FAILED and "SIGKILL" in str(statuses[1][1]), statuses
    assert [s for s, _ in statuses[::2]] == [BagStatus.DONE, BagStatus.DONE]
    total = merge(results, model="tiny", backend="onnxruntime", class_names=model.load().classes.names)
    assert total.frames == LENGTHS["short"] + LENGTHS["long"]


class _StopOnStart(FleetProgress):
    """Ctrl-C as bag 0 opens: what is running ends at the next frame, the queue is not run."""

    def started(self, index: int, expected: int, pid: int | None = None) -> None:
        super().started(index, expected, pid)
        self.stop.set()


@pytest.mark.parametrize("jobs", [1, 2])
def test_stop_reports_what_finished(fleet: Path, model: ModelSpec, jobs: int) -> None:
    tasks = plan(ReplayConfig(bag=fleet, progress=False), [fleet / name for name in LENGTHS])
    results, _ = run_fleet(tasks, [model], _StopOnStart(tasks, threading.Event(), False), jobs=jobs)
    assert results[-1].status is BagStatus.NOT_RUN and results[-1].report is None
    # with two workers either of the first two bags may start first; the other may then be
    # stopped before it starts
    ran = [r for r in results if r.status is not BagStatus.NOT_RUN]
    assert ran and all(r.status in (BagStatus.INTERRUPTED, BagStatus.DONE) for r in ran)
    total = merge(results, model="tiny", backend="onnxruntime", class_names=model.load().classes.names)
    assert total.interrupted and 1 <= total.frames < sum(LENGTHS.values())
    if jobs == 1:  # in this process the stop is seen after the first frame
        assert results[0].status is BagStatus.INTERRUPTED and results[0].report is not None
        assert results[0].report.frames == 1
        assert results[1].status is BagStatus.NOT_RUN


def test_ray_is_imported_only_for_ray() -> None:
    code = "import sys, asymfusion_ros.replay.cli; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_ray_missing_says_how_to_install(fleet: Path, tiny_onnx: Path) -> None:
    code = (
        "import sys; sys.modules['ray'] = None; from asymfusion_ros.cli import main; "
        f"sys.exit(main(['replay', {str(fleet)!r}, '--model', {str(tiny_onnx)!r}, '--ray']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "pip install 'asymfusion_ros[fleet]'" in done.stderr and "Traceback" not in done.stderr


# -- Ray: started here on loopback, shut down after ---------------------------------------------


def _needs_ray() -> None:
    """Skip without Ray, without importing it: the local start must be the first import."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed (pip install .[fleet])")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One Ray for the module's Ray tests, started as replay starts it (loopback only, checked),
    no dashboard; replay joins it."""
    _needs_ray()
    from asymfusion_ros.replay.fleet_ray import start_local

    start_local(2)
    import ray

    try:
        yield
    finally:
        ray.shutdown()


def test_ray_gives_the_metrics_of_the_local_run(
    fleet: Path, trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--ray`` with no address starts Ray for the run (loopback, 2 CPUs) and shuts it down."""
    _needs_ray()
    status, local = _run([fleet], trained, tmp_path / "local", "--jobs", "2")
    status_ray, on_ray = _run([fleet], trained, tmp_path / "ray", "--jobs", "2", "--ray")
    import ray

    assert not ray.is_initialized()
    assert status == status_ray == 0
    capsys.readouterr()
    assert on_ray["frames"] == local["frames"] == sum(LENGTHS.values())
    assert on_ray["metrics"] == local["metrics"]
    assert [e["metrics"] for e in on_ray["bags"]] == [e["metrics"] for e in local["bags"]]
    assert [e["path"] for e in on_ray["bags"]] == [e["path"] for e in local["bags"]]
    for entry in on_ray["bags"]:  # each task wrote its own report folder
        assert json.loads((tmp_path / "ray" / entry["report"] / "report.json").read_text())["frames"]
    assert "| bag | status | frames |" in (tmp_path / "ray" / "report.md").read_text()


def test_a_killed_ray_worker_fails_its_bag_only(
    fleet: Path, victim: Path, trained: Path, local_ray: None
) -> None:
    """The trained model is slow enough (~0.1 s a frame) that the victim still runs when its
    start reaches the driver (polled every 0.2 s)."""
    model = ModelSpec(str(trained), "onnxruntime", "fp32", threads=1)
    tasks = plan(ReplayConfig(bag=fleet, progress=False), [fleet / "short", victim, fleet / "medium"])
    progress = _KillOnStart(tasks, threading.Event(), False)
    results, _ = run_fleet(tasks, [model], progress, use_ray=True, jobs=2)
    failed: BagResult = results[1]
    assert failed.status is BagStatus.FAILED and "Ray worker died" in str(failed.reason), failed.reason
    assert [r.status for r in results[::2]] == [BagStatus.DONE, BagStatus.DONE]


def test_ray_compares_models_as_this_process_does(
    fleet: Path, tiny_onnx: Path, tiny_onnx_other: Path, local_ray: None
) -> None:
    """Two models on every frame of every bag, as Ray tasks: the same reports and agreement."""
    models = tuple(
        ModelSpec(str(path), "onnxruntime", "fp32", threads=1) for path in (tiny_onnx, tiny_onnx_other)
    )
    tasks = plan(ReplayConfig(bag=fleet, progress=False), [fleet / name for name in LENGTHS])
    on_ray, _ = run_fleet(tasks, models, FleetProgress(tasks, threading.Event(), False), use_ray=True, jobs=2)
    here, _ = run_fleet(tasks, models, FleetProgress(tasks, threading.Event(), False))
    for remote, local in zip(on_ray, here, strict=True):
        assert (
            remote.status is BagStatus.DONE and remote.comparison is not None and local.comparison is not None
        )
        assert [r.frames for r in remote.comparison.reports] == [LENGTHS[remote.task.name]] * 2
        assert [r.metrics() for r in remote.comparison.reports] == [
            r.metrics() for r in local.comparison.reports
        ]
        assert np.array_equal(remote.comparison.agreement.same, local.comparison.agreement.same)
