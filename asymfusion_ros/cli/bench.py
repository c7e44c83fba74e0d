"""``asymfusion bench``: per-stage latency (p50/p95 ms) and fps of the whole inference pipeline.

One frame = what the node does per camera frame: Segmenter (preprocess = resize in,
backend, postprocess = labels back to camera size), the labeled point cloud (stride 1, all
fields), colourising and the overlay. Frames are synthetic RGB-D scenes at the camera size.
``--compare torch,onnxruntime`` runs several backends one after the other in one process on
the same frames; each backend is handed the file it runs (a .pt for torch, the .onnx for the
others, exported on the fly into a temporary folder when only the checkpoint exists).

``--scheme S --backbone B [--width W]`` plans a deployment before training: an untrained
network of that shape at the ``--size`` input goes through the same export (checks included)
and is timed like a trained one. ``--peer FILE.onnx`` times another network (any ONNX with
static inputs, fed zeros) once after every frame of ours, so both share the machine's load
alike and the latency ratio is fair on a busy CPU.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from asymfusion_ros.cli.args import image_size
from asymfusion_ros.geometry import colorize, labeled_points, overlay
from asymfusion_ros.inference.base import BackendKind, Precision
from asymfusion_ros.inference.errors import BackendError
from asymfusion_ros.inference.peer import PeerModel
from asymfusion_ros.inference.pipeline import Segmenter
from asymfusion_ros.resources import ResourceError, resolve_model
from asymfusion_ros.stats import summarize_ms

STAGES = ("preprocess", "backend", "postprocess", "point_cloud", "colorize", "overlay")
OVERHEAD_STAGES = ("preprocess", "postprocess", "colorize", "overlay")
"""The CPU work around the backend that the issue budgets at <= 15 % of the backend's time."""
OVERLAY_ALPHA = 0.5


@dataclass(frozen=True)
class BenchResult:
    backend: str
    description: str
    model: str
    size: str  # camera WxH
    iters: int
    fps: float  # whole frames (all stages) per second
    stages: dict[str, dict[str, float]]  # name -> {"p50_ms", "p95_ms"}
    overhead_ratio: float  # sum of OVERHEAD_STAGES p50 / backend p50
    peer: dict[str, float | str] | None = None  # model, p50_ms, p95_ms, backend_ratio (backend / peer p50)

    def to_json(self) -> dict:
        return asdict(self)


