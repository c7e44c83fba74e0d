"""``asymfusion replay BAG``: every frame of a recording through the node's own pipeline.

A live ``ros2 bag play`` drops frames whenever inference is slower than the camera; this
does not. Messages are read in recording order with ``rosbags`` (no ROS install), paired
by the node's approximate-time synchroniser (``ros/sync.py``), converted and checked by the
node's functions (``ros/messages.py``, ``ros/frames.py``) and run through the same ``Segmenter`` and
``geometry``; so an offline score is the score of what the robot would run.

Outputs: scores against a ground-truth label topic, per-stage latency, a report folder,
and optionally a bag with the node's output topics beside the inputs for RViz/Foxglove.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from asymfusion_ros import geometry
from asymfusion_ros.bags import (
    BagFormat,
    BagMessage,
    BagReader,
    BagReadError,
    BagWriter,
    StreamTopics,
    TopicChoiceError,
    detect_topics,
    typestore,
)
from asymfusion_ros.classes import IGNORE_INDEX, ClassSet
from asymfusion_ros.inference.base import BackendKind, Precision
from asymfusion_ros.metrics import ConfusionMatrix
from asymfusion_ros.replay.report import ReplayReport, summary_lines, write_report
from asymfusion_ros.ros import frames, messages, outputs
from asymfusion_ros.ros.params import Settings
from asymfusion_ros.ros.sync import ApproximateTimeSync

RGB, DEPTH = 0, 1  # synchroniser inputs
OUTPUT_TOPICS = ("labels", "color", "overlay", "confidence", "points", "class_tags", "classes")
"""The node's outputs under ``<namespace>/segmentation/``."""


@dataclass(frozen=True)
class ReplayConfig:
    """Everything one replay needs; ``start_s``/``end_s`` count from the bag's first message."""

    bag: Path
    rgb_topic: str | None = None
    depth_topic: str | None = None
    info_topic: str | None = None
    label_topic: str | None = None
    start_s: float | None = None
    end_s: float | None = None
    max_frames: int | None = None
    out: Path | None = None
    out_format: BagFormat = BagFormat.MCAP
    namespace: str | None = None
    report_dir: Path | None = None
    overlays: int = 4
    progress: bool = True
    node: Settings = field(default_factory=Settings)
    """The node's parameters (ros/params.py): model, backend, sync, depth scale, cloud, overlay."""


class Frame(NamedTuple):
    """One synchronised camera frame, decoded; ``header`` is the colour image's (stamp, frame_id)."""

    number: int
    stamp_ns: int
    header: Any
    rgb: np.ndarray
    depth_m: np.ndarray
    K: np.ndarray | None  # None without a usable camera_info: no cloud, no tags


def output_namespace(rgb_topic: str) -> str:
    """The node's namespace for a camera: the first level of the colour topic (``/camera``)."""
    parts = rgb_topic.strip("/").split("/")
    return f"/{parts[0]}" if len(parts) > 1 else ""


