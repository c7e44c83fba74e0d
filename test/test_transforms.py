"""ros/transforms.py: quaternions, chains through a common parent, clear errors; rosbags messages."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from asymfusion_ros.ros.transforms import (
    TransformError,
    TransformTree,
    depth_to_colour,
    quaternion_to_matrix,
)

OPTICAL = (-0.5, 0.5, -0.5, 0.5)
"""The body -> optical rotation every driver publishes (z forward = body x, x right = body -y)."""


def stamped(
    parent: str,
    child: str,
    xyz: tuple[float, float, float] = (0.0, 0.0, 0.0),
    quat: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0),
) -> SimpleNamespace:
    """A duck-typed geometry_msgs/TransformStamped."""
    vec = SimpleNamespace(x=xyz[0], y=xyz[1], z=xyz[2])
    rot = SimpleNamespace(x=quat[0], y=quat[1], z=quat[2], w=quat[3])
    return SimpleNamespace(
        header=SimpleNamespace(frame_id=parent),
        child_frame_id=child,
        transform=SimpleNamespace(translation=vec, rotation=rot),
    )


def realsense_tree() -> list[SimpleNamespace]:
    """RealSense-style /tf_static: colour 15 mm left of depth (body +y), each with an optical child."""
    return [
        SimpleNamespace(
            transforms=[
                stamped("camera_link", "camera_depth_frame"),
                stamped("camera_depth_frame", "camera_depth_optical_frame", quat=OPTICAL),
            ]
        ),
        SimpleNamespace(
            transforms=[
                stamped("camera_link", "camera_color_frame", xyz=(0.0, 0.015, 0.0)),
                stamped("camera_color_frame", "camera_color_optical_frame", quat=OPTICAL),
            ]
        ),
    ]


def test_quaternions() -> None:
    np.testing.assert_allclose(quaternion_to_matrix(0, 0, 0, 1), np.eye(3))
    quarter_z = quaternion_to_matrix(0, 0, np.sin(np.pi / 4), np.cos(np.pi / 4))
    np.testing.assert_allclose(quarter_z @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(quaternion_to_matrix(0, 0, 2, 2), quarter_z, atol=1e-12)  # normalised
    optical = quaternion_to_matrix(*OPTICAL)
    np.testing.assert_allclose(optical @ [0, 0, 1], [1, 0, 0], atol=1e-12)  # optical z = body x
    np.testing.assert_allclose(optical @ [1, 0, 0], [0, -1, 0], atol=1e-12)  # optical x = body -y
    with pytest.raises(TransformError, match="no direction"):
        quaternion_to_matrix(0, 0, 0, 0)


def test_depth_to_colour_through_the_common_parent() -> None:
    extrinsic = depth_to_colour(realsense_tree(), "camera_depth_optical_frame", "camera_color_optical_frame")
    # Colour sits 15 mm to the body's left = optical -x: a point is 15 mm further right for it.
    np.testing.assert_allclose(extrinsic[:3, :3], np.eye(3), atol=1e-12)
    np.testing.assert_allclose(extrinsic[:3, 3], [0.015, 0.0, 0.0], atol=1e-12)
    tree = TransformTree.from_messages(realsense_tree())
    back = tree.lookup("camera_depth_optical_frame", "camera_color_optical_frame")
    np.testing.assert_allclose(back @ extrinsic, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(tree.lookup("camera_link", "camera_link"), np.eye(4))


def test_chain_composes_rotations_and_translations() -> None:
    """A child two levels down: p_root = T_root_a @ T_a_b @ p_b."""
    quarter_z = (0.0, 0.0, np.sin(np.pi / 4), np.cos(np.pi / 4))
    tree = TransformTree.from_messages(
        [stamped("root", "a", xyz=(1.0, 0.0, 0.0), quat=quarter_z), stamped("a", "b", xyz=(0.0, 2.0, 0.0))]
    )
    np.testing.assert_allclose(tree.lookup("root", "b") @ [0, 0, 0, 1], [-1.0, 0.0, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(tree.lookup("b", "root") @ [-1.0, 0.0, 0.0, 1.0], [0, 0, 0, 1], atol=1e-12)


def test_ros1_leading_slashes_and_latest_edge_wins() -> None:
    tree = TransformTree.from_messages(
        [stamped("/base", "/cam", xyz=(1.0, 0, 0)), stamped("base", "cam", xyz=(2.0, 0, 0))]
    )
    np.testing.assert_allclose(tree.lookup("base", "/cam")[:3, 3], [2.0, 0, 0])


def test_errors_name_the_frames() -> None:
    with pytest.raises(
        TransformError, match=r"no transform chain from 'camera_depth_optical_frame'.*camera_link"
    ):
        depth_to_colour(realsense_tree()[:1], "camera_depth_optical_frame", "rgb_camera_link")
    with pytest.raises(TransformError, match="frames: none"):
        depth_to_colour([], "depth", "colour")
    with pytest.raises(TransformError, match="loop"):
        TransformTree.from_messages([stamped("a", "b"), stamped("b", "a")]).lookup("x", "a")
    with pytest.raises(TransformError, match="does not join"):
        TransformTree.from_messages([stamped("a", "a")])


def test_rosbags_tf_messages() -> None:
    from rosbags.typesys import Stores, get_typestore

    from asymfusion_ros.ros.messages import build_header, rosbags_factory

    factory = rosbags_factory(get_typestore(Stores.ROS2_HUMBLE))

    def edge(parent: str, child: str, y: float, quat: tuple[float, ...]) -> object:
        x_, y_, z_, w_ = quat
        transform = factory.new(
            "geometry_msgs/msg/Transform",
            translation=factory.new("geometry_msgs/msg/Vector3", x=0.0, y=y, z=0.0),
            rotation=factory.new("geometry_msgs/msg/Quaternion", x=x_, y=y_, z=z_, w=w_),
        )
        return factory.new(
            "geometry_msgs/msg/TransformStamped",
            header=build_header(factory, 0, parent),
            child_frame_id=child,
            transform=transform,
        )

    message = factory.new(
        "tf2_msgs/msg/TFMessage",
        transforms=[
            edge("camera_base", "depth_camera_link", 0.0, OPTICAL),
            edge("camera_base", "rgb_camera_link", -0.032, OPTICAL),
        ],
    )
    extrinsic = depth_to_colour([message], "depth_camera_link", "rgb_camera_link")
    np.testing.assert_allclose(extrinsic[:3, 3], [-0.032, 0.0, 0.0], atol=1e-12)
