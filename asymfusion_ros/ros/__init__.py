"""The ROS 2 adapter: message conversions, synchronisation, the frame pipeline, the node.

rclpy-free (replay uses them with rosbags): ``problems`` (the fault vocabulary), ``messages``,
``frames``, ``sync``, ``outputs``, ``frame_pipeline`` (the per-frame sequence node and replay
share) and ``params`` (rclpy only inside its declaring functions). ``node``, ``diagnostics``,
``camera`` and ``demo`` import rclpy.
"""
