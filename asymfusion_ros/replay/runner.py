"""``asymfusion replay BAG``: every frame of a recording through the node's own pipeline.

A live ``ros2 bag play`` drops frames whenever inference is slower than the camera; this
does not. Messages are read in recording order with ``rosbags`` (no ROS install), paired
by the node's approximate-time synchroniser (``ros/sync.py``) and run through the node's
own per-frame sequence (``ros/frame_pipeline.py``: decode, depth and K checks, Segmenter,
output messages); so an offline score is the score of what the robot would run, and the
output bag holds what the node would publish. This module adds reading, writing, scoring.

Outputs: scores against a ground-truth label topic, per-stage latency, a report folder,
and optionally a bag with the node's output topics beside the inputs for RViz/Foxglove.
Several models (``replay_models``) each get all of that, on frames decoded once, and are
compared (``replay.comparison``).
"""

from __future__ import annotations

import functools
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
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
    detect_topics,
    typestore,
)
from asymfusion_ros.bags.topics import TF_STATIC, raw_preferred
from asymfusion_ros.classes import IGNORE_INDEX, ClassSet
from asymfusion_ros.metrics import ConfusionMatrix
from asymfusion_ros.replay.agreement import LabelAgreement
from asymfusion_ros.replay.comparison import (
    MODELS_DIR,
    Comparison,
    relative_folder,
    write_comparison,
)
from asymfusion_ros.replay.labels import LabelMatcher
from asymfusion_ros.replay.report import ReplayReport, write_report
from asymfusion_ros.replay.worst import WorstFrames
from asymfusion_ros.ros import messages
from asymfusion_ros.ros.depth_input import DepthCamera, extrinsic_from_pose
from asymfusion_ros.ros.frame_pipeline import (
    OUTPUTS,
    FrameInputs,
    FramePipeline,
    InputError,
    ProcessedFrame,
    read_inputs,
)
from asymfusion_ros.ros.params import Settings
from asymfusion_ros.ros.sync import DEPTH, RGB, ApproximateTimeSync
from asymfusion_ros.ros.transforms import TransformError, TransformTree

OUTPUT_TOPICS = (*OUTPUTS, "classes")
"""The node's outputs under ``<namespace>/segmentation/``."""
TOTAL_STAGES = ("decompress", "decode", "register", "segment", "outputs")
"""The stages that add up to a frame's ``total`` (none holds another)."""


class ReplayOptionError(ValueError):
    """An option that does not fit the bag (a window outside it): a usage error."""


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
    worst_overlays: int = 0
    """With a report folder and ground truth: also draw the frames of lowest mIoU (``worst_NN.png``)."""
    model_report_dirs: tuple[Path, ...] = ()
    """Comparing models: each one's report folder, in their order (default ``report_dir/models/NAME``)."""
    progress: bool = True
    node: Settings = field(default_factory=Settings)
    """The node's parameters (ros/params.py): model, backend, sync, depth scale, cloud, overlay."""


def output_namespace(rgb_topic: str) -> str:
    """The node's namespace for a camera: the first level of the colour topic (``/camera``)."""
    parts = rgb_topic.strip("/").split("/")
    return f"/{parts[0]}" if len(parts) > 1 else ""


class NamedSegmenter(NamedTuple):
    """A model of a replay."""

    name: str
    """Unique in the run: comparing models, its output topics' prefix and its report folder."""
    file: str
    """What its report calls it (its file's name)."""
    segmenter: Any


@dataclass
class _Model:
    """One model's share of a pass: its pipeline, report, report folder and output topics."""

    pipeline: FramePipeline
    report: ReplayReport
    report_dir: Path | None
    out_topics: dict[str, str]
    worst: WorstFrames | None
    classes_written: bool = False


