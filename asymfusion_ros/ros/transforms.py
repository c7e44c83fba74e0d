"""Static transforms from ``/tf_static`` without tf2: the depth->colour extrinsic of a camera.

``tf2_msgs/TFMessage`` holds ``geometry_msgs/TransformStamped`` edges: ``header.frame_id`` is
the parent, ``child_frame_id`` the child, and the transform maps child coordinates into the
parent (translation in metres, rotation a unit quaternion x, y, z, w; REP 103). A camera driver
publishes a small tree, e.g. ``camera_link -> camera_depth_frame -> camera_depth_optical_frame``
and ``camera_link -> camera_color_frame -> camera_color_optical_frame``; the extrinsic is the
chain through their common ancestor. Duck-typed, so rosbags and rclpy messages both work, and
no rclpy import: replay reads ``/tf_static`` from the bag with this; the node may use tf2_ros.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np


class TransformError(ValueError):
    """No transform chain joins two frames, or a transform is malformed."""


def quaternion_to_matrix(x: float, y: float, z: float, w: float) -> np.ndarray:
    """A quaternion (normalised here: drivers round theirs to a few digits) -> 3x3 rotation."""
    q = np.array([x, y, z, w], dtype=np.float64)
    norm = float(np.linalg.norm(q))
    if not np.isfinite(norm) or norm < 1e-9:
        raise TransformError(f"quaternion {tuple(q)} has no direction (norm {norm})")
    x, y, z, w = q / norm
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def transform_to_matrix(transform: Any) -> np.ndarray:
    """A geometry_msgs/Transform (``translation``, ``rotation``) -> 4x4 homogeneous matrix."""
    t, r = transform.translation, transform.rotation
    matrix = np.eye(4)
    matrix[:3, :3] = quaternion_to_matrix(float(r.x), float(r.y), float(r.z), float(r.w))
    matrix[:3, 3] = (float(t.x), float(t.y), float(t.z))
    return matrix


def _frame(name: str) -> str:
    """ROS 1 bags write ``/camera_link``; tf2 in ROS 2 names it ``camera_link``."""
    return str(name).lstrip("/")


def _inverse(matrix: np.ndarray) -> np.ndarray:
    inverse = np.eye(4)
    inverse[:3, :3] = matrix[:3, :3].T
    inverse[:3, 3] = -matrix[:3, :3].T @ matrix[:3, 3]
    return inverse


class TransformTree:
    """Static frames as a tree of child -> (parent, child-to-parent matrix); the latest edge wins."""

    def __init__(self) -> None:
        self._parent: dict[str, tuple[str, np.ndarray]] = {}

    @classmethod
    def from_messages(cls, messages: Iterable[Any]) -> TransformTree:
        """From TFMessages (``transforms`` lists) or single TransformStamped messages, in order."""
        tree = cls()
        for msg in messages:
            for stamped in getattr(msg, "transforms", None) or [msg]:
                tree.add(stamped)
        return tree

    def add(self, stamped: Any) -> None:
        parent, child = _frame(stamped.header.frame_id), _frame(stamped.child_frame_id)
        if not parent or not child or parent == child:
            raise TransformError(f"transform from {parent!r} to {child!r} does not join two frames")
        self._parent[child] = (parent, transform_to_matrix(stamped.transform))

    @property
    def frames(self) -> set[str]:
        return set(self._parent) | {parent for parent, _ in self._parent.values()}

    def _to_root(self, frame: str) -> list[tuple[str, np.ndarray]]:
        """``frame`` and each of its ancestors, with the matrix mapping ``frame`` coordinates into it."""
        chain, matrix, seen = [(frame, np.eye(4))], np.eye(4), {frame}
        while frame in self._parent:
            frame, edge = self._parent[frame]
            if frame in seen:
                raise TransformError(f"transforms form a loop through {frame!r}")
            seen.add(frame)
            matrix = edge @ matrix
            chain.append((frame, matrix))
        return chain

    def lookup(self, target: str, source: str) -> np.ndarray:
        """The 4x4 matrix mapping points in ``source`` to ``target`` (tf2's lookupTransform order)."""
        target, source = _frame(target), _frame(source)
        up_from_source = dict(self._to_root(source))
        for ancestor, target_to_ancestor in self._to_root(target):
            if ancestor in up_from_source:
                return _inverse(target_to_ancestor) @ up_from_source[ancestor]
        raise TransformError(
            f"no transform chain from {source!r} to {target!r} in /tf_static "
            f"(frames: {', '.join(sorted(self.frames)) or 'none'})"
        )


def depth_to_colour(messages: Iterable[Any], depth_frame: str, colour_frame: str) -> np.ndarray:
    """The depth->colour extrinsic (4x4, metres) from ``/tf_static`` messages."""
    return TransformTree.from_messages(messages).lookup(colour_frame, depth_frame)


__all__ = [
    "TransformError",
    "TransformTree",
    "depth_to_colour",
    "quaternion_to_matrix",
    "transform_to_matrix",
]
