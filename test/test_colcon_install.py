"""The robot install path: ``colcon build`` of the tracked sources, then run what it installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "asymfusion_ros"


def tracked_files() -> list[str]:
    result = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"not a git checkout: {result.stderr.strip()}")
    return [f for f in result.stdout.splitlines() if (REPO / f).is_file()]


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    colcon = Path(sys.executable).with_name("colcon")
    if not colcon.is_file() and shutil.which("colcon") is None:
        pytest.skip("colcon not installed (pip install colcon-common-extensions)")
    workspace = tmp_path_factory.mktemp("ws")
    source = workspace / "src" / PACKAGE
    source.mkdir(parents=True)
    archive = workspace / "sources.tar"
    with tarfile.open(archive, "w") as tar:
        for name in tracked_files():
            tar.add(REPO / name, arcname=name)
    with tarfile.open(archive) as tar:
        tar.extractall(source, filter="data")
    result = subprocess.run(
        [str(colcon) if colcon.is_file() else "colcon", "build", "--base-paths", "src",
         "--build-base", "build", "--install-base", "install"],
        cwd=workspace, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return workspace / "install" / PACKAGE


def test_colcon_installs_node_launch_and_config(install: Path) -> None:
    for executable in ("asymfusion_node", "asymfusion_lifecycle_node"):
        node = install / "lib" / PACKAGE / executable
        assert node.is_file() and os.access(node, os.X_OK), executable
    share = install / "share" / PACKAGE
    for relative in ("package.xml", "launch/asymfusion.launch.py", "config/asymfusion.yaml",
                     "config/asymfusion.rviz", "config/classes/nyu40.yaml"):  # fmt: skip
        assert (share / relative).is_file(), relative
    index = install / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE
    assert index.is_file()


@pytest.mark.ros
def test_installed_node_finds_its_share_through_the_ament_index(install: Path, tmp_path: Path) -> None:
    """The installed entry point runs, and resolves shipped files in the install, not the checkout."""
    site = next((install / "lib").glob("python3*/site-packages"))
    env = dict(os.environ, AMENT_PREFIX_PATH=str(install), PYTHONPATH=str(site))
    result = subprocess.run(
        [str(install / "lib" / PACKAGE / "asymfusion_node"), "--ros-args", "-p", "model:=no_such_model"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{install / 'share' / PACKAGE / 'models'}" in result.stderr + result.stdout
