"""The tiny untrained model the tests run on, as functions and as a script.

A venv without torch (``make test-jazzy``, ``make test-py310``) cannot build it, so the main
venv exports it once (``python test/tiny_model.py OUT.onnx``) and conftest.py takes that file
from ``$ASYMFUSION_TEST_ONNX``.
"""

from __future__ import annotations

import sys
from pathlib import Path

TINY_INPUT_SIZE = (64, 96)
"""(H, W) of the tiny test model: the contracts' 64x80 is not a multiple of 32, as networks need."""


def save_tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    """An untrained asymfusion resnet18 (width 0.125, nyu40, input 64x96) saved as a .pt checkpoint;
    another ``seed``, other weights (a second model to compare)."""
    import torch

    from asymfusion_ros.classes import load_classes
    from asymfusion_ros.fusion import ModalityInputs, build_model
    from asymfusion_ros.fusion.checkpoint import save_checkpoint

    torch.manual_seed(seed)
    model = build_model("asymfusion", backbone="resnet18", width=0.125, num_classes=40).eval()
    return save_checkpoint(
        path, model, ModalityInputs(("rgb", "depth")), classes=load_classes("nyu40"),
        input_size=TINY_INPUT_SIZE, data="untrained (test fixture)",
    )  # fmt: skip


def export_tiny_onnx(checkpoint: Path) -> Path:
    """The ONNX bundle of ``checkpoint``, beside it (exported and checked)."""
    from asymfusion_ros.export.exporter import export_onnx

    return export_onnx(checkpoint, checkpoint.with_suffix(".onnx"))


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.parent.mkdir(parents=True, exist_ok=True)
    print(export_tiny_onnx(save_tiny_checkpoint(out.with_suffix(".pt"))))
