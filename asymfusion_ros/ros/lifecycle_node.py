"""The ``asymfusion`` node as a managed (lifecycle) node, for robots that sequence their bring-up.

Same parameters, topics and frame pipeline as ``node.SegmentationNode``: both run
:class:`~asymfusion_ros.ros.node_core.SegmentationCore`, here one step per transition.

- ``configure``: load the model or engine (a TensorRT build happens here, not at activate)
  and create the publishers. A model that cannot load fails the transition (back to
  unconfigured) with the reason logged.
- ``activate``: publish the class set, subscribe, start the worker and ``/diagnostics``.
- ``deactivate``: unsubscribe and stop the worker; the model stays loaded.
- ``cleanup``: free the model and the publishers. ``shutdown`` and errors do the same.

Parameters are declared at construction, so ``ros2 param`` and launch overrides work in
every state; the read-only ones (the model, the runtime) are read at ``configure``.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import rclpy
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from asymfusion_ros.inference.errors import BackendError
from asymfusion_ros.resources import ResourceError
from asymfusion_ros.ros.node_core import NODE_NAME, SegmentationCore, spin


class SegmentationLifecycleNode(LifecycleNode):
    """RGB-D semantic segmentation whose model, inputs and outputs follow the lifecycle states."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.core = SegmentationCore(self)

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = self._step("configure", self.core.configure)
        if result != TransitionCallbackReturn.SUCCESS:
            self.core.cleanup()
            return result
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_activate(state)  # enables the managed publishers first
        if result != TransitionCallbackReturn.SUCCESS:
            return result
        return self._step("activate", self.core.activate)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.core.deactivate()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.core.cleanup()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.core.cleanup()
        return super().on_shutdown(state)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """After a failed transition: free everything and go back to unconfigured."""
        self.core.cleanup()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        self.core.deactivate()
        super().destroy_node()

    def _step(self, what: str, step: Callable[[], None]) -> TransitionCallbackReturn:
        """Run one core step; a model that cannot load is FAILURE, our own bug is logged and ERROR.

        rclpy turns an exception in a transition callback into ERROR without a word, so the
        traceback is logged here before it does.
        """
        try:
            step()
        except (ResourceError, BackendError) as err:
            self.get_logger().error(f"{what} failed: {err}")
            return TransitionCallbackReturn.FAILURE
        except Exception:
            self.get_logger().error(f"{what} failed:\n{traceback.format_exc()}")
            raise
        return TransitionCallbackReturn.SUCCESS


def main(args: Sequence[str] | None = None) -> int:
    """Console script ``asymfusion_lifecycle_node``; starts unconfigured (the launch file sequences it)."""
    rclpy.init(args=None if args is None else list(args))
    return spin(SegmentationLifecycleNode)


if __name__ == "__main__":
    sys.exit(main())