class Replay:
    """One pass over a bag; callbacks of the synchroniser do the per-frame work.

    Each frame is decoded once and segmented by every model; events of the frame or the bag
    (skips, warnings, problems) go to every model's report, so each reads as if it ran alone.
    """

    def __init__(
        self,
        cfg: ReplayConfig,
        models: list[_Model],
        topics: StreamTopics,
        writer: BagWriter | None,
        stop: threading.Event,
        agreement: LabelAgreement | None = None,
    ) -> None:
        self.cfg = cfg
        self.models = models
        self.report = models[0].report  # the counts every model's report shares
        self.agreement = agreement
        self.topics = topics
        self.writer = writer
        self.stop = stop
        self.sync = ApproximateTimeSync(2, cfg.node.sync_queue_size, cfg.node.sync_slop, self._on_synced)
        self.labels = LabelMatcher(round(cfg.node.sync_slop * 1e9)) if topics.labels else None
        self.wants = OUTPUTS if writer is not None else ()
        self.info: Any = None  # the latest camera_info, as the node keeps it
        self.depth_info: Any = None  # the depth camera's, for depth that needs registering
        self.tf_static = TransformTree()  # filled from the whole bag's /tf_static before the pass
        self.not_copied: set[str] = set()  # ROS 1 topics that cannot be copied (said once)
        self.before_info: list[tuple[Any, Any]] = []  # frames synchronised before the first camera_info
        self.seen = {RGB: 0, DEPTH: 0}
        self.synced = 0
        self.overlay_every = 1
        # stamp -> rgb, each model's labels, overlay?
        self.figures: dict[int, tuple[np.ndarray, tuple[np.ndarray, ...], bool]] = {}
        self.progress: Any = None

    def skip(self, reason: str, count: int = 1) -> None:
        """Count frames not processed, in every model's report."""
        for model in self.models:
            model.report.skip(reason, count)

    def warn(self, message: str) -> None:
        """A warning about the bag, in every model's report."""
        for model in self.models:
            model.report.warn(message)

    # -- reading -------------------------------------------------------------------------

    def feed(self, bag: BagReader, message: BagMessage, *, copy: bool = True) -> None:
        """One recorded message: camera_info updates K, images go to the synchroniser.

        ``copy``: also copy it to the output bag (not for camera_info read before the window).
        """
        topic = message.topic
        if copy and self.writer is not None:
            self._copy(bag, message)
        if topic not in self.topics:
            return
        try:
            msg = bag.deserialize(message)
        except BagReadError as err:
            self.skip(f"{topic}: undecodable message")
            self.warn(str(err))
            return
        if topic == self.topics.info:
            self._on_info(msg)
        elif topic == self.topics.depth_info:
            self.depth_info = msg
        elif topic == self.topics.labels and self.labels is not None:
            self.labels.add_label(messages.stamp_to_ns(msg.header.stamp), msg)
        else:
            index = RGB if topic == self.topics.rgb else DEPTH
            self.seen[index] += 1
            self.sync.add(index, messages.stamp_to_ns(msg.header.stamp), msg)
        if self.labels is not None:
            self._score(self.labels.ready(message.log_ns))

    def _copy(self, bag: BagReader, message: BagMessage) -> None:
        """Copy an input to the output bag: its CDR as recorded, or a ROS 1 message converted."""
        assert self.writer is not None
        if not bag.is_ros1:
            self.writer.copy(message, bag.reader.typestore)
            return
        if message.topic in self.not_copied:
            return
        try:
            self.writer.write(message.topic, bag.as_ros2(message), message.log_ns)
        except BagReadError as err:
            self.not_copied.add(message.topic)
            self.warn(f"{message.topic} not copied to the output bag: {err}")

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
        number = self.report.frames
        try:
            inputs = read_inputs(
                rgb_msg, depth_msg, self.info, self.cfg.node, read_k=True, depth_camera=self._depth_camera()
            )
        except InputError as err:  # the reason names the node's diagnostics key (e.g. oversized_input)
            topic = self.topics.rgb if err.index == RGB else self.topics.depth
            self.skip(f"{topic}: {err.problem.value}: {err}")
            return
        labels = tuple(self._segment(model, inputs) for model in self.models)
        if self.agreement is not None:
            self.agreement.update(labels)
        if self._wants_figure(number) or self.models[0].worst is not None:
            self.figures[inputs.stamp_ns] = (inputs.rgb, labels, self._wants_figure(number))
        if self.labels is not None:
            self.labels.add_prediction(inputs.stamp_ns, labels)
        else:
            self._save_figure(inputs.stamp_ns, None)
        if self.progress is not None:
            self.progress.update(1)

    def _segment(self, model: _Model, inputs: FrameInputs) -> np.ndarray:
        """One model's part of a frame: segment, write its outputs, count; its labels."""
        frame = model.pipeline.complete(inputs, self.cfg.node, self.wants)
        for found in frame.problems:
            model.report.problem(found.problem)
        timings = dict(frame.timings_ms)
        if self.writer is not None:
            timings.update(self._write_outputs(model, frame))
        timings["total"] = sum(v for k, v in timings.items() if k in TOTAL_STAGES)
        model.report.add_frame(frame.stamp_ns, timings)
        return frame.segmentation.labels

    def _depth_camera(self) -> DepthCamera:
        """The depth camera_info and the extrinsic (the bag's /tf_static, or the node's parameter)."""
        node = self.cfg.node
        if node.extrinsic_source == "parameter":
            return DepthCamera(self.depth_info, extrinsic_from_pose(node.extrinsic_depth_to_colour))
        return DepthCamera(self.depth_info, self.tf_static.lookup)

    def _write_outputs(self, model: _Model, frame: ProcessedFrame) -> dict[str, float]:
        """Write the frame's output messages (the classes once, latched); ``outputs``: built + written."""
        assert self.writer is not None
        t0 = time.perf_counter()
        if not model.classes_written:
            classes = model.pipeline.classes.to_json()
            classes_msg = model.pipeline.factory.new("std_msgs/msg/String", data=classes)
            self.writer.write(model.out_topics["classes"], classes_msg, frame.stamp_ns, latched=True)
            model.classes_written = True
        for name, msg in frame.messages.items():
            self.writer.write(model.out_topics[name], msg, frame.stamp_ns)
        write_ms = (time.perf_counter() - t0) * 1e3
        built_ms = frame.timings_ms.get("images", 0.0) + frame.timings_ms.get("points", 0.0)
        return {"write": write_ms, "outputs": built_ms + write_ms}

    # -- scoring and figures ---------------------------------------------------------------

    def _score(self, decided: Iterator[tuple[int, Any, Any | None]]) -> None:
        for stamp, predictions, label_msg in decided:
            if label_msg is None:
                self.skip("frame without ground truth within slop (not scored)")
                self._save_figure(stamp, None)
                continue
            try:
                target = messages.image_to_labels(label_msg)
            except messages.MessageError as err:
                self.skip(f"{self.topics.labels}: {err}")
                self.figures.pop(stamp, None)
                continue
            if target.shape != predictions[0].shape:
                self.skip(f"ground truth {target.shape[1]}x{target.shape[0]} != image size (not scored)")
                self.figures.pop(stamp, None)
                continue
            for model, prediction in zip(self.models, predictions, strict=True):
                assert model.report.confusion is not None
                model.report.confusion.update(prediction, target)
                model.report.scored_frames += 1
            self._save_figure(stamp, target)

    def _wants_figure(self, number: int) -> bool:
        if self.models[0].report_dir is None or number % self.overlay_every:
            return False
        return number // self.overlay_every < self.cfg.overlays

    def _save_figure(self, stamp_ns: int, target: np.ndarray | None) -> None:
        """colour | prediction | ground truth (where known; void uncoloured), blended as the node
        does; one figure per model, in its report folder."""
        import cv2

        images = self.figures.pop(stamp_ns, None)
        if images is None:
            return
        rgb, predictions, wanted = images
        for model, prediction in zip(self.models, predictions, strict=True):
            if model.report_dir is None:
                continue
            palette = model.pipeline.palette
            if model.worst is not None and target is not None:
                figure = functools.partial(self._panels, rgb, prediction, target, palette)
                model.worst.offer(stamp_ns, prediction, target, figure)
            if not wanted:
                continue
            name = f"overlay_{sum(f.startswith('overlay_') for f in model.report.files):02d}.png"
            panels = self._panels(rgb, prediction, target, palette)
            cv2.imwrite(str(model.report_dir / name), cv2.cvtColor(panels, cv2.COLOR_RGB2BGR))
            model.report.files.append(name)

    def _panels(
        self, rgb: np.ndarray, prediction: np.ndarray, target: np.ndarray | None, palette: np.ndarray
    ) -> np.ndarray:
        alpha = self.cfg.node.overlay_alpha
        panels = [rgb, geometry.overlay(rgb, geometry.colorize(prediction, palette), alpha)]
        if target is not None:
            truth = geometry.overlay(rgb, geometry.colorize(target, palette), alpha)
            truth[target == IGNORE_INDEX] = rgb[target == IGNORE_INDEX]
            panels.append(truth)
        return np.hstack(panels)

    def finish(self) -> None:
        """Process and score what is still pending; count the frames that never synchronised."""
        self._drain_before_info(0)
        if self.labels is not None:
            self._score(self.labels.flush())
        self.skip("colour image without depth within slop", self.seen[RGB] - self.synced)
        self.skip("depth image without colour within slop", self.seen[DEPTH] - self.synced)
        for model in self.models:
            if model.worst is not None and model.report_dir is not None:
                model.report.worst_frames = model.worst.write(model.report_dir)
                model.report.files.extend(worst.file for worst in model.report.worst_frames)