class LabelMatcher:
    """Pairs predictions with ground truth by stamp: exact, else the nearest within slop.

    Labels may be recorded before or after their frame, so a prediction waits until a later
    label (past the slop) or ``horizon_ns`` of recording time shows that none will come.
    """

    def __init__(self, slop_ns: int, horizon_ns: int = 2_000_000_000) -> None:
        self.slop_ns = slop_ns
        self.horizon_ns = horizon_ns
        self.labels: dict[int, Any] = {}
        self.pending: dict[int, Any] = {}
        self.newest_label_ns: int | None = None

    def add_label(self, stamp_ns: int, msg: Any) -> None:
        self.labels[stamp_ns] = msg
        self.newest_label_ns = (
            stamp_ns if self.newest_label_ns is None else max(self.newest_label_ns, stamp_ns)
        )

    def add_prediction(self, stamp_ns: int, prediction: Any) -> None:
        self.pending[stamp_ns] = prediction

    def ready(self, now_ns: int) -> Iterator[tuple[int, Any, Any | None]]:
        """(stamp, prediction, label message or None) of every prediction that can be decided."""
        for stamp in sorted(self.pending):
            label_past = self.newest_label_ns is not None and self.newest_label_ns > stamp + self.slop_ns
            if stamp in self.labels or label_past or now_ns > stamp + self.horizon_ns:
                yield stamp, self.pending.pop(stamp), self._take(stamp)
        # Labels older than any frame still to come can never match: forget them.
        horizon = now_ns - self.horizon_ns - self.slop_ns
        for stamp in [s for s in self.labels if s < horizon]:
            del self.labels[stamp]

    def flush(self) -> Iterator[tuple[int, Any, Any | None]]:
        for stamp in sorted(self.pending):
            yield stamp, self.pending.pop(stamp), self._take(stamp)

    def _take(self, stamp_ns: int) -> Any | None:
        if stamp_ns in self.labels:
            return self.labels.pop(stamp_ns)
        near = [s for s in self.labels if abs(s - stamp_ns) <= self.slop_ns]
        return self.labels.pop(min(near, key=lambda s: abs(s - stamp_ns))) if near else None


