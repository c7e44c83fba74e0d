"""Ray casting: per pixel, the nearest surface (room shell or solid) and its depth.

Vectorised numpy: every pixel's ray is tested against the shell at once, and each solid only
inside the image rectangle its bounding box projects to.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from asymfusion_ros.data.synthetic.scene import Room, Shape, Solid, Vec3


@lru_cache(maxsize=8)
def camera_rays(h: int, w: int, k_bytes: bytes) -> np.ndarray:
    """(3, H, W) float32 camera-frame ray directions with z = 1, so ray parameter = depth."""
    k = np.frombuffer(k_bytes, dtype=np.float64).reshape(3, 3)
    u = (np.arange(w, dtype=np.float64) - k[0, 2]) / k[0, 0]
    v = (np.arange(h, dtype=np.float64) - k[1, 2]) / k[1, 1]
    rays = np.empty((3, h, w), dtype=np.float32)
    rays[0] = u[None, :]
    rays[1] = v[:, None]
    rays[2] = 1.0
    rays.setflags(write=False)
    return rays


def box_corners(s: Solid) -> np.ndarray:
    """(8, 3) world corners of a solid's bounding box."""
    hx, hy, hz = s.half_m
    if s.shape is not Shape.BOX:
        hz = hx
    signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64)
    local = signs * np.array([hx, hy, hz])
    c, sn = math.cos(s.yaw_rad), math.sin(s.yaw_rad)
    rot = np.array([[c, 0.0, sn], [0.0, 1.0, 0.0], [-sn, 0.0, c]])
    return local @ rot.T + np.asarray(s.center_m)


def pixel_rect(
    corners: np.ndarray, origin: np.ndarray, rot: np.ndarray, k: np.ndarray, h: int, w: int
) -> tuple[slice, slice] | None:
    """Image rectangle covering the projected points, or None if it is off-screen."""
    cam = (corners - origin) @ rot
    z = cam[:, 2]
    if np.all(z <= 0.0):
        return None
    if np.any(z < 0.05):
        return slice(0, h), slice(0, w)
    u = k[0, 0] * cam[:, 0] / z + k[0, 2]
    v = k[1, 1] * cam[:, 1] / z + k[1, 2]
    c0, c1 = max(math.floor(u.min()) - 1, 0), min(math.ceil(u.max()) + 2, w)
    r0, r1 = max(math.floor(v.min()) - 1, 0), min(math.ceil(v.max()) + 2, h)
    if c0 >= c1 or r0 >= r1:
        return None
    return slice(r0, r1), slice(c0, c1)


Point = tuple[float, float, float]


def _hit_box(s: Solid, o: Point, d: np.ndarray) -> np.ndarray:
    """Slab test: ray parameter (z-depth) of the entry point, inf where the ray misses."""
    ox, oy, oz = o[0] - s.center_m[0], o[1] - s.center_m[1], o[2] - s.center_m[2]
    if s.yaw_rad:
        c, sn = math.cos(s.yaw_rad), math.sin(s.yaw_rad)
        lo = (c * ox - sn * oz, oy, sn * ox + c * oz)
        ld = (c * d[0] - sn * d[2], d[1], sn * d[0] + c * d[2])
    else:
        lo, ld = (ox, oy, oz), (d[0], d[1], d[2])
    t_near = t_far = None
    for a in range(3):
        inv = 1.0 / ld[a]
        mid = inv * -lo[a]
        half = np.abs(inv) * s.half_m[a]
        near, far = mid - half, mid + half
        t_near = near if t_near is None else np.maximum(t_near, near, out=t_near)
        t_far = far if t_far is None else np.minimum(t_far, far, out=t_far)
    assert t_near is not None and t_far is not None
    return np.where((t_near <= t_far) & (t_near > 0.0), t_near, np.float32(np.inf))


