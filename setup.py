"""asymfusion_ros: one repository that is both a ROS 2 ament_python package and a pip package."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "asymfusion_ros"

# The ros-kilted-* wheels give a machine with no ROS install a real rclpy (DDS included).
ROS_WHEELS = [
    "ros-kilted-rclpy",
    "ros-kilted-rmw-fastrtps-cpp",
    "ros-kilted-sensor-msgs",
    "ros-kilted-std-msgs",
    "ros-kilted-geometry-msgs",
    "ros-kilted-visualization-msgs",
    "ros-kilted-diagnostic-msgs",
]

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
    install_requires=["setuptools", "numpy", "pyyaml", "opencv-python-headless"],
    extras_require={
        "ros": ROS_WHEELS,
        "train": ["torch==2.13.0", "tqdm", "matplotlib", "h5py"],
        "onnx": ["onnx", "onnxruntime"],
        "bags": ["rosbags"],
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
        ],
    },
)
