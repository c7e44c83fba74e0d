"""``asymfusion export CKPT -o MODEL.onnx [--int8 --calib FRAMES]``: a checkpoint to an ONNX bundle.

The bundle is written and checked by export/exporter.py; ``--int8`` quantises it with
export/quantize.py on calibration frames read by cli/frame_sources.py (a folder, a rosbag or a
dataset spec, as ``asymfusion build-engine --calib`` takes them). Exit status: 0 written, 1 the
export or quantisation failed, 2 a usage error.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from asymfusion_ros.bags.io import BagReadError
from asymfusion_ros.cli.args import add_depth_scale_argument
from asymfusion_ros.cli.frame_sources import camera_frames
from asymfusion_ros.data.sample import DatasetError
from asymfusion_ros.export.exporter import DEFAULT_OPSET, ExportError, export_onnx

# Example command lines, shown at the end of this subcommand's --help (cli/__init__.py).
EXAMPLES: tuple[str, ...] = (
    "asymfusion export runs/default/best.pt -o my_model.onnx",
    "asymfusion export runs/default/best.pt -o my_int8.onnx --int8 --calib synthetic",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="a .pt checkpoint written by `asymfusion train`")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the .onnx bundle to write")
    parser.add_argument("--height", type=int, help="network input height (default: the checkpoint's)")
    parser.add_argument("--width", type=int, help="network input width (default: the checkpoint's)")
    parser.add_argument(
        "--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (13..17 for TensorRT 8.5)"
    )
    parser.add_argument(
        "--int8",
        action="store_true",
        help="write an INT8 QDQ bundle (ONNX Runtime static quantisation; needs --calib)",
    )
    parser.add_argument(
        "--calib",
        help="calibration frames for --int8: a folder of rgb/ + depth/ images, a rosbag, "
        "'synthetic' (the train split) or a dataset spec such as 'nyudv2:PATH?depth_scale=5000'",
    )
    add_depth_scale_argument(parser, "a --calib folder's 16-bit depth images or a bag's 16UC1 depth")
    parser.add_argument(
        "--calib-frames", type=int, default=64, help="how many calibration frames to read (default 64)"
    )
    parser.add_argument(
        "--int8-activations",
        choices=("uint8", "int8"),
        default="uint8",
        help="uint8: asymmetric, ONNX Runtime CPU's fused kernels (default); int8: symmetric, zero point 0, "
        "as TensorRT's explicit quantisation needs",
    )
    parser.add_argument(
        "--fold-bn",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="fold AsymFusion's per-modality BatchNorms into grouped convs: a Conv(+ReLU)-only graph, "
        "as TensorRT fuses best; off by default, since ONNX Runtime CPU runs narrow nets faster without",
    )


def run(args: argparse.Namespace) -> int:
    if (args.height is None) != (args.width is None):
        print("error: give both --height and --width, or neither", flush=True)
        return 2
    if args.int8 and (args.calib is None or args.calib_frames < 1):
        print("error: --int8 needs --calib FRAMES and --calib-frames >= 1", flush=True)
        return 2
    size = (args.height, args.width) if args.height is not None else None
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="asymfusion-export-") as tmp:
        fp32_out = Path(tmp) / "fp32.onnx" if args.int8 else args.output
        try:
            path = export_onnx(
                args.checkpoint, fp32_out, input_size=size, opset=args.opset, fold_bn=args.fold_bn
            )
            if args.int8:
                path = _quantize(path, args, args.calib_frames)
        except ExportError as err:
            print(f"error: {err}", flush=True)
            return 1
    from asymfusion_ros.inference.model_bundle import read_onnx_info

    info = read_onnx_info(path)
    print(
        f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, input {info.input_size[0]}x{info.input_size[1]}, "
        f"{len(info.classes)} classes, opset {args.opset}) in {time.perf_counter() - start:.1f} s; "
        "checks passed: onnx.checker, static shapes, TensorRT ops, ONNX Runtime vs PyTorch parity"
        + (" (parity of the fp32 graph, before quantisation)" if args.int8 else "")
    )
    return 0


INT8_AGREEMENT_WARN = 0.95


def _quantize(fp32: Path, args: argparse.Namespace, count: int) -> Path:
    """The INT8 QDQ bundle of ``fp32`` at ``args.output``; prints its label agreement with fp32."""
    from asymfusion_ros.export.quantize import QuantizeError, label_agreement, quantize_bundle
    from asymfusion_ros.inference.letterbox import fit_frames
    from asymfusion_ros.inference.model_bundle import read_onnx_info

    size = read_onnx_info(fp32).input_size
    try:
        frames = fit_frames(camera_frames(args.calib, args.depth_scale, size, count), size, limit=count)
        path, used = quantize_bundle(fp32, args.output, frames, args.int8_activations)
    except (DatasetError, BagReadError, ValueError) as err:
        raise ExportError(f"calibration frames {args.calib}: {err}") from err
    except QuantizeError as err:
        raise ExportError(str(err)) from err
    agreement = label_agreement(fp32, path, frames)
    note = "" if agreement >= INT8_AGREEMENT_WARN else f" -- WARNING: below {INT8_AGREEMENT_WARN:.0%}"
    print(
        f"INT8 ({args.int8_activations} activations): calibrated on {used} frames of {args.calib}; "
        f"labels equal fp32 on {agreement:.2%} of them{note}"
    )
    return path
