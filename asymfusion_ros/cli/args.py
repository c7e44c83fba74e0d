"""Argument types shared by several subcommands."""

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
