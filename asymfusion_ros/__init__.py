"""asymfusion_ros: RGB-D semantic segmentation with AsymFusion, for ROS 2 and edge GPUs.

Core subpackages (`fusion`, `data`, `inference`, `geometry`, `metrics`) never import rclpy,
so training, export and bag replay run on machines with no ROS at all; `ros` is the adapter.
"""

__version__ = "0.1.0"
