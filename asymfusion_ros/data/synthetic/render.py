"""Rendering a room from a pose: ray cast, texture, shade, then (optionally) the sensor model.

Shading is albedo (a solid texture of world position) times ambient light (darkened by
:func:`_occlusion` in corners and around furniture) plus Lambertian point lights with a soft
distance fall-off; decals repaint the pixels of the surface they lie on. With a sensor model,
a frame may get NYUv2's border (no depth outside its window, white void RGB border).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from asymfusion_ros.data.sample import RGBDSample, kinect_intrinsics
from asymfusion_ros.data.synthetic.raycast import Point, box_corners, camera_rays, cast_rays, solid_normals
from asymfusion_ros.data.synthetic.scene import (
    SURFACE_AXES,
    SURFACE_LABELS,
    VOID,
    Decal,
    Material,
    Pattern,
    Pose,
    Room,
    Surface,
)
from asymfusion_ros.data.synthetic.sensor import SensorModel, camera_rgb, frame_border, sensor_depth

_SURFACE_NORMALS = np.array(
    [[0, 1, 0], [0, -1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, 1], [0, 0, -1]], dtype=np.float32
)
"""Inward normal of each ``Surface`` (the object ids 0-5 of the renderer)."""


def _albedo(m: Material, p: np.ndarray) -> np.ndarray:
    """(3, n) float32 albedo of material ``m`` at world points ``p`` (3, n)."""
    c1 = np.asarray(m.color, dtype=np.float32)[:, None]
    if m.pattern is Pattern.PLAIN:
        return np.broadcast_to(c1, (3, p.shape[1]))
    a = np.asarray(m.axis, dtype=np.float32) @ p
    b = np.asarray(m.axis2, dtype=np.float32) @ p
    f = np.float32(2.0 * math.pi / m.period_m)
    ph = np.float32(m.phase)
    if m.pattern is Pattern.NOISE:
        w = 0.5 + 0.25 * (np.sin(f * a + ph) * np.sin(0.61 * f * b - ph) + np.sin(1.7 * f * b + 2.3 * f * a))
    elif m.pattern is Pattern.STRIPES:
        w = (np.sin(f * a + ph) > 0.0).astype(np.float32)
    elif m.pattern is Pattern.TILES:
        w = ((np.floor(a / m.period_m + ph) + np.floor(b / m.period_m + ph)) % 2.0).astype(np.float32)
    elif m.pattern is Pattern.GRAIN:
        w = 0.5 + 0.5 * np.sin(f * a + 3.0 * np.sin(0.37 * f * b + ph))
    elif m.pattern is Pattern.PICTURE:
        w = 0.5 + 0.5 * np.sin(f * a + ph) * np.cos(1.3 * f * b + 2.0 * ph)
    elif m.pattern is Pattern.FABRIC:  # soft folds and mottling, plus a faint weave
        w = (
            0.5
            + 0.3 * np.sin(f * a + ph) * np.sin(0.8 * f * b)
            + 0.2 * np.sin(40.0 * f * a) * np.sin(37.0 * f * b)
        )
    elif m.pattern is Pattern.BOOKS:  # each spine its own mix of the two colours, per channel
        spine = np.floor(a / np.float32(m.period_m) + ph)
        mix = np.stack([np.sin(spine * k + ph) * 43758.5453 % 1.0 for k in (12.9898, 78.233, 37.719)])
        c1, c2 = np.asarray(m.color, np.float32)[:, None], np.asarray(m.color2, np.float32)[:, None]
        return (c1 + mix.astype(np.float32) * (c2 - c1)) * np.float32(0.85 + 0.15 * np.cos(f * b))
    else:  # GLASS: a bright view through the window, paler towards the horizon
        w = np.clip((p[1] - 0.8) / 1.6, 0.0, 1.0)
    c2 = np.asarray(m.color2, dtype=np.float32)[:, None]
    return c1 + w.astype(np.float32)[None] * (c2 - c1)


def render(
    room: Room,
    pose: Pose,
    size: tuple[int, int] = (480, 640),
    *,
    intrinsics: np.ndarray | None = None,
    sensor: SensorModel | None = None,
    rng: np.random.Generator | None = None,
) -> RGBDSample:
    """Render ``room`` from ``pose`` at ``size`` (H, W).

    With ``sensor`` None the result is ideal (exact depth rounded to mm, no noise): handy for
    checking geometry. With a sensor model, ``rng`` drives its noise and drop-outs.
    """
    h, w = size
    intr = kinect_intrinsics(size) if intrinsics is None else np.asarray(intrinsics, dtype=np.float64)
    rot = pose.rotation()
    o: Point = (float(pose.position_m[0]), float(pose.position_m[1]), float(pose.position_m[2]))
    dirs = np.tensordot(rot.astype(np.float32), camera_rays(h, w, intr.tobytes()), axes=1)
    dirs[dirs == 0.0] = 1e-9  # no exact zeros: keeps 1/d finite-signed everywhere below
    depth, obj = cast_rays(room, o, rot, intr, dirs)
    hits = Hits.gather(room, o, dirs, depth, obj)
    rgb_f: np.ndarray = cv2.merge([hits.scatter(plane).reshape(h, w) for plane in hits.radiance(room)])
    labels = hits.scatter(hits.labels).reshape(h, w)
    if sensor is None:
        depth_m = depth
    else:
        gen = rng if rng is not None else np.random.default_rng(0)
        returns = hits.scatter(hits.returns).reshape(h, w) if hits.returns.min() < 1.0 else None
        depth_m = sensor_depth(depth, hits.scatter(hits.view_cos()).reshape(h, w), returns, sensor, gen)
        rgb_f = camera_rgb(rgb_f, sensor, gen)
        if gen.random() < sensor.border_prob:
            no_depth, white = frame_border(h, w, sensor)
            depth_m = np.where(no_depth, np.float32(0.0), depth_m)
            rgb_f[white] = 255.0
            labels = np.where(white, np.uint8(VOID), labels)
    rgb = np.clip(rgb_f, 0.0, 255.0).astype(np.uint8)
    depth_mm = np.round(depth_m * np.float32(1000.0)) / np.float32(1000.0)
    return RGBDSample(rgb, depth_mm.astype(np.float32), labels, intr)


@dataclass(frozen=True)
class Hits:
    """The surface point under every pixel, in "object order": pixels sorted by object id so
    each object's pixels are one contiguous run, textured and shaded with one vector call.
    Arrays are (3, n) or (n,) in that order; ``scatter`` puts values back in image order."""

    order: np.ndarray
    dirs: np.ndarray
    points: np.ndarray
    normals: np.ndarray
    albedo: np.ndarray
    labels: np.ndarray
    returns: np.ndarray

    @classmethod
    def gather(cls, room: Room, o: Point, dirs: np.ndarray, depth: np.ndarray, obj: np.ndarray) -> Hits:
        flat = obj.ravel()
        order = np.argsort(flat, kind="stable")
        d = np.stack([np.take(dirs[a].ravel(), order) for a in range(3)])
        p = np.asarray(o, dtype=np.float32)[:, None] + np.take(depth.ravel(), order)[None] * d
        hits = cls(
            order,
            d,
            p,
            np.empty_like(p),
            np.empty_like(p),
            np.empty(flat.size, dtype=np.uint8),
            np.empty(flat.size, dtype=np.float32),
        )
        surfaces = (room.floor, room.ceiling, *room.walls)
        start = 0
        for k, count in enumerate(np.bincount(flat, minlength=6 + len(room.solids)).tolist()):
            run = slice(start, start + count)
            start += count
            if not count:
                continue
            if k < 6:
                hits.normals[:, run] = _SURFACE_NORMALS[k][:, None]
                material, label = surfaces[k], SURFACE_LABELS[k]
            else:
                solid = room.solids[k - 6]
                hits.normals[:, run] = solid_normals(solid, p[:, run])
                material, label = solid.material, solid.label
            hits.albedo[:, run] = _albedo(material, p[:, run])
            hits.labels[run] = label
            hits.returns[run] = material.depth_return
            if k < 6:
                _paint_decals(
                    room.decals,
                    Surface(k),
                    p[:, run],
                    hits.albedo[:, run],
                    hits.labels[run],
                    hits.returns[run],
                )
        return hits

    def radiance(self, room: Room) -> np.ndarray:
        """(3, n) RGB 0..255: albedo x (ambient x occlusion + Lambertian point lights with soft
        fall-off)."""
        size = room.size_m
        main = room.light_m if room.light_m is not None else (size[0] / 2, size[1] - 0.3, size[2] / 2)
        shade = np.full(self.points.shape[1], np.float32(room.ambient), dtype=np.float32)
        if room.occlusion > 0.0:
            shade *= _occlusion(room, self.points)
        for position, power in ((main, room.light_power), *room.more_lights):
            to_light = np.asarray(position, dtype=np.float32)[:, None] - self.points
            dist2 = np.einsum("in,in->n", to_light, to_light)
            lambert = np.maximum(np.einsum("in,in->n", self.normals, to_light), 0.0) / np.sqrt(dist2 + 1e-6)
            shade += np.float32(power) * lambert / (1.0 + dist2 / 9.0)
        tint = np.asarray(room.light_tint, dtype=np.float32)[:, None] * np.float32(255.0)
        return self.albedo * shade[None] * tint

    def view_cos(self) -> np.ndarray:
        """|cos| of the angle between each ray and the surface normal it meets."""
        d = self.dirs
        return np.abs(np.einsum("in,in->n", self.normals, d)) / np.sqrt(np.einsum("in,in->n", d, d))

    def scatter(self, values: np.ndarray) -> np.ndarray:
        """(n,) values in object order -> the same values in image (row-major) order."""
        out = np.empty_like(values)
        out[self.order] = values
        return out


def _occlusion(room: Room, p: np.ndarray) -> np.ndarray:
    """(n,) ambient light factor at points ``p``: less light in room corners and along its edges
    (near a second room plane) and on the floor around and under furniture (contact shadows)."""
    size = np.asarray(room.size_m, dtype=np.float32)[:, None]
    gaps = np.minimum(p, size - p)
    second = gaps.sum(axis=0) - gaps.min(axis=0) - gaps.max(axis=0)  # the middle of the three
    strength = np.float32(room.occlusion)
    factor = 1.0 - strength * np.exp(-second / np.float32(0.35)) * np.float32(0.7)
    on_floor = np.flatnonzero(p[1] < 1e-3)
    if on_floor.size:
        fx, fz = p[0, on_floor], p[2, on_floor]
        dark = np.zeros(on_floor.size, dtype=np.float32)
        for s in room.solids:
            if s.center_m[1] - s.half_m[1] > 0.1:
                continue
            corners = box_corners(s)
            x0, z0 = corners[:, 0].min(), corners[:, 2].min()
            x1, z1 = corners[:, 0].max(), corners[:, 2].max()
            dist = np.hypot(
                np.maximum(np.maximum(x0 - fx, fx - x1), 0.0), np.maximum(np.maximum(z0 - fz, fz - z1), 0.0)
            )
            np.maximum(dark, np.exp(-dist / np.float32(0.12)), out=dark)
        factor[on_floor] *= 1.0 - strength * np.float32(0.6) * dark
    return factor


def _paint_decals(
    decals: tuple[Decal, ...],
    surface: Surface,
    p: np.ndarray,
    albedo: np.ndarray,
    labels: np.ndarray,
    returns: np.ndarray,
) -> None:
    """Overwrite (in place) the pixels of ``surface`` that its decals cover; later ones on top."""
    au, av = SURFACE_AXES[surface]
    for dec in decals:
        if dec.surface != surface:
            continue
        u0, v0, u1, v1 = dec.rect_m
        inside = (p[au] >= u0) & (p[au] <= u1) & (p[av] >= v0) & (p[av] <= v1)
        if inside.any():
            albedo[:, inside] = _albedo(dec.material, p[:, inside])
            labels[inside] = dec.label
            returns[inside] = dec.material.depth_return
