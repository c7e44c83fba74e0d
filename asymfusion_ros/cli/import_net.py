"""``asymfusion import NET.onnx -o BUNDLE.onnx``: a network trained elsewhere as one of our bundles.

A preset (``--preset esanet-nyuv2``) or flags declare the foreign network's inputs,
preprocessing, output and classes (export/import_spec.py); export/importer.py builds, checks
and writes the bundle. Exit status: 0 written, 1 the network does not fit the declaration or a
check failed (one ``error:`` line, nothing written), 2 a usage error.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from asymfusion_ros.cli.args import add_depth_scale_argument, image_size
from asymfusion_ros.export.exporter import ExportError
from asymfusion_ros.export.import_spec import PRESETS, ChannelOrder, DepthMode, DepthUnit, ImportSpec, preset
from asymfusion_ros.export.importer import AUTO, import_onnx
from asymfusion_ros.inference.letterbox import Frame

EXAMPLES: tuple[str, ...] = (
    "asymfusion import onnx_models/model.onnx --preset esanet-nyuv2 -o esanet_nyuv2.onnx",
    "asymfusion import segformer.onnx --rgb-input pixel_values --depth-input none --output logits "
    "--classes ade20k150 --size 640x480 -o segformer.onnx",
)

# Flags that describe a network by hand; a preset already says all of them.
_GENERIC = (
    "rgb_input", "depth_input", "foreign_output", "rgb_scale", "rgb_mean", "rgb_std", "channel_order",
    "depth_unit", "depth_mean", "depth_std", "depth_invalid", "depth_max", "classes",
)  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", type=Path, help="the foreign network, an .onnx file")
    parser.add_argument(
        "-o", dest="bundle", type=Path, required=True, metavar="BUNDLE.onnx", help="the bundle to write"
    )
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), help="a published network's declaration (docs/import.md)"
    )
    parser.add_argument(
        "--depth-mode",
        choices=[m.value for m in DepthMode],
        default=DepthMode.RAW.value,
        help="with a preset: ESANet's depth mode; raw keeps holes at 0 after normalisation (default)",
    )
    names = parser.add_argument_group("network by flags (without --preset)")
    names.add_argument(
        "--rgb-input",
        metavar="NAME",
        help="name of the colour input [1,3,H,W], or 'none' (default: 'rgb' if present)",
    )
    names.add_argument(
        "--depth-input",
        metavar="NAME",
        help="name of the depth input [1,1,H,W], or 'none' (default: 'depth' if present)",
    )
    names.add_argument(
        "--output",
        dest="foreign_output",
        metavar="NAME",
        help="output holding logits [1,C,h,w] or labels (default: the only one)",
    )
    names.add_argument(
        "--classes", metavar="SET", help="nyu40, sunrgbd37, cityscapes19, ade20k150 or a class set FILE.yaml"
    )
    names.add_argument(
        "--rgb-scale", type=float, metavar="S", help="colour multiplier before mean/std (default 1/255)"
    )
    names.add_argument(
        "--rgb-mean",
        type=float,
        nargs=3,
        metavar="V",
        help="per channel in --channel-order (default ImageNet's)",
    )
    names.add_argument(
        "--rgb-std",
        type=float,
        nargs=3,
        metavar="V",
        help="per channel in --channel-order (default ImageNet's)",
    )
    names.add_argument("--channel-order", choices=[c.value for c in ChannelOrder], help="default rgb")
    names.add_argument(
        "--depth-unit", choices=[u.value for u in DepthUnit], help="unit before mean/std (default mm)"
    )
    names.add_argument("--depth-mean", type=float, metavar="V", help="in --depth-unit (default 0)")
    names.add_argument("--depth-std", type=float, metavar="V", help="in --depth-unit (default 1)")
    names.add_argument(
        "--depth-invalid", type=float, metavar="V", help="network value of invalid depth (default 0)"
    )
    names.add_argument("--depth-max", type=float, metavar="METRES", help="depth beyond this is invalid too")
    parser.add_argument(
        "--size",
        type=image_size,
        metavar="WxH",
        help="WIDTHxHEIGHT for a network with dynamic spatial dims (fixed in the bundle)",
    )
    parser.add_argument(
        "--check-frames",
        metavar="SOURCE",
        help="real frames checked for parity besides synthetic ones: a folder, a rosbag or a dataset "
        "spec such as 'nyudv2:PATH?depth_scale=5000'",
    )
    parser.add_argument(
        "--check-count", type=int, default=8, metavar="N", help="how many --check-frames to read (default 8)"
    )
    add_depth_scale_argument(parser, "--check-frames 16-bit depth")


def _spec(args: argparse.Namespace) -> ImportSpec:
    """The declaration from ``--preset`` or the flags; ValueError for a bad combination."""
    given = [name for name in _GENERIC if getattr(args, name) is not None]
    if args.preset:
        if given:
            flags = ", ".join("--" + n.replace("_", "-").replace("foreign-", "") for n in given)
            raise ValueError(f"--preset {args.preset} declares the network; drop {flags}")
        return preset(args.preset, DepthMode(args.depth_mode))
    if args.depth_mode != DepthMode.RAW.value:
        raise ValueError("--depth-mode is for a preset; give --depth-invalid with flags")
    options = {
        "rgb_input": _input_name(args.rgb_input),
        "depth_input": _input_name(args.depth_input),
        "output": args.foreign_output,
        "classes": args.classes,
        "rgb_scale": args.rgb_scale,
        "rgb_mean": tuple(args.rgb_mean) if args.rgb_mean else None,
        "rgb_std": tuple(args.rgb_std) if args.rgb_std else None,
        "channel_order": ChannelOrder(args.channel_order) if args.channel_order else None,
        "depth_per_metre": DepthUnit(args.depth_unit).per_metre if args.depth_unit else None,
        "depth_mean": args.depth_mean,
        "depth_std": args.depth_std,
        "depth_invalid": args.depth_invalid,
        "depth_max_m": args.depth_max,
    }
    return ImportSpec(**{k: v for k, v in options.items() if v is not None or k.endswith("_input")})


def _input_name(flag: str | None) -> str | None:
    if flag is None:
        return AUTO
    return None if flag.lower() == "none" else flag


def _frames(args: argparse.Namespace) -> Callable[[tuple[int, int]], Sequence[Frame]] | None:
    """A callable giving the --check-frames at the network's size (None without the flag)."""
    if args.check_frames is None:
        return None

    def read(size: tuple[int, int]) -> Sequence[Frame]:
        from asymfusion_ros.bags.io import BagReadError
        from asymfusion_ros.cli.frame_sources import camera_frames
        from asymfusion_ros.data.sample import DatasetError
        from asymfusion_ros.inference.letterbox import fit_frames

        try:
            frames = camera_frames(args.check_frames, args.depth_scale, size, args.check_count)
            return fit_frames(frames, size, limit=args.check_count)
        except (DatasetError, BagReadError, ValueError) as err:
            raise ExportError(f"--check-frames {args.check_frames}: {err}") from err

    return read


def run(args: argparse.Namespace) -> int:
    try:
        spec = _spec(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.check_count < 1:
        print("error: --check-count must be >= 1", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        result = import_onnx(args.source, args.bundle, spec, size=args.size, check_frames=_frames(args))
    except ExportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if result.tensorrt_warning:
        print(
            f"warning: {result.tensorrt_warning} (ONNX Runtime runs it; build-engine may not)",
            file=sys.stderr,
        )
    info = result.info
    height, width = info.input_size
    print(
        f"wrote {result.path} ({result.path.stat().st_size / 1e6:.1f} MB, input {width}x{height}, "
        f"{'+'.join(info.modalities)}, {len(info.classes)} classes {info.classes.name}, source opset "
        f"{result.source_opset}) in {time.perf_counter() - start:.1f} s; checks passed: onnx.checker, "
        f"static shapes, parity (labels {result.parity.label_agreement:.3%} equal, confidence within "
        f"{result.parity.max_confidence_diff:.1e})"
    )
    return 0
