"""Training checkpoints: weights plus everything needed to rebuild and describe the model.

A checkpoint is a ``torch.save``d dict of plain types and tensors (so ``torch.load`` runs with
``weights_only=True``): ``format`` = ``FORMAT``, the model build config, the preprocessing
config, the class set (JSON), the input size, the training data spec, metrics, the git
revision of the code that trained it, the state_dict, free-form ``extra`` and, for a model
adapted to a camera (``asymfusion adapt``), what it was adapted on (``adaptation``; absent
from older checkpoints, which load as unadapted).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from asymfusion_ros.classes import ClassSet
from asymfusion_ros.fusion import build_model
from asymfusion_ros.fusion.preprocess import ModalityInputs

__all__ = ["FORMAT", "Checkpoint", "CheckpointError", "load_checkpoint", "save_checkpoint"]

FORMAT = "asymfusion_ros.checkpoint/1"

_KEYS = ("model_config", "preprocess_config", "classes", "input_size", "data", "state_dict")


class CheckpointError(Exception):
    """A checkpoint file is missing, unreadable, of another format or does not build."""


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint; ``build()`` gives the model and its preprocessing, ready to run."""

    model_config: dict[str, Any]
    preprocess_config: dict[str, Any]
    classes: ClassSet
    input_size: tuple[int, int]
    """(H, W) the network was trained at and exports to."""
    data: str
    metrics: dict[str, Any] | None
    git_revision: str | None
    state_dict: dict[str, torch.Tensor] = field(repr=False)
    extra: dict[str, Any] | None = None
    adaptation: dict[str, Any] | None = None
    """Source, frame count, method and mix of ``asymfusion adapt``; None: as trained."""
    path: Path | None = None
    """Where it was read from (named in errors)."""

    def build(self) -> tuple[nn.Module, ModalityInputs]:
        """The model (weights loaded strictly) and its ModalityInputs, both in eval mode."""
        try:
            model = build_model(**self.model_config)
            model.load_state_dict(self.state_dict, strict=True)
            preprocess = ModalityInputs(**self.preprocess_config)
        except (TypeError, ValueError, RuntimeError) as err:
            where = str(self.path or "<memory>")
            raise CheckpointError(f"checkpoint {where!r} does not build: {err}") from err
        return model.eval(), preprocess.eval()


def git_revision() -> str | None:
    """``git describe --always --dirty`` of this source tree, or None outside a checkout."""
    try:
        result = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    preprocess: ModalityInputs,
    *,
    classes: ClassSet,
    input_size: tuple[int, int],
    data: str,
    metrics: dict | None = None,
    extra: dict | None = None,
    adaptation: dict | None = None,
) -> Path:
    """Write a checkpoint atomically (temp file then rename); returns its path."""
    path = Path(path)
    model_config = getattr(model, "config", None)
    if not isinstance(model_config, dict):
        raise CheckpointError(f"cannot save {str(path)!r}: the model has no build config (.config)")
    if model.num_classes != len(classes):
        raise CheckpointError(
            f"cannot save {str(path)!r}: the model predicts {model.num_classes} classes, "
            f"the class set has {len(classes)}"
        )
    payload = {
        "format": FORMAT,
        "model_config": dict(model_config),
        "preprocess_config": dict(preprocess.config),
        "classes": classes.to_json(),
        "input_size": [int(input_size[0]), int(input_size[1])],
        "data": data,
        "metrics": metrics,
        "git_revision": git_revision(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra,
    }
    if adaptation is not None:
        payload["adaptation"] = adaptation
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint; CheckpointError naming the file when it is not a valid one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} not found")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"cannot read checkpoint {str(path)!r}: {err}") from err
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        raise CheckpointError(f"{str(path)!r} is not an {FORMAT} checkpoint (format: {found!r})")
    missing = [k for k in _KEYS if k not in raw]
    if missing:
        raise CheckpointError(f"checkpoint {str(path)!r} lacks {missing}")
    try:
        classes = ClassSet.from_json(raw["classes"])
        height, width = (int(v) for v in raw["input_size"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"checkpoint {str(path)!r} has a malformed field: {err}") from err
    return Checkpoint(
        model_config=dict(raw["model_config"]),
        preprocess_config=dict(raw["preprocess_config"]),
        classes=classes,
        input_size=(height, width),
        data=str(raw["data"]),
        metrics=raw.get("metrics"),
        git_revision=raw.get("git_revision"),
        state_dict=raw["state_dict"],
        extra=raw.get("extra"),
        adaptation=raw.get("adaptation"),
        path=path,
    )
