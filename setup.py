"""asymfusion_ros: one repository that is both a ROS 2 ament_python package and a pip package."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "asymfusion_ros"

# The ros-<distro>-* wheels give a machine with no ROS install a real rclpy (DDS included):
# Kilted for the main venv, Jazzy (the LTS, Python 3.12) for `make test-jazzy`.
ROS_PACKAGES = [
    "rclpy",
    "rmw-fastrtps-cpp",
    "sensor-msgs",
    "std-msgs",
    "geometry-msgs",
    "visualization-msgs",
    "diagnostic-msgs",
    "lifecycle-msgs",
]


def ros_wheels(distro: str) -> list[str]:
    """The PyPI names of ROS_PACKAGES for one ROS 2 distribution."""
    return [f"ros-{distro}-{name}" for name in ROS_PACKAGES]


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    python_requires=">=3.10",
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.rviz")),
        (f"share/{PACKAGE}/config/classes", glob("config/classes/*.yaml")),
        (f"share/{PACKAGE}/config/train", glob("config/train/*.yaml")),
        (f"share/{PACKAGE}/models", glob("models/*.onnx") + glob("models/*.md")),
    ],
    # What the node and replay need at run time (colcon ignores this; package.xml and the
    # README's "Run on a robot" cover a ROS install). torch is not here: the node runs on ONNX
    # Runtime or TensorRT, and torch is only for training, export and the torch backend.
    install_requires=[
        "setuptools",
        "numpy",
        "pyyaml",
        "opencv-python-headless",
        "onnx",
        "onnxruntime",
        "tqdm",
    ],
    extras_require={
        "ros": ros_wheels("kilted"),
        "ros-jazzy": ros_wheels("jazzy"),
        # A range, not a pin: Jetson users bring NVIDIA's torch; the Makefile pins 2.13.0 (CPU).
        "train": ["torch>=2.1", "matplotlib", "h5py"],
        "bags": ["rosbags", "matplotlib"],
        # TensorRT itself comes with JetPack or NVIDIA's wheels; this is its CUDA memory helper.
        "tensorrt": ["cuda-python"],
        # `asymfusion replay --ray`: many bags as Ray tasks, on this machine or a cluster.
        "fleet": ["ray>=2.40"],
        "dev": ["pytest", "pytest-timeout", "ruff", "mypy", "types-PyYAML", "colcon-common-extensions"],
    },
    zip_safe=True,
    maintainer="asymfusion_ros maintainers",
    maintainer_email="maintainers@asymfusion-ros.invalid",
    description="RGB-D semantic segmentation with AsymFusion for ROS 2, TensorRT on edge GPUs.",
    license="BSD-3-Clause",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "asymfusion = asymfusion_ros.cli:main",
            "asymfusion_node = asymfusion_ros.ros.node:main",
            "asymfusion_lifecycle_node = asymfusion_ros.ros.lifecycle_node:main",
        ],
    },
)
