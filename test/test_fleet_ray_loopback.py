"""``replay --ray`` with no address opens nothing beyond loopback, and leaves no Ray behind.

A whole run of the command is watched from ``/proc`` (every socket its processes listen on,
sampled until it ends). It runs on this machine and, where root and ``unshare`` allow, in a
private network namespace too, so a regression cannot reach a network. There loopback alone
would hide a listener on every interface, so the namespace also gets one outside address
(198.51.100.7, a documentation address, routed nowhere but back to itself): Ray takes it for
the node's address when nothing keeps it on loopback, and the guard must then refuse.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from asymfusion_ros.replay import make_bag
from asymfusion_ros.replay.fleet_ray import LOOPBACK_ENV
from asymfusion_ros.replay.listeners import (
    Listener,
    can_inspect,
    children,
    listeners,
    parse_address,
    parse_table,
)

OUTSIDE = "198.51.100.7"
NAMESPACE_SETUP = (
    f"ip link set lo up; ip addr add {OUTSIDE}/32 dev lo; ip route add default dev lo src {OUTSIDE}"
)
RUN_TIMEOUT_S = 300


def _namespace_available() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    return subprocess.run(["unshare", "-n", "sh", "-c", NAMESPACE_SETUP], capture_output=True).returncode == 0


WHERE = [
    pytest.param("here", id="this-machine"),
    pytest.param(
        "namespace",
        id="private-netns",
        marks=pytest.mark.skipif(not _namespace_available(), reason="needs root, unshare and ip"),
    ),
]

needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None or not can_inspect(), reason="needs Ray and Linux's /proc"
)


def test_proc_net_tables_are_read() -> None:
    """Addresses as the kernel writes them (32-bit words in host order), listeners only."""
    assert parse_address("0100007F:1F90") == (ipaddress.ip_address("127.0.0.1"), 8080)
    cases = {
        "0100007F:0050": True,  # 127.0.0.1
        "0101007F:0050": True,  # 127.0.1.1, still loopback
        "00000000:0050": False,  # every interface
        "0764A8C6:0050": False,  # 198.168.100.7
        "00000000000000000000000001000000:0050": True,  # ::1
        "0000000000000000FFFF00000100007F:0050": True,  # ::ffff:127.0.0.1
        "00000000000000000000000000000000:0050": False,  # :: (every interface, both families)
    }
    for field, loopback in cases.items():
        assert Listener(1, "tcp", *parse_address(field)).loopback is loopback, field
    table = "\n".join(
        [
            "sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode",
            "0: 0100007F:1F90 00000000:0000 0A 0:0 00:0 0 0 0 111 1 0 100 0 0 10 0",
            "1: 0100007F:A000 0100007F:1F90 01 0:0 00:0 0 0 0 222 1 0 100 0 0 10 0",
        ]
    )
    assert parse_table(table, "tcp") == {111: (ipaddress.ip_address("127.0.0.1"), 8080)}
    udp = table.replace(" 0A ", " 07 ").replace(" 01 ", " 07 ")  # the second is connected to a peer
    assert parse_table(udp, "udp") == {111: (ipaddress.ip_address("127.0.0.1"), 8080)}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fleet")
    for seed, name in enumerate(("a", "b")):
        make_bag.write_synthetic_bag(root / name, frames=3, rate_hz=30.0, size=(64, 80), seed=seed)
    return root


def _is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _watch(command: list[str], where: str, log: Path) -> tuple[int, set[Listener], set[int]]:
    """Run ``command`` (in the namespace if asked); its exit status, every socket its processes
    listened on, and every process it started. Nothing it started outlives this call."""
    if where == "namespace":
        command = ["unshare", "-n", "sh", "-c", f'{NAMESPACE_SETUP}; exec "$@"', "sh", *command]
    seen: set[Listener] = set()
    started: set[int] = set()
    with log.open("w") as out:
        # replay must keep Ray on loopback by itself: not with a setting a test before left here
        env = {name: value for name, value in os.environ.items() if name not in LOOPBACK_ENV}
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            deadline = time.monotonic() + RUN_TIMEOUT_S
            while proc.poll() is None and time.monotonic() < deadline:
                started |= children([proc.pid])
                seen.update(listeners(proc.pid))
                time.sleep(0.1)
            status = proc.wait(timeout=1)
        finally:
            for pid in sorted(started | {proc.pid}):
                if _is_running(pid):
                    os.kill(pid, signal.SIGKILL)
    return status, seen, started - {proc.pid}


def _replay(fleet: Path, tiny_onnx: Path, report: Path) -> list[str]:
    return [
        sys.executable, "-m", "asymfusion_ros.cli", "replay", str(fleet), "--model", str(tiny_onnx),
        "--backend", "onnxruntime", "--report", str(report), "--jobs", "2", "--ray",
    ]  # fmt: skip


def _left_running(started: set[int]) -> list[int]:
    deadline = time.monotonic() + 15  # Ray's shutdown ends its processes within moments
    while (running := [pid for pid in started if _is_running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    return running


@needs_ray
@pytest.mark.parametrize("where", WHERE)
def test_local_ray_listens_on_loopback_only(where: str, fleet: Path, tiny_onnx: Path, tmp_path: Path) -> None:
    status, seen, started = _watch(_replay(fleet, tiny_onnx, tmp_path / "report"), where, tmp_path / "log")
    log = (tmp_path / "log").read_text()
    assert status == 0, log
    assert json.loads((tmp_path / "report" / "report.json").read_text())["frames"] == 6
    names = {listener.pid: str(listener) for listener in seen}
    assert any("gcs_server" in name for name in names.values()), names  # the watch saw Ray listen
    assert any("raylet" in name for name in names.values()), names
    assert [str(listener) for listener in seen if not listener.loopback] == []
    assert _left_running(started) == []


@needs_ray
@pytest.mark.skipif(not _namespace_available(), reason="needs root, unshare and ip")
def test_a_ray_that_would_listen_beyond_loopback_is_refused(
    tiny_onnx: Path, fleet: Path, tmp_path: Path
) -> None:
    """Ray imported before replay could keep it on loopback: it takes the namespace's outside
    address, listens there and on every interface, and the run refuses, pointing to --jobs."""
    code = (
        "import sys, ray; from asymfusion_ros.cli import main; "
        f"sys.exit(main({_replay(fleet, tiny_onnx, tmp_path / 'report')[3:]!r}))"
    )
    status, seen, started = _watch([sys.executable, "-c", code], "namespace", tmp_path / "log")
    log = (tmp_path / "log").read_text()
    assert status == 1, log
    assert "beyond loopback" in log and f"node address {OUTSIDE}" in log and "use --jobs" in log
    assert "Traceback" not in log
    assert any(not listener.loopback for listener in seen)  # what the guard saw, the watch saw too
    assert not (tmp_path / "report").exists()
    assert _left_running(started) == []