def _window(bag: BagReader, cfg: ReplayConfig) -> tuple[int, int]:
    start = bag.start_ns + round((cfg.start_s or 0.0) * 1e9)
    stop = bag.end_ns if cfg.end_s is None else bag.start_ns + round(cfg.end_s * 1e9)
    if stop <= start:
        duration_s = (bag.end_ns - bag.start_ns) / 1e9
        raise ReplayOptionError(
            f"--start {cfg.start_s or 0.0} s / --end {cfg.end_s} s leave no time of a {duration_s:.2f} s bag"
        )
    return start, stop


ProgressBar = Callable[[int], AbstractContextManager[Any]]
"""Given the frames expected, a context giving an object whose ``update(n)`` counts frames done."""


def replay(
    cfg: ReplayConfig,
    segmenter: Any,
    *,
    stop: threading.Event | None = None,
    model_name: str | None = None,
    progress: ProgressBar | None = None,
) -> ReplayReport:
    """Run ``segmenter`` over every synchronised frame of ``cfg.bag``; the report says what it found.

    ``stop`` ends the pass early (Ctrl-C); the output bag is closed and readable either way.
    ``progress`` replaces the terminal's bar (a fleet run counts every bag's frames on one).
    Raises BagReadError when nothing can be read (TopicChoiceError: an ambiguous topic, or one
    named in ``cfg`` that the bag lacks), ReplayOptionError for a window outside the bag,
    BackendError when inference fails.
    """
    model = NamedSegmenter("", model_name or cfg.node.model, segmenter)
    return replay_models(cfg, [model], stop=stop, progress=progress).reports[0]


