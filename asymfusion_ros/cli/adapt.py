"""``asymfusion adapt MODEL.pt --data SOURCE -o ADAPTED.pt``: fit a model's BatchNorm to a camera.

Frames come from a rosbag (raw or compressed topics), an ``rgb/ depth/`` folder or a dataset
spec, labels unused, read by cli/frame_sources.py as INT8 calibration reads them, and fitted
to the network input as the Segmenter fits camera frames (inference/letterbox.py). The maths
is training/adapt.py; the checkpoint records what it was adapted on and ``--export`` carries
that into the bundle's metadata. Both files are made in a temporary folder and moved into place
only when everything passed, so a failure writes nothing. Exit status: 0 written, 1 the model
or the frames cannot be used, 2 a usage error.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

from asymfusion_ros.cli.args import add_depth_scale_argument
from asymfusion_ros.cli.frame_sources import camera_frames
from asymfusion_ros.resources import ResourceError, resolve_model

EXAMPLES: tuple[str, ...] = (
    "asymfusion adapt default --data robot_camera.mcap --every 15 -o adapted.pt --export adapted.onnx",
    "asymfusion adapt default --data 'nyudv2:/data/nyu_frames?depth_scale=5000' -o adapted.pt",
)

DEFAULT_FRAMES = 64
DEFAULT_METHOD = "adabn"
DEFAULT_MIX = 0.75
"""Measured best on real frames (docs/adapt.md): the trained statistics steady an estimate from few frames."""
DEFAULT_STEPS = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a .pt checkpoint, or 'default' (the shipped one)")
    parser.add_argument(
        "--data",
        required=True,
        help="unlabeled frames from the camera to adapt to: a rosbag, a folder of rgb/ + depth/ images, "
        "or a dataset spec such as 'nyudv2:PATH?depth_scale=5000' (labels are ignored)",
    )
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="the adapted .pt checkpoint to write"
    )
    parser.add_argument(
        "--frames",
        type=int,
        default=DEFAULT_FRAMES,
        help=f"use at most this many frames (default {DEFAULT_FRAMES})",
    )
    parser.add_argument(
        "--every",
        type=int,
        default=1,
        help="take every K-th frame of the source (a 30 Hz bag: --every 15 spreads 64 frames over 32 s)",
    )
    parser.add_argument(
        "--mix",
        type=float,
        default=DEFAULT_MIX,
        help=f"weight of the new statistics against the trained: 1 replaces, 0 keeps (default {DEFAULT_MIX})",
    )
    parser.add_argument(
        "--method",
        choices=("adabn", "tent"),
        default=DEFAULT_METHOD,
        help="adabn: re-estimate BatchNorm statistics; tent: then also tune BatchNorm scale/shift by "
        f"entropy minimisation (default {DEFAULT_METHOD}; docs/adapt.md compares them)",
    )
    parser.add_argument(
        "--steps", type=int, default=DEFAULT_STEPS, help=f"tent's optimiser steps (default {DEFAULT_STEPS})"
    )
    add_depth_scale_argument(parser)
    parser.add_argument("--batch-size", type=int, default=8, help="frames per forward pass")
    parser.add_argument("--export", type=Path, help="also export the adapted model to this .onnx bundle")


def _usage_error(args: argparse.Namespace) -> str | None:
    """What makes the command line unusable, before anything is read."""
    from asymfusion_ros.training.adapt import MAX_STEPS, MIN_FRAMES

    if args.frames < MIN_FRAMES:
        return f"--frames must be >= {MIN_FRAMES}, got {args.frames}"
    if args.every < 1:
        return f"--every must be >= 1, got {args.every}"
    if not 0.0 <= args.mix <= 1.0:
        return f"--mix must be in [0, 1], got {args.mix}"
    if args.method == "tent" and not 1 <= args.steps <= MAX_STEPS:
        return f"--steps must be in [1, {MAX_STEPS}], got {args.steps}"
    if args.batch_size < 1:
        return f"--batch-size must be >= 1, got {args.batch_size}"
    if args.output.suffix != ".pt":
        return f"-o must name a .pt checkpoint, got {args.output}"
    if args.export is not None and args.export.suffix != ".onnx":
        return f"--export must name an .onnx bundle, got {args.export}"
    return None


def _checkpoint(model: str) -> Path:
    """The checkpoint to adapt; a bundle is refused with the shipped checkpoint's path."""
    if Path(model).suffix in (".onnx", ".engine", ".plan"):
        try:
            where = f"; the shipped one is {resolve_model('default', suffixes=('.pt',))}"
        except ResourceError:
            where = ""
        raise ResourceError(
            f"{model} is a deployed bundle; adaptation needs the .pt training checkpoint{where}"
        )
    return resolve_model(model, suffixes=(".pt",))


