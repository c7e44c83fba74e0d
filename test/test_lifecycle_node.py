"""The lifecycle node over real DDS: transitions by the ChangeState service, frames out only when active.

configure -> activate -> frames out -> deactivate -> no frames out (model kept) -> activate
again -> frames out -> deactivate -> cleanup (model freed, outputs gone); a model that cannot
load fails configure and leaves the node unconfigured.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

rclpy = pytest.importorskip("rclpy")

from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from ros_harness import OUTPUTS, Harness, wall_frame  # noqa: E402

from asymfusion_ros.ros.lifecycle_node import SegmentationLifecycleNode  # noqa: E402

pytestmark = pytest.mark.ros

NAMESPACE = "/lifecycle_test"


class Lifecycle:
    """The node's lifecycle services, called from the probe as a launch file or ros2 lifecycle would."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        node_name = harness.node.get_fully_qualified_name()
        self._change = harness.probe.create_client(ChangeState, f"{node_name}/change_state")
        self._get = harness.probe.create_client(GetState, f"{node_name}/get_state")
        harness.wait_for(lambda: self._change.service_is_ready() and self._get.service_is_ready(), 10.0,
                         "lifecycle services")  # fmt: skip

    def _call(self, client: Any, request: Any) -> Any:
        future = client.call_async(request)
        self.harness.wait_for(future.done, 60.0, f"{client.srv_name} to answer")
        return future.result()

    def change(self, transition_id: int) -> bool:
        request = ChangeState.Request()
        request.transition.id = transition_id
        return bool(self._call(self._change, request).success)

    def state(self) -> str:
        return str(self._call(self._get, GetState.Request()).current_state.label)


def no_labels_while_publishing(harness: Harness, seconds: float = 1.5) -> None:
    """Publish a frame every 0.25 s for ``seconds``; none of them may come back as labels."""
    sent = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sent.append(harness.stamp())
        harness.camera.publish(wall_frame(), sent[-1])
        time.sleep(0.25)
    time.sleep(0.5)
    assert not set(sent) & set(harness.received["labels"])


def test_transitions_gate_frames_and_the_model(context: Any, tiny_onnx: Path) -> None:
    h = Harness(context, tiny_onnx, NAMESPACE, node_type=SegmentationLifecycleNode, connect=False)
    try:
        lifecycle = Lifecycle(h)
        core = h.node.core
        assert lifecycle.state() == "unconfigured" and core.segmenter is None

        assert lifecycle.change(Transition.TRANSITION_CONFIGURE)
        assert lifecycle.state() == "inactive"
        segmenter = core.segmenter
        assert segmenter is not None and set(core.publishers) == {*OUTPUTS, "overlay/compressed"}
        assert not h.camera.matched()  # inactive: nothing subscribed yet

        assert lifecycle.change(Transition.TRANSITION_ACTIVATE)
        assert lifecycle.state() == "active"
        h.wait_for(h.connected, 10.0, "node and probe to connect after activate")
        h.send(wall_frame(), ("labels", "points"))
        h.wait_for(lambda: bool(h.classes), 5.0, "segmentation/classes latched at activate")

        assert lifecycle.change(Transition.TRANSITION_DEACTIVATE)
        assert lifecycle.state() == "inactive"
        h.wait_for(lambda: not h.camera.matched(), 10.0, "the node to unsubscribe")
        frames_in = core.stats.snapshot().frames_in
        no_labels_while_publishing(h)
        assert core.stats.snapshot().frames_in == frames_in
        assert core.segmenter is segmenter  # deactivate keeps the model

        assert lifecycle.change(Transition.TRANSITION_ACTIVATE)
        h.wait_for(h.connected, 10.0, "node and probe to reconnect")
        h.send(wall_frame(seed=1), ("labels",))

        assert lifecycle.change(Transition.TRANSITION_DEACTIVATE)
        assert lifecycle.change(Transition.TRANSITION_CLEANUP)
        assert lifecycle.state() == "unconfigured"
        assert core.segmenter is None and not core.publishers
        labels_topic = f"{NAMESPACE}/segmentation/labels"
        h.wait_for(lambda: h.probe.count_publishers(labels_topic) == 0, 10.0, "the outputs to be gone")
    finally:
        h.close()


def test_a_model_that_cannot_load_fails_configure(context: Any) -> None:
    h = Harness(context, Path("no_such_model"), "/lifecycle_bad_model", node_type=SegmentationLifecycleNode,
                connect=False)  # fmt: skip
    try:
        assert h.node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert Lifecycle(h).state() == "unconfigured"
        assert h.node.core.segmenter is None and not h.node.core.publishers
    finally:
        h.close()
