"""``asymfusion replay BAG_OR_DIR ...``: the command line of ``replay.runner`` and, for many
bags, of ``replay.fleet`` (options, exit status).

Exit status: 0 done (130 after Ctrl-C); 1 a failure, said in one line (a bag that cannot be
read or lacks a stream, a model that does not load, inference failing, no frame processed;
any path given not done, i.e. failed, partial (a bag given alone too: read only in part),
not a bag or an empty folder; Ray missing, unreachable or not on loopback); 2 a usage
error (a bad option value, an unknown model name, the same model given twice, an ambiguous
topic or one named that the bag lacks, an ``--out`` that exists). Models are all loaded
before anything is written. Several ``--model``: every model on every frame, one comparison
report (``replay.comparison``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asymfusion_ros.bags import BagFormat, BagReadError, TopicChoiceError
from asymfusion_ros.inference.base import BackendKind, Precision
from asymfusion_ros.inference.errors import BackendError
from asymfusion_ros.registration import DepthRegistration
from asymfusion_ros.replay.comparison import run_names
from asymfusion_ros.replay.comparison import summary_lines as comparison_lines
from asymfusion_ros.replay.fleet import FleetProgress, NoBag, find_bags, not_replayed, plan, run_fleet
from asymfusion_ros.replay.fleet_ray import RayUnavailableError
from asymfusion_ros.replay.fleet_report import (
    FleetModel,
    fleet_comparison,
    model_fleet_report,
    status_lines,
    with_bags,
)
from asymfusion_ros.replay.report import summary_lines
from asymfusion_ros.replay.runner import NamedSegmenter, ReplayConfig, ReplayOptionError, replay_models
from asymfusion_ros.replay.task import BagResult, BagStatus, BagTask, ModelSpec, replayed
from asymfusion_ros.ros.messages import CAMERA_INFO_SLACK
from asymfusion_ros.ros.params import Settings

if TYPE_CHECKING:
    from asymfusion_ros.inference.pipeline import Segmenter

STOPPED = (BagStatus.DONE, BagStatus.INTERRUPTED, BagStatus.NOT_RUN)
"""A bag's status that is not a failure: done, or stopped by Ctrl-C (the run exits 130)."""


# Example command lines, shown at the end of this subcommand's --help (cli/__init__.py).
EXAMPLES: tuple[str, ...] = (
    "asymfusion replay my_bag --report replay_report --out replay_out",
    "asymfusion replay bags/ --jobs 2 --model default --model my_model.onnx --report compare_report",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "bag",
        type=Path,
        nargs="+",
        metavar="BAG_OR_DIR",
        help="rosbag2 directory, .mcap, .db3 or ROS 1 .bag, or a folder of them (many bags: one report)",
    )
    topics = parser.add_argument_group("topics (detected from message types and encodings when omitted)")
    topics.add_argument(
        "--rgb-topic",
        help="colour image (rgb8, bgr8, rgba8, bgra8; mono8 only when named here), or its .../compressed",
    )
    topics.add_argument(
        "--depth-topic",
        help="depth image (16UC1/mono16 in --depth-scale units, 32FC1 m), or its .../compressedDepth",
    )
    topics.add_argument("--info-topic", help="camera_info of the colour camera")
    topics.add_argument("--label-topic", help="ground-truth labels (mono8/mono16, 255 = ignore)")
    parser.add_argument(
        "--model",
        action="append",
        help="model file or shipped name (default: default); repeat it to compare models on the same "
        "frames: one report with a row per model and their agreement",
    )
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
    parser.add_argument(
        "--depth-registration",
        choices=[m.value for m in DepthRegistration],
        default=Settings.depth_registration,
        help="depth of another camera: auto registers it (bag's /tf_static), off refuses it, "
        "assume_registered resizes it unchecked (the node's depth_registration)",
    )
    parser.add_argument(
        "--max-input-pixels",
        type=int,
        default=Settings.max_input_pixels,
        help="decode budget: a frame whose header claims more pixels (or more than "
        f"{CAMERA_INFO_SLACK}x its "
        "camera_info's) is skipped undecoded as oversized_input (the node's max_input_pixels; "
        f"default {Settings.max_input_pixels})",
    )
    parser.add_argument("--start", type=float, help="seconds from the bag's start")
    parser.add_argument("--end", type=float, help="seconds from the bag's start")
    parser.add_argument("--max-frames", type=int, help="stop after this many frames")
    parser.add_argument("--out", type=Path, help="write the node's outputs and the inputs to this new bag")
    parser.add_argument("--out-format", choices=[f.value for f in BagFormat], default="mcap")
    parser.add_argument("--namespace", help="of the output topics (default: first level of the colour topic)")
    parser.add_argument("--report", type=Path, help="folder for report.json, report.md and figures")
    parser.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    fleet = parser.add_argument_group("many bags")
    fleet.add_argument(
        "--jobs", type=int, help="worker processes, each loading the model once (default 1; --ray: its CPUs)"
    )
    fleet.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="run the bags as Ray tasks: on a Ray started for the run (loopback), or on a cluster "
        "(auto, ray://HOST:PORT; bags and --report on shared paths); put it after the bags",
    )


def _config(args: argparse.Namespace) -> ReplayConfig:
    for name in ("slop", "queue_size", "max_frames", "depth_scale", "jobs", "max_input_pixels"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise ReplayOptionError(f"--{name.replace('_', '-')} must be > 0, got {value}")
    return ReplayConfig(
        bag=args.bag[0],
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
            model=(args.model or ["default"])[0],
            backend=args.backend,
            precision=args.precision,
            sync_queue_size=args.queue_size,
            sync_slop=args.slop,
            depth_scale=args.depth_scale,
            depth_registration=args.depth_registration,
            max_input_pixels=args.max_input_pixels,
        ),
    )


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


