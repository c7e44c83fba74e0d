"""Class sets: names and colours of the labels a model predicts.

One record travels everywhere: the training config names it, the checkpoint and the ONNX
bundle carry it as JSON, the node publishes it on ``segmentation/classes``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from asymfusion_ros.resources import config_path

IGNORE_INDEX = 255
"""Label value that marks void pixels: never scored, never trained on."""


@dataclass(frozen=True)
class ClassSet:
    """Names and RGB colours of a label set; label id i is ``names[i]``."""

    name: str
    names: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.colors):
            raise ValueError(
                f"class set {self.name!r}: {len(self.names)} names but {len(self.colors)} colours"
            )
        if not self.names:
            raise ValueError(f"class set {self.name!r} is empty")

    def __len__(self) -> int:
        return len(self.names)

    def palette(self) -> np.ndarray:
        """A (256, 3) uint8 lookup table: label id -> colour, black for unknown ids and void."""
        lut = np.zeros((256, 3), dtype=np.uint8)
        lut[: len(self.colors)] = np.asarray(self.colors, dtype=np.uint8)[:256]
        return lut

    def to_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "classes": [
                    {"id": i, "name": n, "color": list(c)}
                    for i, (n, c) in enumerate(zip(self.names, self.colors, strict=True))
                ],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ClassSet:
        data = json.loads(text)
        return cls._from_mapping(data, source="JSON")

    @classmethod
    def _from_mapping(cls, data: dict, source: str) -> ClassSet:
        try:
            entries = sorted(data["classes"], key=lambda e: int(e["id"]))
            ids = [int(e["id"]) for e in entries]
            if ids != list(range(len(ids))):
                raise ValueError(f"class ids must be 0..{len(ids) - 1} without gaps, got {ids}")
            return cls(
                name=str(data.get("name", "unnamed")),
                names=tuple(str(e["name"]) for e in entries),
                colors=tuple(tuple(int(v) for v in e["color"]) for e in entries),  # type: ignore[misc]
            )
        except (KeyError, TypeError) as err:
            raise ValueError(f"malformed class set in {source}: {err}") from err


def load_classes(name_or_path: str | Path = "nyu40") -> ClassSet:
    """A class set from a YAML file, or by name from ``config/classes/NAME.yaml``."""
    path = Path(name_or_path)
    if not path.is_file():
        path = config_path(f"classes/{name_or_path}.yaml")
    with path.open() as f:
        data = yaml.safe_load(f)
    return ClassSet._from_mapping(data, source=str(path))
