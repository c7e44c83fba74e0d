"""Camera paths: a short straight glide with a smooth pan and bob, clear of the furniture."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from asymfusion_ros.data.synthetic.layout import RoomLayout
from asymfusion_ros.data.synthetic.scene import Pose, Vec3


@dataclass(frozen=True)
class CameraPath:
    """A short straight glide with a smooth pan and bob; ``pose(s)`` for s in [0, 1]."""

    start_m: tuple[float, float]
    end_m: tuple[float, float]
    height_m: float
    yaw_rad: float
    sweep_rad: float
    pitch_rad: float
    bob_rad: float
    phase: float
    roll_rad: float

    def pose(self, s: float) -> Pose:
        x = self.start_m[0] + s * (self.end_m[0] - self.start_m[0])
        z = self.start_m[1] + s * (self.end_m[1] - self.start_m[1])
        wave = math.sin(2 * math.pi * s + self.phase)
        return Pose(
            (x, self.height_m + 0.03 * math.sin(4 * math.pi * s + self.phase), z),
            self.yaw_rad + self.sweep_rad * (s - 0.5),
            self.pitch_rad + self.bob_rad * wave,
            self.roll_rad * wave,
        )


def _open_distance(size: Vec3, x: float, z: float, yaw: float) -> float:
    """Horizontal distance from (x, z) to the wall straight ahead at ``yaw``."""
    dx, dz = math.sin(yaw), math.cos(yaw)
    tx = ((size[0] if dx > 0 else 0.0) - x) / dx if abs(dx) > 1e-9 else math.inf
    tz = ((size[2] if dz > 0 else 0.0) - z) / dz if abs(dz) > 1e-9 else math.inf
    return min(tx, tz)


def random_camera_path(layout: RoomLayout, rng: np.random.Generator) -> CameraPath | None:
    """A free path in the room that never stares at a bare wall from close by, aimed (mid-path)
    at a cue item or a piece of furniture most of the time, as people point a camera at things;
    None if no such path is found."""
    targets = layout.targets + [s.center_m for s in layout.solids]
    size_x, _, size_z = layout.size
    for _ in range(200):
        x0, z0 = rng.uniform(0.6, size_x - 0.6), rng.uniform(0.6, size_z - 0.6)
        if not layout.is_free(x0, z0):
            continue
        heading, dist = rng.uniform(0, 2 * math.pi), rng.uniform(0.0, 1.5)
        x1, z1 = x0 + dist * math.cos(heading), z0 + dist * math.sin(heading)
        if not all(layout.is_free(x0 + s * (x1 - x0), z0 + s * (z1 - z0)) for s in np.linspace(0, 1, 7)):
            x1, z1 = x0, z0
        mx, mz = (x0 + x1) / 2, (z0 + z1) / 2
        height = rng.uniform(1.0, 1.6)
        far_targets = [t for t in targets if math.hypot(t[0] - mx, t[2] - mz) > 1.5]
        if far_targets and rng.random() < 0.85:
            tx, ty, tz = far_targets[int(rng.integers(len(far_targets)))]
            yaw = math.atan2(tx - mx, tz - mz) + rng.uniform(-0.3, 0.3)
            pitch = math.atan2(ty - height, math.hypot(tx - mx, tz - mz)) + rng.uniform(-0.15, 0.15)
        else:
            yaw, pitch = rng.uniform(0, 2 * math.pi), rng.uniform(-0.4, 0.05)
        sweep = rng.uniform(-0.8, 0.8)
        ends = [(x, z, yaw + sweep * (s - 0.5)) for x, z, s in ((x0, z0, 0.0), (mx, mz, 0.5), (x1, z1, 1.0))]
        if min(_open_distance(layout.size, x, z, a) for x, z, a in ends) < 1.5:
            continue
        return CameraPath(
            (x0, z0),
            (x1, z1),
            height,
            yaw,
            sweep,
            float(np.clip(pitch, -0.6, 0.15)),
            rng.uniform(0.0, 0.08),
            rng.uniform(0, 2 * math.pi),
            rng.uniform(-0.04, 0.04),
        )
    return None