def bench_frames(size: tuple[int, int], count: int = 4) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(rgb, depth_m, K) synthetic frames at the camera size."""
    from asymfusion_ros.data.synthetic import SyntheticScenes

    scenes = SyntheticScenes(size=size, seed=0)
    return [(s.rgb, s.depth_m, s.K) for s in (scenes.frame(i) for i in range(count))]


def model_for(model: str, backend: BackendKind, workdir: Path) -> Path:
    """The file ``backend`` runs for ``model`` (a path or a shipped name): .pt for torch, else .onnx."""
    wanted = ".pt" if backend is BackendKind.TORCH else ".onnx"
    path = resolve_model(model, suffixes=(wanted, ".onnx", ".pt"))
    if path.suffix == wanted:
        return path
    sibling = path.with_suffix(wanted)
    if sibling.is_file():
        return sibling
    if wanted == ".onnx":
        from asymfusion_ros.export.exporter import export_onnx

        return export_onnx(path, workdir / f"{path.stem}.onnx")
    raise BackendError(f"the torch backend needs the .pt checkpoint of {path}, and {sibling} does not exist")


def untrained_checkpoint(
    scheme: str,
    backbone: str,
    width: float,
    input_size: tuple[int, int],
    workdir: Path,
    options: dict[str, Any] | None = None,
) -> Path:
    """A randomly initialised network (NYUv2-40 classes, rgb + depth) saved as a checkpoint.

    ``options`` are the scheme's own (e.g. ``decoder_width`` for asymfusion).
    """
    import torch

    from asymfusion_ros.classes import load_classes
    from asymfusion_ros.fusion import ModalityInputs, build_model
    from asymfusion_ros.fusion.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = build_model(scheme, backbone=backbone, width=width, num_classes=40, **(options or {})).eval()
    suffix = "".join(f"_{key}{value}" for key, value in (options or {}).items())
    return save_checkpoint(
        workdir / f"untrained_{scheme}_{backbone}_w{width:g}{suffix}.pt",
        model,
        ModalityInputs(model.modalities),
        classes=load_classes("nyu40"),
        input_size=input_size,
        data=f"untrained (asymfusion bench --scheme {scheme} --backbone {backbone} --width {width:g})",
    )


def _timed(fn: Callable[..., object], *args: object) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args)
    return (time.perf_counter() - start) * 1e3, out


def bench_segmenter(
    segmenter: Segmenter,
    frames: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    iters: int,
    warmup: int,
    model: str = "",
    peer: PeerModel | None = None,
) -> BenchResult:
    """Run the node's per-frame work ``iters`` times (after ``warmup``) and collect stage times.

    With ``peer``, one peer inference follows every frame (interleaved, so both see the same load).
    """
    palette = segmenter.classes.palette()
    times: dict[str, list[float]] = {name: [] for name in STAGES}
    totals, peer_ms = [], []
    for i in range(warmup + iters):
        rgb, depth, k = frames[i % len(frames)]
        start = time.perf_counter()
        result = segmenter.segment(rgb, depth)
        cloud_ms, _ = _timed(labeled_points, depth, k, result.labels, rgb, result.confidence)
        colorize_ms, color = _timed(colorize, result.labels, palette)
        overlay_ms, _ = _timed(overlay, rgb, color, OVERLAY_ALPHA)
        total_ms = (time.perf_counter() - start) * 1e3
        peer_run_ms = peer.run_ms() if peer is not None else None
        if i < warmup:
            continue
        if peer_run_ms is not None:
            peer_ms.append(peer_run_ms)
        stage_ms = {
            **result.timings_ms,
            "point_cloud": cloud_ms,
            "colorize": colorize_ms,
            "overlay": overlay_ms,
        }
        for name, ms in stage_ms.items():
            times[name].append(ms)
        totals.append(total_ms)
    summaries = {name: summarize_ms(v) for name, v in times.items()}
    stages = {name: {"p50_ms": s.p50_ms, "p95_ms": s.p95_ms} for name, s in summaries.items()}
    overhead = sum(stages[name]["p50_ms"] for name in OVERHEAD_STAGES)
    height, width = frames[0][0].shape[:2]
    peer_stats: dict[str, float | str] | None = None
    if peer is not None:
        peer_summary = summarize_ms(peer_ms)
        peer_stats = {
            "model": str(peer.path),
            "p50_ms": peer_summary.p50_ms,
            "p95_ms": peer_summary.p95_ms,
            "backend_ratio": stages["backend"]["p50_ms"] / max(peer_summary.p50_ms, 1e-9),
        }
    return BenchResult(
        backend=segmenter.backend.name,
        description=segmenter.describe(),
        model=model,
        size=f"{width}x{height}",
        iters=iters,
        fps=1e3 / float(np.mean(totals)),
        stages=stages,
        overhead_ratio=overhead / max(stages["backend"]["p50_ms"], 1e-9),
        peer=peer_stats,
    )


def format_table(results: Sequence[BenchResult]) -> str:
    header = f"{'stage':<12}" + "".join(f"{r.backend:>24}" for r in results)
    lines = [header, f"{'':<12}" + "".join(f"{'p50 / p95 ms':>24}" for _ in results)]
    for name in STAGES:
        cells = "".join(
            f"{r.stages[name]['p50_ms']:>13.2f} / {r.stages[name]['p95_ms']:>7.2f}" for r in results
        )
        lines.append(f"{name:<12}{cells}")
    lines.append(f"{'fps':<12}" + "".join(f"{r.fps:>24.1f}" for r in results))
    lines.append(f"{'pre+post %':<12}" + "".join(f"{100 * r.overhead_ratio:>23.1f}%" for r in results))
    for r in results:
        if r.peer is not None:
            name, ratio = Path(str(r.peer["model"])).name, r.peer["backend_ratio"]
            lines.append(
                f"peer {name}: {r.peer['p50_ms']:.2f} / {r.peer['p95_ms']:.2f} ms p50 / p95; "
                f"{r.backend} backend / peer latency (p50, interleaved): {ratio:.2f}x"
            )
    if len(results) > 1:
        base = results[0]
        for other in results[1:]:
            lines.append(f"{other.backend} / {base.backend} fps: {other.fps / base.fps:.2f}x")
    lines += [f"{r.backend}: {r.description}" for r in results]
    return "\n".join(lines)


# Example command lines, shown at the end of this subcommand's --help (cli/__init__.py).
EXAMPLES: tuple[str, ...] = (
    "asymfusion bench --model default --compare torch,onnxruntime",
    "asymfusion bench --scheme asymfusion --backbone resnet34 --size 640x480",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default="default", help="model file or shipped name (default: the default model)"
    )
    parser.add_argument(
        "--scheme",
        help="time an untrained network of this fusion scheme at --size instead of --model "
        "(exported and checked like a trained one)",
    )
    parser.add_argument("--backbone", default="resnet18", help="with --scheme: resnet18/34/50/101")
    parser.add_argument("--width", type=float, default=1.0, help="with --scheme: channel width multiplier")
    parser.add_argument(
        "--decoder-width", type=float, help="with --scheme asymfusion: decoder channels x this (default 1.0)"
    )
    parser.add_argument(
        "--fold-bn", action="store_true", help="with --scheme: export with `asymfusion export --fold-bn`"
    )
    parser.add_argument(
        "--peer", type=Path, help="an ONNX file (static inputs) to time beside ours, interleaved, fed zeros"
    )
    parser.add_argument("--backend", choices=[k.value for k in BackendKind], default=BackendKind.AUTO.value)
    parser.add_argument(
        "--compare",
        help="comma-separated backends to run side by side, e.g. torch,onnxruntime (overrides --backend)",
    )
    parser.add_argument(
        "--size", type=image_size, default=(480, 640), help="camera size WIDTHxHEIGHT (default 640x480)"
    )
    parser.add_argument("--iters", type=int, default=50, help="timed frames per backend")
    parser.add_argument("--warmup", type=int, default=5, help="untimed frames first")
    parser.add_argument("--precision", choices=[p.value for p in Precision], default=Precision.FP16.value)
    parser.add_argument("--threads", type=int, help="CPU threads for ONNX Runtime / torch (default: theirs)")
    parser.add_argument("--device", type=int, default=0, help="CUDA device index")
    parser.add_argument(
        "--json", action="store_true", help="print JSON (one object, or a list with --compare)"
    )


def run(args: argparse.Namespace) -> int:
    if args.iters < 1 or args.warmup < 0:
        print("error: --iters must be >= 1 and --warmup >= 0")
        return 2
    names = args.compare.split(",") if args.compare else [args.backend]
    try:
        kinds = [BackendKind(n.strip()) for n in names]
    except ValueError as err:
        print(f"error: {err}; choose from {[k.value for k in BackendKind]}")
        return 2
    frames = bench_frames(args.size)
    results = []
    with tempfile.TemporaryDirectory(prefix="asymfusion-bench-") as workdir:
        try:
            model = args.model if args.scheme is None else str(_planned(args, Path(workdir)))
            peer = None if args.peer is None else PeerModel(args.peer, threads=args.threads)
        except (BackendError, ValueError) as err:
            print(f"error: {err}")
            return 1
        for kind in kinds:
            try:
                path = model_for(model, kind, Path(workdir))
                segmenter = Segmenter.from_path(
                    path,
                    backend=kind.value,
                    precision=args.precision,
                    device=args.device,
                    threads=args.threads,
                )
            except (BackendError, ResourceError) as err:
                print(f"error: {kind.value}: {err}")
                return 1
            results.append(
                bench_segmenter(
                    segmenter, frames, iters=args.iters, warmup=args.warmup, model=str(path), peer=peer
                )
            )
    if args.json:
        payload = [r.to_json() for r in results]
        print(json.dumps(payload if args.compare else payload[0], indent=1))
    else:
        print(format_table(results))
        if peer is not None:
            print(peer.describe())
    return 0


def _planned(args: argparse.Namespace, workdir: Path) -> Path:
    """``--scheme``: the untrained network, exported (checks included) when a runtime needs ONNX."""
    from asymfusion_ros.export.exporter import ExportError, export_onnx

    options = {} if args.decoder_width is None else {"decoder_width": args.decoder_width}
    checkpoint = untrained_checkpoint(args.scheme, args.backbone, args.width, args.size, workdir, options)
    try:
        return export_onnx(checkpoint, checkpoint.with_suffix(".onnx"), fold_bn=args.fold_bn)
    except ExportError as err:
        raise ValueError(str(err)) from err
