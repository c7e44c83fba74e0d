"""The ROS 2 adapter: message conversions, synchronisation, the node and its camera stand-in.

``messages``, ``frames`` and ``sync`` import no rclpy (replay uses them with rosbags); ``node``,
``params``, ``diagnostics`` and ``camera`` do.
"""
