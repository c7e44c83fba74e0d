"""launch/asymfusion.launch.py without launch installed: it compiles, imports only launch,
launch_ros, lifecycle_msgs and this package's preset loader, declares the arguments docs/node.md
documents, and remaps the node's inputs."""

from __future__ import annotations

import ast
import py_compile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
LAUNCH = REPO / "launch" / "asymfusion.launch.py"
EXPECTED_ARGUMENTS = {
    "model", "backend", "precision", "rgb_topic", "depth_topic", "camera_info_topic",
    "namespace", "params_file", "use_sim_time", "rviz", "lifecycle", "camera",
    "depth_camera_info_topic", "rgb_transport", "depth_transport", "depth_registration",
}  # fmt: skip


def tree() -> ast.Module:
    return ast.parse(LAUNCH.read_text(), filename=str(LAUNCH))


def test_launch_file_compiles(tmp_path: Path) -> None:
    py_compile.compile(str(LAUNCH), cfile=str(tmp_path / "launch.pyc"), doraise=True)


def test_launch_file_imports_only_launch_launch_ros_lifecycle_msgs_and_the_preset_loader() -> None:
    modules = set()
    for node in ast.walk(tree()):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(
                node.module if node.module.startswith("asymfusion_ros") else node.module.split(".")[0]
            )
        elif isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
    assert modules <= {"launch", "launch_ros", "lifecycle_msgs", "asymfusion_ros.ros.camera_presets"}, modules


def test_launch_arguments_and_remappings() -> None:
    module = tree()
    assignments = {getattr(n.targets[0], "id", ""): n.value for n in module.body if isinstance(n, ast.Assign)}
    arguments = assignments["ARGUMENTS"]
    declared = ast.literal_eval(arguments)
    assert {name for name, _, _ in declared} == EXPECTED_ARGUMENTS
    assert all(description for _, _, description in declared)
    assert ast.get_docstring(module)
    source = LAUNCH.read_text()
    for topic, argument in (("rgb/image", "rgb_topic"), ("depth/image", "depth_topic"),
                            ("rgb/camera_info", "camera_info_topic"),
                            ("depth/camera_info", "depth_camera_info_topic")):  # fmt: skip
        assert f'("{topic}", chosen("{argument}", preset.' in source, topic  # the argument, else the preset
    assert '"asymfusion_node"' in source and '"asymfusion.rviz"' in source and '"asymfusion.yaml"' in source
    # lifecycle:=true: the managed node, configured at start and activated once configured
    assert '"asymfusion_lifecycle_node"' in source
    assert "Transition.TRANSITION_CONFIGURE" in source and "Transition.TRANSITION_ACTIVATE" in source


def test_params_file_matches_the_node_parameters() -> None:
    from asymfusion_ros.ros.params import PARAMS, Settings, apply

    values = yaml.safe_load((REPO / "config" / "asymfusion.yaml").read_text())["/**"]["ros__parameters"]
    assert set(values) == {p.name for p in PARAMS}
    assert apply(Settings(), values.items()) == Settings()  # the file documents the defaults


def test_rviz_config_shows_the_node_outputs_in_the_camera_frame() -> None:
    config = yaml.safe_load((REPO / "config" / "asymfusion.rviz").read_text())["Visualization Manager"]
    assert config["Global Options"]["Fixed Frame"] == "camera_color_optical_frame"
    displays = {d["Class"]: d for d in config["Displays"]}
    assert displays["rviz_default_plugins/Image"]["Topic"]["Value"] == "segmentation/overlay"
    cloud = displays["rviz_default_plugins/PointCloud2"]
    assert cloud["Topic"]["Value"] == "segmentation/points" and cloud["Color Transformer"] == "RGB8"
    assert displays["rviz_default_plugins/MarkerArray"]["Topic"]["Value"] == "segmentation/class_tags"


def test_every_parameter_and_output_is_documented() -> None:
    from asymfusion_ros.ros.params import PARAMS

    node_doc = (REPO / "docs" / "node.md").read_text()
    rows = {line.split("|")[1].strip().strip("`") for line in node_doc.splitlines() if line.startswith("| `")}
    assert {p.name for p in PARAMS} <= rows
    outputs = {"labels", "color", "overlay", "confidence", "points", "class_tags", "classes"}
    topics = {f"segmentation/{name}" for name in outputs} | {"rgb/image", "depth/image", "rgb/camera_info"}
    assert topics <= rows