def replay_models(
    cfg: ReplayConfig,
    models: Sequence[NamedSegmenter],
    *,
    stop: threading.Event | None = None,
    progress: ProgressBar | None = None,
) -> Comparison:
    """:func:`replay` with every model on every frame, each frame decoded once.

    One model: its report, written to ``cfg.report_dir`` and its outputs under the camera's
    namespace, as :func:`replay`. Several: each one's report in its own folder
    (``cfg.model_report_dirs``, or ``cfg.report_dir/models/NAME``), its outputs under
    ``<namespace>/NAME/segmentation/``, and the comparison report in ``cfg.report_dir``.
    """
    stop = stop or threading.Event()
    compare = len(models) > 1
    with BagReader(cfg.bag) as bag:
        topics = detect_topics(
            bag, rgb=cfg.rgb_topic, depth=cfg.depth_topic, info=cfg.info_topic, labels=cfg.label_topic
        )
        start_ns, stop_ns = _window(bag, cfg)
        passes = [_model_pass(cfg, topics, model, i, compare) for i, model in enumerate(models)]
        agreement = LabelAgreement([m.name for m in models], [p.pipeline.classes.names for p in passes])
        for copy, raw in raw_preferred(bag.topics()).items():
            if raw in (topics.rgb, topics.depth):
                for model_pass in passes:
                    model_pass.report.warn(f"{copy} not read: the bag holds the same stream raw on {raw}")
        expected = expected_frames(bag, topics, cfg)
        with ExitStack() as stack:
            writer = stack.enter_context(BagWriter(cfg.out, cfg.out_format)) if cfg.out is not None else None
            run = Replay(cfg, passes, topics, writer, stop, agreement if compare else None)
            run.overlay_every = max(1, expected // max(1, cfg.overlays))
            bar = progress(expected) if progress is not None else _progress(expected, cfg.progress)
            run.progress = stack.enter_context(bar)
            _read_tf_static(bag, run)
            # camera_info recorded before the window (often latched, sent once) still applies.
            for message in bag.messages([topics.info], bag.start_ns, start_ns):
                run.feed(bag, message, copy=False)
            t0 = time.perf_counter()
            # With an output bag every topic is read, to be copied beside the outputs.
            read = None if writer is not None else [t for t in topics if t is not None]
            interrupted = False
            for message in bag.messages(read, start_ns, stop_ns):
                if stop.is_set():
                    interrupted = True
                    break
                run.feed(bag, message)
                if cfg.max_frames is not None and run.report.frames >= cfg.max_frames:
                    break
            run.finish()
            wall_s = time.perf_counter() - t0
        if bag.read_error:
            run.skip("rest of the bag unreadable")
            run.warn(bag.read_error)
        if bag.salvaged:
            run.skip("unfinished MCAP file: whatever followed its last complete record")
            run.warn(bag.salvaged)
        unread = bag.read_error or bag.salvaged
    for model_pass in passes:
        model_pass.report.interrupted, model_pass.report.wall_s = interrupted, wall_s
        model_pass.report.unread = unread
        model_pass.report.output_bag = str(cfg.out) if cfg.out is not None else None
        if model_pass.report_dir is not None:
            write_report(model_pass.report, model_pass.report_dir)
    folders = [relative_folder(p.report_dir, cfg.report_dir) for p in passes]
    comparison = Comparison([p.report for p in passes], agreement, folders)
    if compare and cfg.report_dir is not None:
        write_comparison(comparison.to_json(), cfg.report_dir)
    return comparison


def _model_pass(
    cfg: ReplayConfig, topics: StreamTopics, model: NamedSegmenter, index: int, compare: bool
) -> _Model:
    """One model's pipeline, empty report, report folder (made) and output topics."""
    classes: ClassSet = model.segmenter.classes
    report = ReplayReport(
        bag=str(cfg.bag),
        model=model.file,
        backend=_backend_name(model.segmenter),
        topics=topics._asdict(),
        class_names=classes.names,
        confusion=ConfusionMatrix(len(classes)) if topics.labels else None,
    )
    report_dir = cfg.report_dir
    if compare and cfg.model_report_dirs:
        report_dir = cfg.model_report_dirs[index]
    elif compare and cfg.report_dir is not None:
        report_dir = cfg.report_dir / MODELS_DIR / model.name
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
    ns = output_namespace(topics.rgb) if cfg.namespace is None else cfg.namespace.rstrip("/")
    ns = f"{ns}/{model.name}" if compare else ns
    wants_worst = report_dir is not None and cfg.worst_overlays > 0 and topics.labels is not None
    return _Model(
        pipeline=FramePipeline(model.segmenter, messages.rosbags_factory(typestore())),
        report=report,
        report_dir=report_dir,
        out_topics={name: f"{ns}/segmentation/{name}" for name in OUTPUT_TOPICS},
        worst=WorstFrames(cfg.worst_overlays, len(classes)) if wants_worst else None,
    )


def _read_tf_static(bag: BagReader, run: Replay) -> None:
    """Every static transform of the bag (drivers latch them once, often before the window)."""
    if TF_STATIC not in bag.topics():
        return
    for message in bag.messages([TF_STATIC]):
        try:
            for stamped in bag.deserialize(message).transforms:
                run.tf_static.add(stamped)
        except (BagReadError, TransformError) as err:
            run.warn(f"{TF_STATIC}: {err}")


def _backend_name(segmenter: Any) -> str:
    backend = getattr(segmenter, "backend", None)
    return str(getattr(backend, "name", type(backend).__name__))


def expected_frames(bag: BagReader, topics: StreamTopics, cfg: ReplayConfig) -> int:
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