class Replay:
    """One pass over a bag; callbacks of the synchroniser do the per-frame work."""

    def __init__(
        self,
        cfg: ReplayConfig,
        segmenter: Any,
        topics: StreamTopics,
        report: ReplayReport,
        writer: BagWriter | None,
        stop: threading.Event,
    ) -> None:
        self.cfg = cfg
        self.segmenter = segmenter
        self.classes: ClassSet = segmenter.classes
        self.palette = self.classes.palette()
        self.topics = topics
        self.report = report
        self.writer = writer
        self.stop = stop
        self.sync = ApproximateTimeSync(2, cfg.node.sync_queue_size, cfg.node.sync_slop, self._on_synced)
        self.labels = LabelMatcher(round(cfg.node.sync_slop * 1e9)) if topics.labels else None
        self.factory = messages.rosbags_factory(typestore())
        ns = output_namespace(topics.rgb) if cfg.namespace is None else cfg.namespace.rstrip("/")
        self.out_topics = {name: f"{ns}/segmentation/{name}" for name in OUTPUT_TOPICS}
        self.info: Any = None  # the latest camera_info, as the node keeps it
        self.before_info: list[tuple[Any, Any]] = []  # frames synchronised before the first camera_info
        self.seen = {RGB: 0, DEPTH: 0}
        self.synced = 0
        self.overlay_every = 1
        self.figures: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.progress: Any = None
        self.classes_written = False

    # -- reading -------------------------------------------------------------------------

    def feed(self, bag: BagReader, message: BagMessage, *, copy: bool = True) -> None:
        """One recorded message: camera_info updates K, images go to the synchroniser.

        ``copy``: also copy it to the output bag (not for camera_info read before the window).
        """
        topic = message.topic
        if copy and self.writer is not None and not bag.is_ros1:
            self.writer.write_raw(
                self.writer.add_topic(topic, message.msgtype, store=bag.reader.typestore),
                message.raw,
                message.log_ns,
            )
        if topic not in (self.topics.rgb, self.topics.depth, self.topics.info, self.topics.labels):
            return
        try:
            msg = bag.deserialize(message)
        except BagReadError as err:
            self.report.skip(f"{topic}: undecodable message")
            self.report.warn(str(err))
            return
        if topic == self.topics.info:
            self._on_info(msg)
        elif topic == self.topics.labels and self.labels is not None:
            self.labels.add_label(messages.stamp_to_ns(msg.header.stamp), msg)
        else:
            index = RGB if topic == self.topics.rgb else DEPTH
            self.seen[index] += 1
            self.sync.add(index, messages.stamp_to_ns(msg.header.stamp), msg)
        if self.labels is not None:
            self._score(self.labels.ready(message.log_ns))

    def _on_info(self, msg: Any) -> None:
        self.info = msg
        self._drain_before_info(0)

    def _on_synced(self, rgb_msg: Any, depth_msg: Any) -> None:
        """A matched pair. Until the first camera_info, pairs wait for it (up to a sync queue's
        worth): the node's worker runs behind its subscriptions, so it has K by then too."""
        self.synced += 1
        if self.info is None:
            self.before_info.append((rgb_msg, depth_msg))
            self._drain_before_info(self.cfg.node.sync_queue_size)
        else:
            self._on_frame(rgb_msg, depth_msg)

    def _drain_before_info(self, keep: int) -> None:
        while len(self.before_info) > keep:
            self._on_frame(*self.before_info.pop(0))

    # -- one frame -----------------------------------------------------------------------

    def _on_frame(self, rgb_msg: Any, depth_msg: Any) -> None:
        if self.cfg.max_frames is not None and self.report.frames >= self.cfg.max_frames:
            return
        t0 = time.perf_counter()
        frame = self._decode(rgb_msg, depth_msg)
        if frame is None:
            return
        t1 = time.perf_counter()
        seg = self.segmenter.segment(frame.rgb, frame.depth_m)
        timings = {"decode": (t1 - t0) * 1e3, **{k: float(v) for k, v in seg.timings_ms.items()}}
        timings["segment"] = (time.perf_counter() - t1) * 1e3
        if self.writer is not None:
            timings.update(self._write_outputs(frame, seg))
        timings["total"] = sum(v for k, v in timings.items() if k in ("decode", "segment", "outputs"))
        self.report.add_frame(frame.stamp_ns, timings)
        if self._wants_figure(frame.number):
            self.figures[frame.stamp_ns] = (frame.rgb, seg.labels)
        if self.labels is not None:
            self.labels.add_prediction(frame.stamp_ns, seg.labels)
        else:
            self._save_figure(frame.stamp_ns, None)
        if self.progress is not None:
            self.progress.update(1)

    def _decode(self, rgb_msg: Any, depth_msg: Any) -> Frame | None:
        """The frame as arrays, or None after counting why it cannot be used."""
        try:
            rgb = messages.image_to_rgb(rgb_msg)
        except messages.MessageError as err:
            self.report.skip(f"{self.topics.rgb}: {err}")
            return None
        try:
            depth_m = messages.image_to_depth_m(depth_msg, self.cfg.node.depth_scale)
        except messages.MessageError as err:
            self.report.skip(f"{self.topics.depth}: {err}")
            return None
        shape = (int(rgb.shape[0]), int(rgb.shape[1]))
        header = rgb_msg.header
        depth_m, depth_problems = frames.depth_like(depth_m, shape)
        k, k_problems = frames.intrinsics(self.info, shape)
        for found in (*depth_problems, *k_problems):
            self.report.problem(found.problem)
        return Frame(self.report.frames, messages.stamp_to_ns(header.stamp), header, rgb, depth_m, k)

    def _write_outputs(self, frame: Frame, seg: Any) -> dict[str, float]:
        """The node's output messages of one frame, stamped with the input's header."""
        assert self.writer is not None
        node, f, header, stamp, out = (
            self.cfg.node,
            self.factory,
            frame.header,
            frame.stamp_ns,
            self.out_topics,
        )
        t0 = time.perf_counter()
        if not self.classes_written:
            classes_msg = f.new("std_msgs/msg/String", data=self.classes.to_json())
            self.writer.write(out["classes"], classes_msg, stamp, latched=True)
            self.classes_written = True
        for name, msg in outputs.image_messages(f, header, frame.rgb, seg, self.palette, node).items():
            self.writer.write(out[name], msg, stamp)
        t1 = time.perf_counter()
        if frame.K is None:
            return {"write": (t1 - t0) * 1e3, "outputs": (t1 - t0) * 1e3}
        cloud = outputs.cloud_messages(f, header, frame.rgb, frame.depth_m, frame.K, seg, self.classes, node)
        t2 = time.perf_counter()
        for name, msg in cloud.items():
            self.writer.write(out[name], msg, stamp)
        t3 = time.perf_counter()
        return {"points": (t2 - t1) * 1e3, "write": (t1 - t0 + t3 - t2) * 1e3, "outputs": (t3 - t0) * 1e3}

    # -- scoring and figures ---------------------------------------------------------------

    def _score(self, decided: Iterator[tuple[int, Any, Any | None]]) -> None:
        for stamp, prediction, label_msg in decided:
            if label_msg is None:
                self.report.skip("frame without ground truth within slop (not scored)")
                self._save_figure(stamp, None)
                continue
            try:
                target = messages.image_to_labels(label_msg)
            except messages.MessageError as err:
                self.report.skip(f"{self.topics.labels}: {err}")
                continue
            if target.shape != prediction.shape:
                self.report.skip(
                    f"ground truth {target.shape[1]}x{target.shape[0]} != image size (not scored)"
                )
                continue
            assert self.report.confusion is not None
            self.report.confusion.update(prediction, target)
            self.report.scored_frames += 1
            self._save_figure(stamp, target)

    def _wants_figure(self, number: int) -> bool:
        if self.cfg.report_dir is None or number % self.overlay_every:
            return False
        return number // self.overlay_every < self.cfg.overlays

    def _save_figure(self, stamp_ns: int, target: np.ndarray | None) -> None:
        """colour | prediction | ground truth (where known; void uncoloured), blended as the node does."""
        import cv2

        images = self.figures.pop(stamp_ns, None)
        if images is None or self.cfg.report_dir is None:
            return
        rgb, prediction = images
        alpha = self.cfg.node.overlay_alpha
        panels = [rgb, geometry.overlay(rgb, geometry.colorize(prediction, self.palette), alpha)]
        if target is not None:
            truth = geometry.overlay(rgb, geometry.colorize(target, self.palette), alpha)
            truth[target == IGNORE_INDEX] = rgb[target == IGNORE_INDEX]
            panels.append(truth)
        name = f"overlay_{sum(f.startswith('overlay_') for f in self.report.files):02d}.png"
        cv2.imwrite(str(self.cfg.report_dir / name), cv2.cvtColor(np.hstack(panels), cv2.COLOR_RGB2BGR))
        self.report.files.append(name)

    def finish(self) -> None:
        """Process and score what is still pending; count the frames that never synchronised."""
        self._drain_before_info(0)
        if self.labels is not None:
            self._score(self.labels.flush())
        self.report.skip("colour image without depth within slop", self.seen[RGB] - self.synced)
        self.report.skip("depth image without colour within slop", self.seen[DEPTH] - self.synced)


