"""Launch the asymfusion segmentation node, optionally with RViz.

    ros2 launch asymfusion_ros asymfusion.launch.py \\
        rgb_topic:=/camera/camera/color/image_raw \\
        depth_topic:=/camera/camera/aligned_depth_to_color/image_raw \\
        camera_info_topic:=/camera/camera/color/camera_info rviz:=true

Parameters come from ``params_file`` (default: the package's config/asymfusion.yaml); the
``model``, ``backend`` and ``precision`` arguments override it. ``lifecycle:=true`` starts
the managed node (``asymfusion_lifecycle_node``) instead and drives it from here:
configure at start, activate once configured; later transitions are the operator's
(``ros2 lifecycle set``). Only launch, launch_ros and lifecycle_msgs (a launch_ros
dependency) are imported: a plain ROS 2 install has them.
"""

from launch.actions import DeclareLaunchArgument, EmitEvent, RegisterEventHandler
from launch.conditions import IfCondition, UnlessCondition
from launch.events import matches_action
from launch.launch_description import LaunchDescription
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare
from lifecycle_msgs.msg import Transition

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
    ("lifecycle", "false", "start the lifecycle node, configured and activated by this launch file"),
)


def change_state(node: LifecycleNode, transition_id: int, **kwargs: object) -> EmitEvent:
    """An action asking ``node`` to take a lifecycle transition (launch_ros calls its ChangeState)."""
    event = ChangeState(lifecycle_node_matcher=matches_action(node), transition_id=transition_id)
    return EmitEvent(event=event, **kwargs)


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare(PACKAGE)
    defaults = {"params_file": PathJoinSubstitution([share, "config", "asymfusion.yaml"])}
    args = [
        DeclareLaunchArgument(name, default_value=defaults.get(name, default), description=text)
        for name, default, text in ARGUMENTS
    ]
    use_sim_time = ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)
    node_options = dict(
        package=PACKAGE,
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
    lifecycle = LaunchConfiguration("lifecycle")
    node = Node(executable="asymfusion_node", condition=UnlessCondition(lifecycle), **node_options)
    managed = LifecycleNode(
        executable="asymfusion_lifecycle_node", condition=IfCondition(lifecycle), **node_options
    )
    # Activate once configure succeeded (start_state: not again after an operator's deactivate).
    activate_when_configured = RegisterEventHandler(
        OnStateTransition(
            target_lifecycle_node=managed,
            start_state="configuring",
            goal_state="inactive",
            entities=[change_state(managed, Transition.TRANSITION_ACTIVATE)],
        ),
        condition=IfCondition(lifecycle),
    )
    configure = change_state(managed, Transition.TRANSITION_CONFIGURE, condition=IfCondition(lifecycle))
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        namespace=LaunchConfiguration("namespace"),
        arguments=["-d", PathJoinSubstitution([share, "config", "asymfusion.rviz"])],
        parameters=[{"use_sim_time": use_sim_time}],
        condition=IfCondition(LaunchConfiguration("rviz")),
    )
    return LaunchDescription([*args, node, activate_when_configured, managed, configure, rviz])
