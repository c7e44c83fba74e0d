"""The ``asymfusion`` command: one size convention for every ``--size``."""

from __future__ import annotations

import argparse

import pytest

from asymfusion_ros.cli import COMMANDS, image_size, main


def test_sizes_are_width_by_height_like_camera_names() -> None:
    assert image_size("640x480") == (480, 640)
    assert image_size("8X8") == (8, 8)


@pytest.mark.parametrize("text", ["640", "640x", "axb", "640x480x3", "4x480"])
def test_bad_sizes_are_refused_with_the_convention(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"WIDTHxHEIGHT|at least 8x8"):
        image_size(text)


def test_every_subcommand_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)
