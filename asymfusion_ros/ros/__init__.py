"""The ROS 2 adapter: message conversions, synchronisation, the frame pipeline, the nodes.

rclpy-free (replay uses them with rosbags): ``problems`` (the fault vocabulary), ``messages``,
``compressed`` and ``rvl`` (CompressedImage codecs), ``transforms`` (/tf_static),
``camera_presets``, ``frames``, ``depth_input`` (decoding either transport, depth into colour
pixels), ``sync``, ``outputs``, ``frame_pipeline`` (the per-frame sequence node and replay
share) and ``params`` (rclpy only inside its declaring functions). ``node_core`` (the work
both node classes share), ``node``, ``lifecycle_node``, ``diagnostics``, ``camera`` and
``demo`` import rclpy.
"""