def _window(bag: BagReader, cfg: ReplayConfig) -> tuple[int, int]:
    start = bag.start_ns + round((cfg.start_s or 0.0) * 1e9)
    stop = bag.end_ns if cfg.end_s is None else bag.start_ns + round(cfg.end_s * 1e9)
    if stop <= start:
        duration_s = (bag.end_ns - bag.start_ns) / 1e9
        raise ValueError(
            f"--start {cfg.start_s or 0.0} s / --end {cfg.end_s} s leave no time of a {duration_s:.2f} s bag"
        )
    return start, stop


def replay(
    cfg: ReplayConfig, segmenter: Any, *, stop: threading.Event | None = None, model_name: str | None = None
) -> ReplayReport:
    """Run ``segmenter`` over every synchronised frame of ``cfg.bag``; the report says what it found.

    ``stop`` ends the pass early (Ctrl-C); the output bag is closed and readable either way.
    Raises BagReadError (TopicChoiceError for ambiguous topics) when nothing can be read.
    """
    stop = stop or threading.Event()
    with BagReader(cfg.bag) as bag:
        topics = detect_topics(
            bag, rgb=cfg.rgb_topic, depth=cfg.depth_topic, info=cfg.info_topic, labels=cfg.label_topic
        )
        start_ns, stop_ns = _window(bag, cfg)
        classes: ClassSet = segmenter.classes
        report = ReplayReport(
            bag=str(cfg.bag),
            model=model_name or cfg.node.model,
            backend=_backend_name(segmenter),
            topics=topics._asdict(),
            class_names=classes.names,
            confusion=ConfusionMatrix(len(classes)) if topics.labels else None,
        )
        if bag.is_ros1 and cfg.out is not None:
            report.warn("input topics are not copied from a ROS 1 bag (CDR differs)")
        if cfg.report_dir is not None:
            cfg.report_dir.mkdir(parents=True, exist_ok=True)
        expected = _expected_frames(bag, topics, cfg)
        with ExitStack() as stack:
            writer = stack.enter_context(BagWriter(cfg.out, cfg.out_format)) if cfg.out is not None else None
            run = Replay(cfg, segmenter, topics, report, writer, stop)
            run.overlay_every = max(1, expected // max(1, cfg.overlays))
            run.progress = stack.enter_context(_progress(expected, cfg.progress))
            # camera_info recorded before the window (often latched, sent once) still applies.
            for message in bag.messages([topics.info], bag.start_ns, start_ns):
                run.feed(bag, message, copy=False)
            t0 = time.perf_counter()
            # With an output bag every topic is read, to be copied beside the outputs.
            read = None if writer is not None else [t for t in topics if t is not None]
            for message in bag.messages(read, start_ns, stop_ns):
                if stop.is_set():
                    report.interrupted = True
                    break
                run.feed(bag, message)
                if cfg.max_frames is not None and report.frames >= cfg.max_frames:
                    break
            run.finish()
            report.wall_s = time.perf_counter() - t0
            if writer is not None:
                report.output_bag = str(cfg.out)
        if bag.read_error:
            report.skip("rest of the bag unreadable")
            report.warn(bag.read_error)
        if bag.salvaged:
            report.skip("unfinished MCAP file: whatever followed its last complete record")
            report.warn(bag.salvaged)
    if cfg.report_dir is not None:
        write_report(report, cfg.report_dir)
    return report


def _backend_name(segmenter: Any) -> str:
    backend = getattr(segmenter, "backend", None)
    return str(getattr(backend, "name", type(backend).__name__))


def _expected_frames(bag: BagReader, topics: StreamTopics, cfg: ReplayConfig) -> int:
    """Colour images in the bag (a guess for the window), capped by --max-frames: the bar's total."""
    count = bag.topics()[topics.rgb].msgcount
    if cfg.start_s is not None or cfg.end_s is not None:
        duration = max(1, bag.end_ns - bag.start_ns)
        start, stop = _window(bag, cfg)
        count = round(count * min(1.0, (stop - start) / duration))
    return max(1, min(count, cfg.max_frames or count))


@contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Any]:
    from tqdm import tqdm

    bar = tqdm(
        total=total, unit="frame", desc="replay", disable=not enabled, file=sys.stderr, dynamic_ncols=True
    )
    try:
        yield bar
    finally:
        bar.close()


