"""``asymfusion demo``: the node on the shipped model, fed by the synthetic camera, for ~20 s.

It starts the node as its own process (as ``ros2 run`` would), publishes synthetic RGB-D
frames from this process, listens to the outputs and /diagnostics like any user would, then
prints fps, latency and drops as the node reports them and writes to ``--out``:
``overlay.png``, ``labels.png`` (class colours), ``cloud.png`` (the labeled cloud drawn in
3-D, with a legend of its classes), ``summary.json`` and ``node.log``.

The environment is passed on as it is: ``make demo`` sets ROS_AUTOMATIC_DISCOVERY_RANGE and
ROS_DOMAIN_ID so DDS stays on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from asymfusion_ros import figures
from asymfusion_ros.classes import ClassSet
from asymfusion_ros.cli.args import image_size
from asymfusion_ros.data.sample import RGBDSample
from asymfusion_ros.geometry import colorize
from asymfusion_ros.resources import ResourceError, resolve_model
from asymfusion_ros.ros import messages
from asymfusion_ros.ros.camera import CameraError, synthetic_frames
from asymfusion_ros.ros.problems import Problem

READY_TIMEOUT_S = 180.0
"""Model loading can take minutes where TensorRT builds its engine on first use."""
KEEP = 8
"""Output messages kept per topic while running (the newest)."""


class DemoError(RuntimeError):
    """The demo could not run: no model, the node did not start or produced nothing."""


# Example command lines, shown at the end of this subcommand's --help (cli/__init__.py).
EXAMPLES: tuple[str, ...] = (
    "asymfusion demo --seconds 20 --out demo_out",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the camera runs (default 20)")
    parser.add_argument(
        "--out", type=Path, default=Path("demo_out"), help="snapshot folder (default demo_out)"
    )
    parser.add_argument("--model", default="default", help="model name or path (default: the shipped model)")
    parser.add_argument("--backend", default="auto", help="auto | tensorrt | onnxruntime | torch")
    parser.add_argument("--rate", type=float, default=15.0, help="camera frames per second (default 15)")
    parser.add_argument(
        "--size", type=image_size, default=(480, 640), help="camera WIDTHxHEIGHT (default 640x480)"
    )
    parser.add_argument("--loop", type=int, default=30, help="distinct synthetic frames, looped (default 30)")


def run(args: argparse.Namespace) -> int:
    try:
        summary = run_demo(args)
    except (DemoError, ResourceError, CameraError) as err:
        print(f"demo failed: {err}", file=sys.stderr)
        return 1
    print_summary(summary, args.out)
    return 0


def run_demo(args: argparse.Namespace) -> dict[str, Any]:
    """Start the node, drive it, collect; returns the summary (also written to summary.json)."""
    model = resolve_model(args.model)
    size = args.size
    size_text = f"{size[1]}x{size[0]}"
    if not (args.seconds > 0 and args.rate > 0 and args.loop >= 1):
        raise DemoError(
            f"need --seconds > 0, --rate > 0, --loop >= 1; got {args.seconds}, {args.rate}, {args.loop}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    log_path = args.out / "node.log"
    # Reliable inputs: best effort loses fragments of VGA frames over UDP loopback (see docs/ros.md).
    command = [sys.executable, "-m", "asymfusion_ros.ros.node", "--ros-args", "-p", f"model:={model}",
               "-p", f"backend:={args.backend}", "-p", "qos.reliability:=reliable"]  # fmt: skip
    print(f"starting the node: {' '.join(command[1:])}")
    with log_path.open("w") as log:
        node = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
        try:
            print(f"rendering {args.loop} synthetic frames at {size_text} ...")
            frames = synthetic_frames(size, args.loop)
            summary = _drive(node, frames, args, log_path)
        finally:
            node_exit = _stop(node)
    summary["model"] = str(model)
    summary["node_exit_code"] = node_exit
    _write_snapshots(summary.pop("snapshot"), args.out, summary)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _drive(
    node: subprocess.Popen, frames: list[RGBDSample], args: argparse.Namespace, log_path: Path
) -> dict[str, Any]:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from asymfusion_ros.ros.camera import FramePublisher

    rclpy.init()
    demo = None
    try:
        demo = rclpy.create_node("asymfusion_demo")
        observer = Observer(demo)
        camera = FramePublisher(demo)
        executor = SingleThreadedExecutor()
        executor.add_node(demo)

        deadline = time.monotonic() + READY_TIMEOUT_S
        while observer.classes is None or not camera.matched() or not observer.outputs_matched():
            if node.poll() is not None:
                raise DemoError(f"the node exited with {node.returncode}; its log:\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                raise DemoError(f"the node was not ready within {READY_TIMEOUT_S:.0f} s; log: {log_path}")
            executor.spin_once(timeout_sec=0.1)
        print(f"node ready; publishing {args.seconds:g} s at {args.rate:g} Hz")

        start = time.monotonic()
        published = 0
        while (now := time.monotonic()) < start + args.seconds:
            due = start + published / args.rate
            if now >= due:
                camera.publish(frames[published % len(frames)])
                published += 1
            executor.spin_once(timeout_sec=max(0.0, min(due + 1 / args.rate - now, 0.05)))
        seconds = time.monotonic() - start
        # One more diagnostics message, so the counts cover the whole run.
        seen = len(observer.diagnostics)
        wait_until = time.monotonic() + 3.0
        while len(observer.diagnostics) == seen and time.monotonic() < wait_until:
            executor.spin_once(timeout_sec=0.1)
        return observer.summary(published, seconds, args)
    finally:
        if demo is not None:
            demo.destroy_node()
        rclpy.try_shutdown()


class Observer:
    """Subscribes to the node's outputs like a user would; keeps the newest and counts."""

    def __init__(self, node: Any) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image, PointCloud2
        from std_msgs.msg import String
        from visualization_msgs.msg import MarkerArray

        self._node = node
        self.classes: ClassSet | None = None
        self.diagnostics: list[dict[str, str]] = []
        self.latest: dict[str, dict[int, Any]] = {
            name: {} for name in ("overlay", "labels", "points", "class_tags")
        }
        self.counts: Counter[str] = Counter()
        self.tags_seen: Counter[str] = Counter()
        self._subs = [
            node.create_subscription(Image, "segmentation/overlay", lambda m: self._keep("overlay", m), 2),
            node.create_subscription(Image, "segmentation/labels", lambda m: self._keep("labels", m), 2),
            node.create_subscription(
                PointCloud2, "segmentation/points", lambda m: self._keep("points", m), 2
            ),
            node.create_subscription(MarkerArray, "segmentation/class_tags", self._on_tags, 2),
        ]
        latched = QoSProfile(
            depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
        )
        node.create_subscription(String, "segmentation/classes", self._on_classes, latched)
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def outputs_matched(self) -> bool:
        # Node.count_publishers, not Subscription.get_publisher_count: Humble's rclpy lacks the latter.
        return all(self._node.count_publishers(s.topic_name) > 0 for s in self._subs)

    def _keep(self, name: str, msg: Any) -> None:
        kept = self.latest[name]
        kept[messages.stamp_to_ns(msg.header.stamp)] = msg
        self.counts[name] += 1
        while len(kept) > KEEP:
            del kept[min(kept)]

    def _on_tags(self, msg: Any) -> None:
        if msg.markers:
            self.latest["class_tags"][messages.stamp_to_ns(msg.markers[0].header.stamp)] = msg
            self.counts["class_tags"] += 1
            self.tags_seen.update(m.text.split(" (")[0] for m in msg.markers[1:])
            while len(self.latest["class_tags"]) > KEEP:
                del self.latest["class_tags"][min(self.latest["class_tags"])]

    def _on_classes(self, msg: Any) -> None:
        self.classes = ClassSet.from_json(msg.data)

    def _on_diagnostics(self, msg: Any) -> None:
        for status in msg.status:
            if status.name.endswith(": segmentation"):
                self.diagnostics.append({kv.key: kv.value for kv in status.values})

    def summary(self, published: int, seconds: float, args: argparse.Namespace) -> dict[str, Any]:
        if not self.diagnostics or not self.counts["overlay"]:
            raise DemoError("the node published no segmentation (see node.log)")
        diag = self.diagnostics[-1]
        common = set(self.latest["overlay"]) & set(self.latest["labels"]) & set(self.latest["points"])
        stamp = max(common) if common else max(self.latest["overlay"])
        return {
            "backend": diag.get("backend", "?"),
            "camera": {
                "size": f"{args.size[1]}x{args.size[0]}",
                "rate_hz": args.rate,
                "published": published,
                "seconds": round(seconds, 2),
            },
            "fps": float(diag["fps"]),
            "latency_p50_ms": float(diag["latency_p50_ms"]),
            "latency_p95_ms": float(diag["latency_p95_ms"]),
            "inference_p50_ms": float(diag["inference_p50_ms"]),
            "frames_in": int(diag["frames_in"]),
            "frames_out": int(diag["frames_out"]),
            "drops": int(diag["drops"]),
            "failed": int(diag["failed"]),
            "in_flight": int(diag["in_flight"]),
            "problems": {p.value: int(diag[p.value]) for p in Problem if int(diag.get(p.value, 0))},
            "received": dict(self.counts),
            "classes_tagged": dict(self.tags_seen.most_common(12)),
            "snapshot": {name: self.latest[name].get(stamp) for name in ("overlay", "labels", "points")}
            | {"classes": self.classes},
        }


