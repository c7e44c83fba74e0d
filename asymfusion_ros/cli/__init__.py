"""The ``asymfusion`` command: one entry point, one module per subcommand.

Subcommand modules are imported only when chosen, so ``asymfusion replay --backend
onnxruntime`` never imports torch and ``asymfusion train`` never imports rclpy. Each module
named below provides ``add_arguments(parser)``, ``run(args) -> int`` (the exit status) and
``EXAMPLES``, one or two command lines that end its ``--help``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from asymfusion_ros import __version__
from asymfusion_ros.cli.args import image_size

__all__ = ["COMMANDS", "DESCRIPTION", "build_parser", "image_size", "main"]

# What `asymfusion --help` says the tool is for (the module docstring is for developers).
DESCRIPTION = """\
RGB-D semantic segmentation for ROS 2 robots (AsymFusion). The node itself runs with
`ros2 launch asymfusion_ros asymfusion.launch.py`; this command does everything around it:
check a machine (doctor), try the node (demo, camera), score a model on recordings (replay,
make-bag), deploy it (export, build-engine, bench), bring one trained elsewhere (import) and
train one (train, eval, compare, models)."""

FIRST_STEPS = """\
first steps:
  asymfusion doctor           what this machine can run, and how to fix what it cannot
  asymfusion demo             the node on the shipped model, fed by a synthetic camera
  asymfusion COMMAND --help   a command's options, ending with examples"""

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "models": ("asymfusion_ros.fusion.summary", "parameter count and MACs of every fusion scheme"),
    "train": ("asymfusion_ros.training.train", "train a segmenter on synthetic or NYUDv2 data"),
    "eval": ("asymfusion_ros.training.evaluate", "pixel acc, mean acc and mIoU of a model on a dataset"),
    "compare": ("asymfusion_ros.training.compare", "train and evaluate every fusion scheme alike"),
    "adapt": ("asymfusion_ros.cli.adapt", "fit a model's BatchNorm to a camera from unlabeled frames"),
    "export": ("asymfusion_ros.cli.export", "export a checkpoint to a self-describing ONNX bundle"),
    "import": (
        "asymfusion_ros.cli.import_net",
        "wrap a network trained elsewhere (an ESANet ONNX file, ...) into a self-describing bundle",
    ),
    "build-engine": ("asymfusion_ros.cli.build_engine", "build and cache a TensorRT engine"),
    "bench": ("asymfusion_ros.cli.bench", "per-stage latency and fps of the inference pipeline"),
    "replay": ("asymfusion_ros.replay.cli", "run the segmenter over a rosbag, score it, write outputs"),
    "make-bag": (
        "asymfusion_ros.replay.make_bag",
        "write a rosbag of synthetic RGB-D frames with ground truth",
    ),
    "camera": ("asymfusion_ros.ros.camera", "publish synthetic (or recorded) RGB-D frames as a camera"),
    "demo": ("asymfusion_ros.ros.demo", "run the node on the default model with the synthetic camera"),
    "doctor": ("asymfusion_ros.cli.doctor", "check this machine: ROS 2, backends, GPU, the default model"),
}


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The top-level parser; only the chosen subcommand's module is imported."""
    parser = argparse.ArgumentParser(
        prog="asymfusion",
        description=DESCRIPTION,
        epilog=FIRST_STEPS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, help_text) in COMMANDS.items():
        cmd = sub.add_parser(
            name, help=help_text, description=help_text, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(cmd)
            cmd.epilog = examples_epilog(module.EXAMPLES)
            cmd.set_defaults(run=module.run)
    return parser


def examples_epilog(examples: Sequence[str]) -> str:
    """The end of a subcommand's ``--help``: its example command lines, as written."""
    return "examples:\n" + "\n".join(f"  {line}" for line in examples)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(args_list).parse_args(args_list)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
