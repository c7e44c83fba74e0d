"""The ``asymfusion`` node: synchronised RGB-D in, labels, overlay, labeled cloud and tags out.

A plain rclpy node that runs :class:`~asymfusion_ros.ros.node_core.SegmentationCore`'s
configure and activate steps at construction (model loaded, inputs subscribed) and stops
the worker when destroyed. ``lifecycle_node`` runs the same core one transition at a time.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import rclpy
from rclpy.node import Node

from asymfusion_ros.ros.node_core import NODE_NAME, SegmentationCore, spin


class SegmentationNode(Node):
    """RGB-D semantic segmentation: topics, parameters and diagnostics as docs/node.md lists them."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.core = SegmentationCore(self)
        self.core.configure()
        self.core.activate()

    def destroy_node(self) -> None:
        self.core.deactivate()
        super().destroy_node()


def main(args: Sequence[str] | None = None) -> int:
    """Console script ``asymfusion_node`` (``ros2 run asymfusion_ros asymfusion_node``)."""
    rclpy.init(args=None if args is None else list(args))
    return spin(SegmentationNode)


if __name__ == "__main__":
    sys.exit(main())
