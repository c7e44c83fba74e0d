"""ros/camera_presets.py and config/cameras.yaml: every preset complete and valid, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from asymfusion_ros.registration import DepthRegistration
from asymfusion_ros.resources import config_path
from asymfusion_ros.ros.camera_presets import KEYS, PresetError, load_camera_preset, load_camera_presets
from asymfusion_ros.ros.compressed import Transport

DRIVERS = ("realsense", "azure_kinect", "zed", "oakd", "orbbec", "openni2")


def test_every_preset_has_every_key() -> None:
    table = yaml.safe_load(config_path("cameras.yaml").read_text(encoding="utf-8"))
    assert set(table) == {*DRIVERS, "none"}
    for name, entry in table.items():
        assert set(entry) == set(KEYS), name
    presets = load_camera_presets()
    for name in DRIVERS:
        preset = presets[name]
        assert preset.source.startswith("https://github.com/"), name
        for topic in (preset.rgb_image, preset.rgb_info, preset.depth_image, preset.depth_info):
            assert topic.startswith("/"), (name, topic)  # absolute: the driver's own namespace
        assert preset.rgb_info.endswith("camera_info") and preset.depth_info.endswith("camera_info")
        assert preset.depth_registration is DepthRegistration.AUTO
        assert Transport.COMPRESSED_DEPTH in preset.transports


def test_load_one_preset() -> None:
    preset = load_camera_preset("realsense")
    assert preset.rgb_image == "/camera/camera/color/image_raw"
    assert preset.rgb_transport is Transport.RAW
    assert "align_depth.enable:=true" in preset.aligned_by
    assert load_camera_preset("none").depth_registration is DepthRegistration.ASSUME_REGISTERED


def test_unknown_name_lists_the_presets() -> None:
    with pytest.raises(PresetError, match=r"unknown camera preset 'kinect'.*realsense, azure_kinect"):
        load_camera_preset("kinect")


def write(tmp_path: Path, **changes: object) -> Path:
    table = yaml.safe_load(config_path("cameras.yaml").read_text(encoding="utf-8"))
    entry = dict(table["realsense"], **changes)
    for key in [k for k, v in changes.items() if v is None]:
        del entry[key]
    path = tmp_path / "cameras.yaml"
    path.write_text(yaml.safe_dump({"custom": entry}), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"depth_info": None}, r"missing \['depth_info'\]"),
        ({"fps": 30}, r"unknown \['fps'\]"),
        ({"depth_registration": "maybe"}, "auto | assume_registered | off"),
        ({"rgb_transport": "theora"}, "raw | compressed | compressedDepth"),
        ({"rgb_transport": "compressedDepth"}, "colour reads raw or compressed"),
        ({"depth_transport": "compressedDepth", "transports": ["raw"]}, "does not offer"),
        ({"rgb_image": ""}, "non-empty"),
    ],
)
def test_bad_presets_are_refused(tmp_path: Path, changes: dict[str, object], message: str) -> None:
    with pytest.raises(PresetError, match=message):
        load_camera_preset("custom", write(tmp_path, **changes))
