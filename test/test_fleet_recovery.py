"""What a worker killed mid-bag leaves: its output bag made readable with what it wrote (or
removed when nothing can be read), and its report entry saying which."""

from __future__ import annotations

import os
import shutil
import signal
import threading
from pathlib import Path

import pytest
from rosbags.interfaces import ConnectionExtRosbag2, QosDurability

from asymfusion_ros.bags import BagFormat, BagReader
from asymfusion_ros.bags.recover import Recovery, recover_bag
from asymfusion_ros.replay import make_bag
from asymfusion_ros.replay.fleet import FleetProgress, plan, run_fleet
from asymfusion_ros.replay.fleet_report import bag_entry
from asymfusion_ros.replay.runner import ReplayConfig
from asymfusion_ros.replay.task import BagStatus, ModelSpec

SIZE = (64, 80)


@pytest.fixture(scope="module")
def bags(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bags")
    make_bag.write_synthetic_bag(root / "short", frames=3, rate_hz=30.0, size=SIZE, seed=20)
    make_bag.write_synthetic_bag(root / "other", frames=4, rate_hz=30.0, size=SIZE, seed=21)
    # big frames, many of them: the worker has flushed whole MCAP chunks long before its end
    make_bag.write_synthetic_bag(root / "victim", frames=60, rate_hz=30.0, size=(240, 320), seed=9)
    return {path.name: path for path in root.iterdir()}


class _KillAfterFrames(FleetProgress):
    """SIGKILLs the worker process replaying bag ``victim`` once it has done ``after`` frames."""

    victim, after = 1, 12

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.pids: dict[int, int] = {}
        self.killed = False

    def started(self, index: int, expected: int, pid: int | None = None) -> None:
        super().started(index, expected, pid)
        if pid is not None:
            self.pids[index] = pid

    def advance(self, index: int, frames: int) -> None:
        super().advance(index, frames)
        if index == self.victim and self.done[index] >= self.after and not self.killed:
            self.killed = True
            os.kill(self.pids[index], signal.SIGKILL)


def test_a_killed_worker_leaves_a_readable_output_bag(
    bags: dict[str, Path], tiny_onnx: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    report = tmp_path / "report"
    cfg = ReplayConfig(bag=bags["short"], out=out, report_dir=report, progress=False)
    tasks = plan(cfg, [bags["short"], bags["victim"], bags["other"]])
    model = ModelSpec(str(tiny_onnx), "onnxruntime", "fp32", threads=1)
    progress = _KillAfterFrames(tasks, threading.Event(), False)
    results, _ = run_fleet(tasks, [model], progress, jobs=2)
    assert progress.killed

    victim = results[1]
    assert victim.status is BagStatus.FAILED and victim.recovered is not None
    assert victim.recovered.recovery is Recovery.COMPLETED, victim.reason
    assert "SIGKILL" in str(victim.reason) and "completed with the" in str(victim.reason)
    entry = bag_entry(victim, None)
    assert entry["output_bag"] == str(out / "victim") and entry["output_bag_recovery"] == "completed"

    assert sorted(p.name for p in (out / "victim").iterdir()) == ["metadata.yaml", "victim.mcap"]
    with BagReader(out / "victim") as bag:  # rosbags opens it whole: no salvage needed
        assert bag.salvaged is None
        topics = bag.topics()
        labels = topics["/camera/segmentation/labels"].msgcount
        assert 1 <= labels < 60 and topics["/camera/color/image_raw"].msgcount >= labels
        assert sum(t.msgcount for t in topics.values()) == victim.recovered.messages
        (classes,) = bag.connections(["/camera/segmentation/classes"])
        assert isinstance(classes.ext, ConnectionExtRosbag2)  # still latched:
        assert classes.ext.offered_qos_profiles[0].durability is QosDurability.TRANSIENT_LOCAL
    assert not list(out.glob(".*"))  # no work folder left
    assert sorted(p.name for p in (report / "bags").iterdir()) == ["other", "short"]  # none half-written
    for done in (results[0], results[2]):
        assert done.status is BagStatus.DONE and bag_entry(done, None)["output_bag_recovery"] is None


def test_recovery_of_what_cannot_be_read_removes_it(bags: dict[str, Path], tmp_path: Path) -> None:
    data = next(bags["short"].glob("*.mcap")).read_bytes()
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "cut.mcap").write_bytes(data[:300])  # the header, no complete message
    assert recover_bag(cut, BagFormat.MCAP).recovery is Recovery.REMOVED
    assert not cut.exists()

    assert recover_bag(tmp_path / "never_started", BagFormat.MCAP).recovery is Recovery.ABSENT
    closed = tmp_path / "closed"
    shutil.copytree(bags["short"], closed)
    assert recover_bag(closed, BagFormat.MCAP).recovery is Recovery.CLOSED
    assert sorted(p.name for p in closed.iterdir()) == sorted(p.name for p in bags["short"].iterdir())
