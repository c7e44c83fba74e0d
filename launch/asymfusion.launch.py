"""Launch the asymfusion segmentation node, optionally with RViz.

    ros2 launch asymfusion_ros asymfusion.launch.py \\
        rgb_topic:=/camera/camera/color/image_raw \\
        depth_topic:=/camera/camera/aligned_depth_to_color/image_raw \\
        camera_info_topic:=/camera/camera/color/camera_info rviz:=true

Parameters come from ``params_file`` (default: the package's config/asymfusion.yaml); the
``model``, ``backend`` and ``precision`` arguments override it. Only launch and launch_ros
are imported: a plain ROS 2 install has both.
"""

from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.launch_description import LaunchDescription
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

PACKAGE = "asymfusion_ros"

ARGUMENTS = (
    ("model", "default", "model bundle: 'default', a shipped model's name, or a path (.onnx/.engine/.pt)"),
    ("backend", "auto", "auto | tensorrt | onnxruntime | torch"),
    ("precision", "fp16", "fp32 | fp16 | int8 (TensorRT and Torch on CUDA)"),
    ("rgb_topic", "/camera/color/image_raw", "colour image (rgb8, bgr8, rgba8, bgra8, mono8)"),
    ("depth_topic", "/camera/aligned_depth_to_color/image_raw", "depth aligned to colour"),
    ("camera_info_topic", "/camera/color/camera_info", "colour camera's CameraInfo"),
    ("namespace", "", "namespace of the node and its outputs"),
    ("params_file", "", "YAML parameters file (default: the package's config/asymfusion.yaml)"),
    ("use_sim_time", "false", "use /clock (bag playback)"),
    ("rviz", "false", "also start RViz with config/asymfusion.rviz"),
)


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare(PACKAGE)
    defaults = {"params_file": PathJoinSubstitution([share, "config", "asymfusion.yaml"])}
    args = [
        DeclareLaunchArgument(name, default_value=defaults.get(name, default), description=text)
        for name, default, text in ARGUMENTS
    ]
    use_sim_time = ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)
    node = Node(
        package=PACKAGE,
        executable="asymfusion_node",
        name="asymfusion",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        emulate_tty=True,
        parameters=[
            LaunchConfiguration("params_file"),
            {
                # value_type=str: a model path like "2024" must stay a string, not become an int
                "model": ParameterValue(LaunchConfiguration("model"), value_type=str),
                "backend": ParameterValue(LaunchConfiguration("backend"), value_type=str),
                "precision": ParameterValue(LaunchConfiguration("precision"), value_type=str),
                "use_sim_time": use_sim_time,
            },
        ],
        remappings=[
            ("rgb/image", LaunchConfiguration("rgb_topic")),
            ("depth/image", LaunchConfiguration("depth_topic")),
            ("rgb/camera_info", LaunchConfiguration("camera_info_topic")),
        ],
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        namespace=LaunchConfiguration("namespace"),
        arguments=["-d", PathJoinSubstitution([share, "config", "asymfusion.rviz"])],
        parameters=[{"use_sim_time": use_sim_time}],
        condition=IfCondition(LaunchConfiguration("rviz")),
    )
    return LaunchDescription([*args, node, rviz])
