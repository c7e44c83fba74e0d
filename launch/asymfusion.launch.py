"""Launch the asymfusion segmentation node, optionally with RViz.

    ros2 launch asymfusion_ros asymfusion.launch.py camera:=realsense rviz:=true
    ros2 launch asymfusion_ros asymfusion.launch.py \\
        rgb_topic:=/camera/camera/color/image_raw rgb_transport:=compressed \\
        depth_topic:=/camera/camera/aligned_depth_to_color/image_raw \\
        camera_info_topic:=/camera/camera/color/camera_info

``camera:=`` picks a driver's topics, transports and depth registration from
config/cameras.yaml (``none``: the topics below, depth trusted to be registered); each of
``rgb_topic``, ``depth_topic``, ``camera_info_topic``, ``depth_camera_info_topic``,
``rgb_transport``, ``depth_transport`` and ``depth_registration`` overrides the preset when
given. Parameters come from ``params_file`` (default: the package's config/asymfusion.yaml);
the ``model``, ``backend`` and ``precision`` arguments and the preset override it.

``lifecycle:=true`` starts the managed node (``asymfusion_lifecycle_node``) instead and
drives it from here: configure at start, activate once configured; later transitions are
the operator's (``ros2 lifecycle set``). Imports: launch, launch_ros, lifecycle_msgs (a
launch_ros dependency) and, when launching, this package's preset loader.
"""

from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction, RegisterEventHandler
from launch.conditions import IfCondition
from launch.events import matches_action
from launch.launch_context import LaunchContext
from launch.launch_description import LaunchDescription
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare
from lifecycle_msgs.msg import Transition

PACKAGE = "asymfusion_ros"
# (name, default, description); an input argument left "" takes the camera preset's value.
ARGUMENTS = (
    ("model", "default", "model bundle: 'default', a shipped model's name, or a path (.onnx/.engine/.pt)"),
    ("backend", "auto", "auto | tensorrt | onnxruntime | torch"),
    ("precision", "fp16", "fp32 | fp16 | int8 (TensorRT and Torch on CUDA)"),
    ("camera", "none", "driver preset (config/cameras.yaml): realsense, azure_kinect, zed, oakd, orbbec, "
     "openni2, none"),
    ("rgb_topic", "", "colour image (rgb8, bgr8, rgba8, bgra8, mono8); default: the preset's"),
    ("depth_topic", "", "depth image (16UC1, 32FC1); default: the preset's"),
    ("camera_info_topic", "", "colour camera's CameraInfo; default: the preset's"),
    ("depth_camera_info_topic", "", "depth camera's CameraInfo; default: the preset's"),
    ("rgb_transport", "", "raw | compressed; default: the preset's"),
    ("depth_transport", "", "raw | compressedDepth; default: the preset's"),
    ("depth_registration", "", "auto | assume_registered | off; default: the preset's"),
    ("namespace", "", "namespace of the node and its outputs"),
    ("params_file", "", "YAML parameters file (default: the package's config/asymfusion.yaml)"),
    ("use_sim_time", "false", "use /clock (bag playback)"),
    ("rviz", "false", "also start RViz with config/asymfusion.rviz"),
    ("lifecycle", "false", "start the lifecycle node, configured and activated by this launch file"),
)  # fmt: skip


def change_state(node: LifecycleNode, transition_id: int) -> EmitEvent:
    """An action asking ``node`` to take a lifecycle transition (launch_ros calls its ChangeState)."""
    return EmitEvent(
        event=ChangeState(lifecycle_node_matcher=matches_action(node), transition_id=transition_id)
    )


def segmentation_node(context: LaunchContext) -> list:
    """The node (plain or lifecycle, with its transitions) for the chosen camera preset and overrides."""
    from asymfusion_ros.ros.camera_presets import load_camera_preset  # installed with this launch file

    def argument(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    preset = load_camera_preset(argument("camera"))

    def chosen(name: str, preset_value: str) -> str:
        return argument(name) or preset_value

    options = dict(
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
                "use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool),
                "rgb_transport": chosen("rgb_transport", preset.rgb_transport.value),
                "depth_transport": chosen("depth_transport", preset.depth_transport.value),
                "depth_registration": chosen("depth_registration", preset.depth_registration.value),
            },
        ],
        remappings=[
            ("rgb/image", chosen("rgb_topic", preset.rgb_image)),
            ("depth/image", chosen("depth_topic", preset.depth_image)),
            ("rgb/camera_info", chosen("camera_info_topic", preset.rgb_info)),
            ("depth/camera_info", chosen("depth_camera_info_topic", preset.depth_info)),
        ],
    )
    if not IfCondition(LaunchConfiguration("lifecycle")).evaluate(context):
        return [Node(executable="asymfusion_node", **options)]
    managed = LifecycleNode(executable="asymfusion_lifecycle_node", **options)
    # Activate once configure succeeded (start_state: not again after an operator's deactivate).
    activate_when_configured = RegisterEventHandler(
        OnStateTransition(
            target_lifecycle_node=managed,
            start_state="configuring",
            goal_state="inactive",
            entities=[change_state(managed, Transition.TRANSITION_ACTIVATE)],
        )
    )
    return [activate_when_configured, managed, change_state(managed, Transition.TRANSITION_CONFIGURE)]


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare(PACKAGE)
    defaults = {"params_file": PathJoinSubstitution([share, "config", "asymfusion.yaml"])}
    args = [
        DeclareLaunchArgument(name, default_value=defaults.get(name, default), description=text)
        for name, default, text in ARGUMENTS
    ]
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        namespace=LaunchConfiguration("namespace"),
        arguments=["-d", PathJoinSubstitution([share, "config", "asymfusion.rviz"])],
        parameters=[{"use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)}],
        condition=IfCondition(LaunchConfiguration("rviz")),
    )
    return LaunchDescription([*args, OpaqueFunction(function=segmentation_node), rviz])
