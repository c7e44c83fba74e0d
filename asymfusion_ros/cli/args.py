"""Argument types and arguments shared by several subcommands (light: no frame reader imported)."""

from __future__ import annotations

import argparse


def image_size(text: str) -> tuple[int, int]:
    """An argparse type for every ``--size``: '640x480' (width x height, as cameras are
    named) -> (H, W), the order arrays use."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, e.g. 640x480, got {text!r}") from err
    if width < 8 or height < 8:
        raise argparse.ArgumentTypeError(f"size must be at least 8x8, got {text!r}")
    return height, width


DEFAULT_DEPTH_SCALE = 0.001
"""Metres per unit of 16-bit depth: millimetres, as most RGB-D drivers publish."""


def add_depth_scale_argument(
    parser: argparse.ArgumentParser, what: str = "a folder's 16-bit depth images or a bag's 16UC1 depth"
) -> None:
    """``--depth-scale``, as every command that reads frames through cli/frame_sources.py takes it."""
    parser.add_argument(
        "--depth-scale",
        type=float,
        default=DEFAULT_DEPTH_SCALE,
        help=f"metres per unit of {what} ({DEFAULT_DEPTH_SCALE}: mm)",
    )