def _write_snapshots(snapshot: dict[str, Any], out: Path, summary: dict[str, Any]) -> None:
    classes: ClassSet = snapshot["classes"]
    written = []
    if snapshot["overlay"] is not None:
        cv2.imwrite(str(out / "overlay.png"), messages.image_to_rgb(snapshot["overlay"])[..., ::-1])
        written.append("overlay.png")
    if snapshot["labels"] is not None:
        labels = messages.image_to_rgb(snapshot["labels"])[..., 0]
        cv2.imwrite(str(out / "labels.png"), colorize(labels, classes.palette())[..., ::-1])
        written.append("labels.png")
    if snapshot["points"] is not None:
        render_cloud(
            messages.point_cloud_to_array(snapshot["points"]).reshape(-1), classes, out / "cloud.png"
        )
        written.append("cloud.png")
    summary["snapshots"] = written


def render_cloud(points: np.ndarray, classes: ClassSet, path: Path, max_points: int = 40_000) -> None:
    """A 3-D scatter of the labeled cloud coloured by class (matplotlib, no display needed).

    Camera optical axes (x right, y down, z forward) are drawn as x right, z into the
    scene, -y up, so the view reads like the camera image seen from slightly above.
    """
    plt = figures.pyplot()

    finite = points[np.isfinite(points["z"])]
    if finite.size > max_points:
        finite = finite[np.random.default_rng(0).choice(finite.size, max_points, replace=False)]
    palette = classes.palette().astype(np.float64) / 255.0
    colours = palette[np.minimum(finite["label"], 255)]
    fig = plt.figure(figsize=(9, 7), dpi=100)
    ax = fig.add_subplot(projection="3d")
    ax.scatter(finite["x"], finite["z"], -finite["y"], c=colours, s=1.5, depthshade=False, linewidths=0)
    ax.set_xlabel("x (m, right)")
    ax.set_ylabel("z (m, forward)")
    ax.set_zlabel("-y (m, up)")
    ax.view_init(elev=25, azim=-70)
    if finite.size:
        spans = [float(np.ptp(a)) or 1.0 for a in (finite["x"], finite["z"], finite["y"])]
        ax.set_box_aspect(spans)
    counts = Counter(int(v) for v in finite["label"])
    handles = [
        plt.Line2D([], [], marker="o", linestyle="", color=palette[label], label=_name(classes, label))
        for label, _ in counts.most_common(10)
    ]
    ax.legend(handles=handles, loc="upper left", fontsize=8, frameon=False)
    ax.set_title(f"labeled point cloud ({finite.size} points shown)")
    figures.save(fig, path)


