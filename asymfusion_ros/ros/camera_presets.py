"""Camera presets: one driver's input topics, transports and depth registration, from config/cameras.yaml.

The table (with the source of every topic name) is ``config/cameras.yaml``; this module reads
and checks it, so the launch file, the node and the tests see the same values. No rclpy.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from asymfusion_ros.registration import DepthRegistration
from asymfusion_ros.resources import config_path
from asymfusion_ros.ros.compressed import Transport

PRESETS_FILE = "cameras.yaml"


class PresetError(ValueError):
    """An unknown preset name, or a preset with missing or invalid entries."""


@dataclasses.dataclass(frozen=True)
class CameraPreset:
    """One driver's topics as its default launch file publishes them (see config/cameras.yaml)."""

    name: str
    rgb_image: str
    rgb_info: str
    depth_image: str
    depth_info: str
    rgb_transport: Transport
    depth_transport: Transport
    transports: tuple[Transport, ...]
    depth_registration: DepthRegistration
    aligned_by: str
    source: str


_TOPICS = ("rgb_image", "rgb_info", "depth_image", "depth_info", "aligned_by", "source")
_RGB_TRANSPORTS = (Transport.RAW, Transport.COMPRESSED)
_DEPTH_TRANSPORTS = (Transport.RAW, Transport.COMPRESSED_DEPTH)
KEYS = tuple(field.name for field in dataclasses.fields(CameraPreset) if field.name != "name")
"""The entries every preset in the file must have."""


def _enum(kind: type[Any], value: Any, where: str) -> Any:
    try:
        return kind(value)
    except ValueError as err:
        choices = " | ".join(str(member.value) for member in kind)
        raise PresetError(f"{where}: {value!r} is not one of {choices}") from err


def _preset(name: str, entry: Any) -> CameraPreset:
    if not isinstance(entry, dict):
        raise PresetError(f"camera preset {name!r} must be a mapping, got {type(entry).__name__}")
    missing = [key for key in KEYS if key not in entry]
    unknown = sorted(set(entry) - set(KEYS))
    if missing or unknown:
        raise PresetError(f"camera preset {name!r}: missing {missing}, unknown {unknown}")
    for key in _TOPICS:
        if not isinstance(entry[key], str) or not entry[key]:
            raise PresetError(f"camera preset {name!r}: {key} must be a non-empty string")
    transports = tuple(_enum(Transport, t, f"{name}.transports") for t in entry["transports"])
    preset = CameraPreset(
        name=name,
        **{key: entry[key] for key in _TOPICS},
        rgb_transport=_enum(Transport, entry["rgb_transport"], f"{name}.rgb_transport"),
        depth_transport=_enum(Transport, entry["depth_transport"], f"{name}.depth_transport"),
        transports=transports,
        depth_registration=_enum(
            DepthRegistration, entry["depth_registration"], f"{name}.depth_registration"
        ),
    )
    if preset.rgb_transport not in _RGB_TRANSPORTS or preset.depth_transport not in _DEPTH_TRANSPORTS:
        raise PresetError(
            f"camera preset {name!r}: colour reads raw or compressed, depth raw or compressedDepth "
            f"(got {preset.rgb_transport.value}, {preset.depth_transport.value})"
        )
    if {preset.rgb_transport, preset.depth_transport} - set(transports):
        raise PresetError(f"camera preset {name!r} uses a transport its driver does not offer")
    return preset


def load_camera_presets(path: Path | None = None) -> dict[str, CameraPreset]:
    """Every preset of ``path`` (default: the package's config/cameras.yaml), checked."""
    path = path or config_path(PRESETS_FILE)
    with open(path, encoding="utf-8") as stream:
        table = yaml.safe_load(stream)
    if not isinstance(table, dict):
        raise PresetError(f"{path} must map preset names to presets")
    return {str(name): _preset(str(name), entry) for name, entry in table.items()}


def load_camera_preset(name: str, path: Path | None = None) -> CameraPreset:
    """One preset by name: realsense, azure_kinect, zed, oakd, orbbec, openni2 or none."""
    presets = load_camera_presets(path)
    if name not in presets:
        raise PresetError(f"unknown camera preset {name!r} (choose one of {', '.join(presets)})")
    return presets[name]


__all__ = ["KEYS", "CameraPreset", "PresetError", "load_camera_preset", "load_camera_presets"]
