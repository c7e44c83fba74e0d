"""Endless synthetic RGB-D streams: rooms and camera paths by (seed, room), frames by (seed, index)."""

from __future__ import annotations

import numpy as np

from asymfusion_ros.data.sample import RGBDSample, kinect_intrinsics
from asymfusion_ros.data.synthetic.camera_path import CameraPath, random_camera_path
from asymfusion_ros.data.synthetic.furnish import random_room
from asymfusion_ros.data.synthetic.render import render
from asymfusion_ros.data.synthetic.scene import Pose, Room
from asymfusion_ros.data.synthetic.sensor import KINECT_V1, SensorModel


class SyntheticScenes:
    """Endless synthetic RGB-D frames: ``frame(i)`` is deterministic by (seed, i).

    Frame i shows room ``i // frames_per_room`` at step ``i % frames_per_room`` of its camera
    path; ``sensor`` None renders ideal depth.
    """

    def __init__(
        self,
        size: tuple[int, int] = (480, 640),
        seed: int = 0,
        *,
        frames_per_room: int = 30,
        sensor: SensorModel | None = KINECT_V1,
    ) -> None:
        if len(size) != 2 or min(size) < 8:
            raise ValueError(f"size must be (H, W) with both >= 8, got {size}")
        if seed < 0 or frames_per_room < 1:
            raise ValueError(f"need seed >= 0 and frames_per_room >= 1, got {seed}, {frames_per_room}")
        self.size = (int(size[0]), int(size[1]))
        self.seed = int(seed)
        self.frames_per_room = int(frames_per_room)
        self.sensor = sensor
        self.K = kinect_intrinsics(self.size)
        self._cached: tuple[int, Room, CameraPath] | None = None

    def scene(self, room_index: int) -> tuple[Room, CameraPath]:
        """Room ``room_index`` and its camera path (rerolled until a camera fits)."""
        if self._cached is not None and self._cached[0] == room_index:
            return self._cached[1], self._cached[2]
        rng = np.random.default_rng([self.seed, room_index, 0])
        while True:
            room, furnisher = random_room(rng)
            path = random_camera_path(furnisher, rng)
            if path is not None:
                break
        self._cached = (room_index, room, path)
        return room, path

    def pose(self, index: int) -> Pose:
        _, path = self.scene(index // self.frames_per_room)
        step = index % self.frames_per_room
        return path.pose(step / (self.frames_per_room - 1) if self.frames_per_room > 1 else 0.5)

    def frame(self, index: int) -> RGBDSample:
        if index < 0:
            raise ValueError(f"frame index must be >= 0, got {index}")
        room, _ = self.scene(index // self.frames_per_room)
        rng = np.random.default_rng([self.seed, index, 1])
        return render(room, self.pose(index), self.size, intrinsics=self.K, sensor=self.sensor, rng=rng)