def _fail(status: int, message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return status


def run(args: argparse.Namespace) -> int:
    """The exit status of the module docstring."""
    try:
        cfg = _config(args)
    except ReplayOptionError as err:
        return _fail(2, str(err))
    if args.ray and Path(args.ray).exists():
        return _fail(2, f"--ray took {args.ray} for its address: put the bags first, or write --ray=ADDRESS")
    if cfg.out is not None and cfg.out.exists():
        return _fail(2, f"{cfg.out} exists already, not overwriting")
    given = args.model or [cfg.node.model]
    try:
        models, files = _model_specs(given, cfg.node)
    except _UsageError as err:
        return _fail(2, str(err))
    segmenters = []
    for name, model in zip(given, models, strict=True):
        try:
            segmenters.append(model.load())
        except BackendError as err:
            return _fail(1, f"cannot load model {name}: {err}")
    bags, others = find_bags(args.bag)
    if args.ray is not None or len(args.bag) > 1 or bags != args.bag:  # else one bag, replayed as ever
        return _run_many(args, cfg, bags, others, models, segmenters)
    names = run_names([m.path for m in models])
    named = [NamedSegmenter(*model) for model in zip(names, files, segmenters, strict=True)]
    stop = threading.Event()
    try:
        with _interrupt_sets(stop):
            comparison = replay_models(cfg, named, stop=stop)
    except (TopicChoiceError, ReplayOptionError) as err:
        return _fail(2, str(err))
    except BagReadError as err:
        return _fail(1, str(err))
    except BackendError as err:
        return _fail(1, f"inference failed: {err}")
    report, result = comparison.reports[0], replayed(BagTask(0, cfg.bag.name, cfg), comparison)
    data = with_bags(comparison.to_json() if len(models) > 1 else report.to_json(), [result], None)
    if cfg.report_dir is not None:  # its report.json, written by the replay, with the bag's status
        (cfg.report_dir / "report.json").write_text(json.dumps(data, indent=2) + "\n")
    lines = comparison_lines(data) if len(models) > 1 else summary_lines(report)
    return _finish(args, data, lines, [result])


def _finish(
    args: argparse.Namespace, data: dict[str, Any], lines: list[str], results: list[BagResult]
) -> int:
    """Print the report (the summary and every path's status, or the JSON); the exit status."""
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print("\n".join([*lines, *status_lines(results)]))
    if data["frames"] == 0:
        return _fail(1, "no frame could be processed (see the skipped counts)")
    if not_done := Counter(r.status.value for r in results if r.status not in STOPPED):
        counts = ", ".join(f"{n} {status}" for status, n in sorted(not_done.items()))
        return _fail(1, f"{not_done.total()} of {len(results)} paths not done ({counts}; see the list)")
    return 130 if data["interrupted"] else 0


class _UsageError(ValueError):
    """A --model that names no model, or the same model as another."""


def _model_specs(given: list[str], node: Settings) -> tuple[list[ModelSpec], list[str]]:
    """The models as every worker loads them (each resolved to its file, none twice), and the
    names of their files as the reports give them."""
    from asymfusion_ros.resources import ResourceError, resolve_model

    seen: dict[str, str] = {}
    specs, files = [], []
    for name in given:
        try:
            found = resolve_model(name)
        except ResourceError as err:
            raise _UsageError(str(err)) from err
        path = str(found.resolve())
        if path in seen:
            raise _UsageError(f"--model {seen[path]} and --model {name} are the same model ({path})")
        seen[path] = name
        specs.append(ModelSpec(path, node.backend, node.precision))
        files.append(found.name)
    return specs, files


def _run_many(
    args: argparse.Namespace,
    cfg: ReplayConfig,
    bags: list[Path],
    others: list[NoBag],
    models: list[ModelSpec],
    segmenters: list[Segmenter],
) -> int:
    """Every bag through ``replay.fleet``; one aggregate report, every path given in it, worst first."""
    if not bags:
        why = "; ".join(f"{other.path}: {other.status.value} ({other.reason})" for other in others)
        return _fail(1, f"no bag to replay: {why}")
    cores = os.cpu_count() or 1
    use_ray = args.ray is not None
    jobs = args.jobs or (cores if use_ray else 1)
    # Workers share the cores: a Ray task has one CPU, a worker process its share.
    threads = 1 if use_ray else (max(1, cores // jobs) if jobs > 1 else None)
    if cfg.out is not None:
        cfg.out.mkdir(parents=True)
    names, compare = run_names([m.path for m in models]), len(models) > 1
    tasks = plan(cfg, bags, names if compare else ())
    stop = threading.Event()
    progress = FleetProgress(tasks, stop, cfg.progress)
    try:
        with _interrupt_sets(stop):
            results, wall_s = run_fleet(
                tasks, tuple(dataclasses.replace(m, threads=threads) for m in models), progress,
                jobs=jobs, use_ray=use_ray, ray_address=args.ray or None,
            )  # fmt: skip
    except RayUnavailableError as err:
        return _fail(1, str(err))
    finally:
        progress.close()
    results += not_replayed(cfg, others, len(tasks))
    fleet_models = [
        FleetModel(name, Path(m.path).name, m.backend, s.classes.names)
        for name, m, s in zip(names, models, segmenters, strict=True)
    ]
    if compare:
        data = fleet_comparison(results, fleet_models, wall_s, cfg.report_dir, cfg.overlays)
        lines = comparison_lines(data)
    else:
        total, data = model_fleet_report(results, fleet_models[0], wall_s, cfg.report_dir, cfg.overlays)
        lines = summary_lines(total)
    return _finish(args, data, lines, results)