def run(args: argparse.Namespace) -> int:
    if problem := _usage_error(args):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        checkpoint = _checkpoint(args.model)
    except ResourceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        message = _adapt(args, checkpoint)
    except _AdaptFailedError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(message)
    return 0


class _AdaptFailedError(Exception):
    """Any documented failure below, as one line for the user."""


def _adapt(args: argparse.Namespace, checkpoint_path: Path) -> str:
    """Adapt, save (and export) into a temporary folder, then move into place; the summary line."""
    from asymfusion_ros.bags.io import BagReadError
    from asymfusion_ros.data.sample import DatasetError
    from asymfusion_ros.export.exporter import ExportError, export_onnx
    from asymfusion_ros.fusion.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
    from asymfusion_ros.inference.letterbox import fit_frames
    from asymfusion_ros.training.adapt import (
        MIN_FRAMES,
        Adaptation,
        AdaptError,
        AdaptMethod,
        adapt,
        batch_norms,
    )

    start = time.perf_counter()
    try:
        ckpt = load_checkpoint(checkpoint_path)
        model, preprocess = ckpt.build()
        if not batch_norms(model):
            raise AdaptError(f"{checkpoint_path} has no BatchNorm layer: there are no statistics to adapt")
        size = ckpt.input_size
        span = args.frames * args.every
        source = camera_frames(args.data, args.depth_scale, size, span)
        camera = list(islice(source, 0, span, args.every))
        if len(camera) < MIN_FRAMES:
            raise AdaptError(
                f"{args.data} gave {len(camera)} colour+depth frames; adaptation needs at least {MIN_FRAMES}"
            )
        frames = fit_frames(camera, size, limit=args.frames)
        method = AdaptMethod(args.method)
        entropies = adapt(
            model,
            preprocess,
            frames,
            method=method,
            mix=args.mix,
            steps=args.steps,
            batch_size=args.batch_size,
        )
    except (CheckpointError, AdaptError) as err:
        raise _AdaptFailedError(str(err)) from err
    except (DatasetError, BagReadError, ValueError) as err:
        raise _AdaptFailedError(f"frames from {args.data}: {err}") from err
    record = Adaptation(
        source=str(args.data),
        frames=len(frames),
        method=method,
        mix=args.mix,
        steps=args.steps if method is AdaptMethod.TENT else 0,
        base=str(checkpoint_path),
        every=args.every,
    )
    with tempfile.TemporaryDirectory(prefix="asymfusion-adapt-") as tmp:
        staged = Path(tmp) / "adapted.pt"
        save_checkpoint(
            staged, model, preprocess, classes=ckpt.classes, input_size=size, data=ckpt.data,
            metrics=ckpt.metrics, extra=ckpt.extra, adaptation=record.to_dict(),
        )  # fmt: skip
        if args.export is not None:
            try:
                export_onnx(staged, Path(tmp) / "adapted.onnx")
            except ExportError as err:
                raise _AdaptFailedError(str(err)) from err
            args.export.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(Path(tmp) / "adapted.onnx", args.export)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(staged, args.output)
    tent = f", entropy {entropies[0]:.3f} -> {entropies[-1]:.3f} nats" if entropies else ""
    exported = f" and {args.export}" if args.export is not None else ""
    return (
        f"adapted {checkpoint_path.name} ({method.value}, mix {args.mix:g}{tent}) on {len(frames)} frames "
        f"of {args.data}; wrote {args.output}{exported} in {time.perf_counter() - start:.1f} s"
    )
