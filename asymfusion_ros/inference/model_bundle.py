"""What a model bundle says about itself: classes, modalities, input size, preprocessing.

The ONNX bundle carries it in ``metadata_props``; a TensorRT engine carries the same keys in
a JSON sidecar (``X.engine.json``) since a serialized engine has no room for it. Reading it
needs only ``onnx`` (protobuf), never torch or a runtime.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asymfusion_ros import __version__
from asymfusion_ros.classes import ClassSet
from asymfusion_ros.inference.errors import BackendError

FORMAT_KEY = "asymfusion.format"
FORMAT_VERSION = "1"
INPUT_NAMES = ("rgb", "depth")
OUTPUT_NAMES = ("labels", "confidence")


@dataclass(frozen=True)
class BundleInfo:
    """The self-description of a model bundle (every field JSON-able through ``to_metadata``)."""

    classes: ClassSet
    modalities: tuple[str, ...]
    input_size: tuple[int, int]  # (H, W) of the network input
    preprocess: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    data: str = ""
    version: str = __version__
    metrics: dict[str, Any] | None = None
    adaptation: dict[str, Any] | None = None
    """What ``asymfusion adapt`` adapted the model on (source, frames, method, mix); None: as trained."""

    def to_metadata(self) -> dict[str, str]:
        """The ``metadata_props`` of the ONNX bundle (string -> string); ``adaptation`` only when adapted."""
        adapted = {} if self.adaptation is None else {"adaptation": json.dumps(self.adaptation)}
        return {
            FORMAT_KEY: FORMAT_VERSION,
            "classes": self.classes.to_json(),
            "modalities": json.dumps(list(self.modalities)),
            "input_size": json.dumps(list(self.input_size)),
            "preprocess": json.dumps(self.preprocess),
            "model": json.dumps(self.model),
            "data": self.data,
            "version": self.version,
            "metrics": json.dumps(self.metrics),
            **adapted,
        }

    @classmethod
    def from_metadata(cls, props: Mapping[str, str], source: str) -> BundleInfo:
        """Parse ``metadata_props``; a missing or malformed key is a BackendError naming ``source``."""
        if props.get(FORMAT_KEY) != FORMAT_VERSION:
            raise BackendError(
                f"{source} is not an asymfusion_ros model bundle "
                f"(metadata {FORMAT_KEY!r} = {props.get(FORMAT_KEY)!r}, expected {FORMAT_VERSION!r}); "
                "export one with `asymfusion export CKPT -o MODEL.onnx`"
            )
        try:
            height, width = (int(v) for v in json.loads(props["input_size"]))
            return cls(
                classes=ClassSet.from_json(props["classes"]),
                modalities=tuple(json.loads(props["modalities"])),
                input_size=(height, width),
                preprocess=json.loads(props.get("preprocess", "{}")),
                model=json.loads(props.get("model", "{}")),
                data=props.get("data", ""),
                version=props.get("version", ""),
                metrics=json.loads(props.get("metrics", "null")),
                adaptation=json.loads(props.get("adaptation", "null")),
            )
        except (KeyError, ValueError, TypeError) as err:
            raise BackendError(f"malformed model metadata in {source}: {err!r}") from err


def read_onnx_info(path: Path) -> BundleInfo:
    """The BundleInfo of an ONNX bundle (weights are not loaded)."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # protobuf raises DecodeError, onnx raises ValueError/OSError
        raise BackendError(f"{path} is not an ONNX model: {err}") from err
    return BundleInfo.from_metadata({p.key: p.value for p in model.metadata_props}, str(path))


def sidecar_path(engine_path: Path) -> Path:
    """Where an engine's metadata lives: ``X.engine`` -> ``X.engine.json``."""
    return engine_path.with_name(engine_path.name + ".json")


def read_sidecar(engine_path: Path) -> dict[str, Any]:
    """The JSON sidecar of an engine: ``{"metadata": {...}, "key": {...}}``."""
    path = sidecar_path(engine_path)
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError as err:
        raise BackendError(
            f"{engine_path} has no metadata sidecar {path.name}: build engines with "
            "`asymfusion build-engine MODEL.onnx`, which writes both"
        ) from err
    except ValueError as err:
        raise BackendError(f"malformed engine sidecar {path}: {err}") from err