@contextmanager
def _interrupt_sets(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C sets ``stop`` instead of raising mid-write, so the output bag is closed cleanly."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# -- command line ------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", type=Path, help="rosbag2 directory, .mcap, .db3 or ROS 1 .bag")
    topics = parser.add_argument_group("topics (detected from message types and encodings when omitted)")
    topics.add_argument(
        "--rgb-topic", help="colour image (rgb8, bgr8, rgba8, bgra8; mono8 only when named here)"
    )
    topics.add_argument("--depth-topic", help="depth image (16UC1/mono16 in --depth-scale units, 32FC1 m)")
    topics.add_argument("--info-topic", help="camera_info of the colour camera")
    topics.add_argument("--label-topic", help="ground-truth labels (mono8/mono16, 255 = ignore)")
    parser.add_argument("--model", default="default", help="model file or shipped name (default: default)")
    parser.add_argument("--backend", choices=[k.value for k in BackendKind], default=Settings.backend)
    parser.add_argument("--precision", choices=[p.value for p in Precision], default=Settings.precision)
    parser.add_argument(
        "--slop",
        type=float,
        default=Settings.sync_slop,
        help="sync tolerance in seconds (the node's sync.slop)",
    )
    parser.add_argument(
        "--queue-size", type=int, default=Settings.sync_queue_size, help="sync queue per input"
    )
    parser.add_argument(
        "--depth-scale", type=float, default=Settings.depth_scale, help="metres per 16UC1 unit (node default)"
    )
    parser.add_argument("--start", type=float, help="seconds from the bag's start")
    parser.add_argument("--end", type=float, help="seconds from the bag's start")
    parser.add_argument("--max-frames", type=int, help="stop after this many frames")
    parser.add_argument("--out", type=Path, help="write the node's outputs and the inputs to this new bag")
    parser.add_argument("--out-format", choices=[f.value for f in BagFormat], default="mcap")
    parser.add_argument("--namespace", help="of the output topics (default: first level of the colour topic)")
    parser.add_argument("--report", type=Path, help="folder for report.json, report.md and figures")
    parser.add_argument("--json", action="store_true", help="print the report as JSON on stdout")