def _hit_cylinder(s: Solid, o: Point, d: np.ndarray) -> np.ndarray:
    """Vertical cylinder with a top cap."""
    r, hh = s.half_m[0], s.half_m[1]
    ox, oy, oz = o[0] - s.center_m[0], o[1] - s.center_m[1], o[2] - s.center_m[2]
    a = d[0] * d[0] + d[2] * d[2]
    b = ox * d[0] + oz * d[2]
    disc = b * b - a * (ox * ox + oz * oz - r * r)
    t_side = (-b - np.sqrt(np.maximum(disc, 0.0))) / np.maximum(a, 1e-12)
    ok = (disc > 0) & (t_side > 0) & (np.abs(oy + t_side * d[1]) <= hh)
    t = np.where(ok, t_side, np.float32(np.inf))
    t_cap = (hh - oy) / d[1]
    xc, zc = ox + t_cap * d[0], oz + t_cap * d[2]
    cap = (t_cap > 0) & (xc * xc + zc * zc <= r * r) & (t_cap < t)
    return np.where(cap, t_cap, t)


def _hit_sphere(s: Solid, o: Point, d: np.ndarray) -> np.ndarray:
    r = s.half_m[0]
    ox, oy, oz = o[0] - s.center_m[0], o[1] - s.center_m[1], o[2] - s.center_m[2]
    a = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
    b = ox * d[0] + oy * d[1] + oz * d[2]
    disc = b * b - a * (ox * ox + oy * oy + oz * oz - r * r)
    t = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
    return np.where((disc > 0) & (t > 0), t, np.float32(np.inf))


_HITTERS = {Shape.BOX: _hit_box, Shape.CYLINDER: _hit_cylinder, Shape.SPHERE: _hit_sphere}


def solid_normals(s: Solid, p: np.ndarray) -> np.ndarray:
    """(3, n) outward unit normals of solid ``s`` at its surface points ``p`` (3, n)."""
    q = p - np.asarray(s.center_m, dtype=np.float32)[:, None]
    if s.shape is Shape.SPHERE:
        return q / np.float32(s.half_m[0])
    if s.shape is Shape.CYLINDER:
        cap = q[1] >= np.float32(s.half_m[1] - 1e-4)
        n = np.stack([q[0], np.zeros_like(q[1]), q[2]]) / np.float32(s.half_m[0])
        n[:, cap] = np.array([[0.0], [1.0], [0.0]], dtype=np.float32)
        return n
    c, sn = np.float32(math.cos(s.yaw_rad)), np.float32(math.sin(s.yaw_rad))
    local = np.stack([c * q[0] - sn * q[2], q[1], sn * q[0] + c * q[2]])
    axis = np.argmax(np.abs(local) / np.asarray(s.half_m, dtype=np.float32)[:, None], axis=0)
    sign = np.sign(np.take_along_axis(local, axis[None], axis=0)[0]).astype(np.float32)
    n_local = np.zeros_like(local)
    np.put_along_axis(n_local, axis[None], sign[None], axis=0)
    return np.stack([c * n_local[0] + sn * n_local[2], n_local[1], -sn * n_local[0] + c * n_local[2]])


def _shell(size_m: Vec3, o: Point, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Depth and surface id (``Surface``) of the room's walls, floor and ceiling per ray."""
    ts = []
    for a in range(3):
        bound = np.where(dirs[a] > 0, np.float32(size_m[a]), np.float32(0.0))
        ts.append((bound - np.float32(o[a])) / dirs[a])
    tx, ty, tz = ts
    depth = np.minimum(np.minimum(tx, ty), tz)
    obj = np.where(depth == ty, (dirs[1] > 0).astype(np.int16), np.int16(4) + (dirs[2] > 0))
    obj = np.where(depth == tx, np.int16(2) + (dirs[0] > 0), obj).astype(np.int16)
    return depth, obj


def cast_rays(
    room: Room, o: Point, rot: np.ndarray, intr: np.ndarray, dirs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel: depth of the nearest hit and its object id (0-5 ``Surface``, 6+ solids)."""
    h, w = dirs.shape[1:]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        depth, obj = _shell(room.size_m, o, dirs)
        for k, s in enumerate(room.solids):  # each solid only inside its projected rectangle
            rect = pixel_rect(box_corners(s), np.asarray(o), rot, intr, h, w)
            if rect is None:
                continue
            t = _HITTERS[s.shape](s, o, dirs[(slice(None), *rect)])
            closer = t < depth[rect]
            np.copyto(depth[rect], t, where=closer)
            np.copyto(obj[rect], np.int16(6 + k), where=closer)
    return depth, obj
