"""Shared test set-up.

DDS must stay on loopback on these machines: discovery is limited to localhost and every
test session gets its own domain id. This is set here and in the Makefile, never in the
node, since a robot needs real discovery.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")

REPO = Path(__file__).resolve().parent.parent
NYU_SAMPLE = REPO.parent / "shared" / "nyuv2_sample"


@pytest.fixture(scope="session")
def nyu_sample() -> Path:
    """The two real NYUv2 frames shipped beside the repository (skip where absent)."""
    if not (NYU_SAMPLE / "rgb").is_dir():
        pytest.skip(f"real NYUv2 sample not found at {NYU_SAMPLE}")
    return NYU_SAMPLE
