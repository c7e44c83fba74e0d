"""``asymfusion build-engine MODEL.onnx``: build (or find cached) the TensorRT engine of a bundle.

Prints where the engine went and how long the build took. Engines live in the cache (see
inference/tensorrt/engine_cache.py); ``-o`` also copies one, with its metadata sidecar, to a
path of your choice (an engine is only valid on the TensorRT version and GPU model it was
built with). INT8 calibration frames come from a folder (data/folder.py) or a rosbag
(bags/frames.py), read by cli/frame_sources.py and handed to the builder as an iterator, which reads and
checks them all before the build starts (inference/tensorrt/calibration.py): a missing or
unreadable calibration input is an ``error:`` line and exit status 1, never a traceback.
The arguments are checked before TensorRT is looked for, so that holds on any machine.
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from asymfusion_ros.bags.io import BagReadError
from asymfusion_ros.cli.args import add_depth_scale_argument
from asymfusion_ros.cli.frame_sources import camera_frames
from asymfusion_ros.data.sample import DatasetError
from asymfusion_ros.inference.base import Precision
from asymfusion_ros.inference.errors import BackendError, EngineBuildError
from asymfusion_ros.inference.model_bundle import sidecar_path
from asymfusion_ros.inference.tensorrt.calibration import CalibrationSource, Frame, fingerprint

# Example command lines, shown at the end of this subcommand's --help (cli/__init__.py).
EXAMPLES: tuple[str, ...] = (
    "asymfusion build-engine my_model.onnx --precision fp16",
    "asymfusion build-engine my_model.onnx --precision int8 --calib my_bag",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="an ONNX bundle written by `asymfusion export`")
    parser.add_argument("--precision", choices=[p.value for p in Precision], default=Precision.FP16.value)
    parser.add_argument(
        "--calib", type=Path, help="INT8 calibration frames: a folder (rgb/, depth/) or a rosbag"
    )
    parser.add_argument("--calib-frames", type=int, default=200, help="at most this many calibration frames")
    add_depth_scale_argument(parser, "16-bit depth PNGs/images")
    parser.add_argument("--device", type=int, default=0, help="CUDA device index")
    parser.add_argument("-o", "--output", type=Path, help="also copy the engine (and its .json sidecar) here")


def _named_errors(frames: Iterable[Frame], source: Path) -> Iterator[Frame]:
    """``frames``, with a folder's or bag's read errors raised as the builder's EngineBuildError."""
    try:
        yield from frames
    except (DatasetError, BagReadError) as err:
        raise EngineBuildError(f"INT8 calibration input {source}: {err}") from err


def calibration_source(source: Path, limit: int, depth_scale: float) -> CalibrationSource:
    """The frames of a calibration folder or bag (read lazily), with their engine-key fingerprint."""
    if not source.exists():
        raise BackendError(f"calibration source not found: {source}")
    try:
        frames = camera_frames(source, depth_scale)
    except DatasetError as err:
        raise BackendError(f"no calibration frames: {err}") from err
    return CalibrationSource(_named_errors(frames, source), fingerprint(source, limit, depth_scale), limit)


def run(args: argparse.Namespace) -> int:
    if not args.model.is_file():
        print(f"error: model file not found: {args.model}")
        return 1
    precision = Precision(args.precision)
    calibration = None
    if args.calib is not None and precision is not Precision.INT8:
        print(f"note: --calib is for int8 builds; a {precision.value} engine does not use it")
    elif args.calib is not None:
        try:
            calibration = calibration_source(args.calib, args.calib_frames, args.depth_scale)
        except BackendError as err:
            print(f"error: {err}")
            return 1
    try:
        import tensorrt  # noqa: F401
    except ImportError as err:
        print(f"error: TensorRT is not importable here ({err}); build engines on the target (Jetson/GPU)")
        return 1
    from asymfusion_ros.inference.tensorrt.backend import build_engine

    try:
        result = build_engine(args.model, precision=precision, device=args.device, calibration=calibration)
    except BackendError as err:
        print(f"error: {err}")
        return 1
    path = result.path
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sidecar_path(path), sidecar_path(args.output))
        shutil.copyfile(path, args.output)
        path = args.output
    how = "found in the cache (key unchanged)" if result.cached else f"built in {result.seconds:.1f} s"
    print(f"engine {path} ({args.precision}, {path.stat().st_size / 1e6:.1f} MB): {how}")
    return 0