def _name(classes: ClassSet, label: int) -> str:
    return classes.names[label] if label < len(classes) else f"class {label}"


def _stop(node: subprocess.Popen) -> int:
    """SIGINT (the node shuts down cleanly: exit 0), then kill if it hangs; the exit code."""
    if node.poll() is None:
        node.send_signal(signal.SIGINT)
        try:
            node.wait(timeout=10.0)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait()
    return int(node.returncode)


def _tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def print_summary(summary: dict[str, Any], out: Path) -> None:
    camera, problems = summary["camera"], summary["problems"]
    lines = [
        f"model    {summary['model']}",
        f"backend  {summary['backend']}",
        f"camera   {camera['size']} at {camera['rate_hz']:g} Hz: {camera['published']} frames "
        f"in {camera['seconds']} s",
        f"node     {summary['fps']:.1f} fps, latency p50 {summary['latency_p50_ms']:.1f} ms, "
        f"p95 {summary['latency_p95_ms']:.1f} ms (inference p50 {summary['inference_p50_ms']:.1f} ms)",
        f"frames   {summary['frames_in']} synced, {summary['frames_out']} segmented, "
        f"{summary['drops']} dropped",
        f"problems {problems or 'none'}",
        f"tagged   {', '.join(summary['classes_tagged']) or 'none'}",
        f"wrote    {', '.join([*summary['snapshots'], 'summary.json', 'node.log'])} to {out}/",
    ]
    print("\n".join(lines))