def _config(args: argparse.Namespace) -> ReplayConfig:
    for name in ("slop", "queue_size", "max_frames", "depth_scale"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be > 0, got {value}")
    return ReplayConfig(
        bag=args.bag,
        rgb_topic=args.rgb_topic,
        depth_topic=args.depth_topic,
        info_topic=args.info_topic,
        label_topic=args.label_topic,
        start_s=args.start,
        end_s=args.end,
        max_frames=args.max_frames,
        out=args.out,
        out_format=BagFormat(args.out_format),
        namespace=args.namespace,
        report_dir=args.report,
        progress=not args.json and sys.stderr.isatty(),
        node=Settings(
            model=args.model,
            backend=args.backend,
            precision=args.precision,
            sync_queue_size=args.queue_size,
            sync_slop=args.slop,
            depth_scale=args.depth_scale,
        ),
    )


def run(args: argparse.Namespace) -> int:
    """Exit status: 0 done, 1 unreadable bag or nothing processed, 2 usage (bad option, ambiguous topic)."""
    from asymfusion_ros.inference.pipeline import Segmenter
    from asymfusion_ros.resources import ResourceError, resolve_model

    def fail(status: int, message: str) -> int:
        print(f"replay: {message}", file=sys.stderr)
        return status

    try:
        cfg = _config(args)
    except ValueError as err:
        return fail(2, str(err))
    if cfg.out is not None and cfg.out.exists():
        return fail(2, f"{cfg.out} exists already, not overwriting")
    try:
        model_path = resolve_model(cfg.node.model)
        segmenter = Segmenter.from_path(model_path, backend=cfg.node.backend, precision=cfg.node.precision)
    except ResourceError as err:
        return fail(2, str(err))
    except Exception as err:  # BackendError and what a broken model file raises: one line, no traceback
        return fail(1, f"cannot load model {cfg.node.model}: {err}")
    stop = threading.Event()
    try:
        with _interrupt_sets(stop):
            report = replay(cfg, segmenter, stop=stop, model_name=model_path.name)
    except TopicChoiceError as err:
        return fail(2, str(err))
    except BagReadError as err:
        return fail(1, str(err))
    except ValueError as err:
        return fail(2, str(err))
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print("\n".join(summary_lines(report)))
    if report.frames == 0:
        return fail(1, "no frame could be processed (see the skipped counts)")
    return 130 if report.interrupted else 0
