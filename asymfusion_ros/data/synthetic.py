"""Synthetic RGB-D indoor scenes that make RGB-D *fusion* necessary.

No dataset can be downloaded where this project is trained, so we render our own rooms: a
box-shaped room (floor, ceiling, four walls) furnished with analytic solids (yaw-rotated
boxes, vertical cylinders, spheres) and flat *decals* (rectangles lying exactly on the floor or
a wall: pictures, rugs, doors, windows). Rendering is vectorised numpy ray casting of every
pixel against every primitive, each solid tested only inside its projected bounding rectangle.
The camera is a pinhole with the NYUv2 Kinect intrinsics scaled to the image size, held
1.0-1.6 m above the floor, looking roughly horizontally.

Classes (NYUv2-40 ids, 0-based as in ``config/classes/nyu40.yaml``), see :data:`CLASSES`:
0 wall, 1 floor, 2 cabinet, 3 bed, 4 chair, 6 table, 7 door, 8 window, 10 picture,
19 floor mat, 21 ceiling, 34 lamp, 39 otherprop; 255 (void) marks small unlabelled clutter on
table and cabinet tops, as NYUv2 leaves clutter unlabelled.

Designed-in complementary cues (each room has at least one of each kind, usually several):

* geometry only -- a **cabinet painted exactly like the wall behind it** (same material; the
  texture is a solid function of world position, so its front face continues the wall's
  pattern seamlessly) and a **raised platform (bed) made of the floor's material**. RGB sees
  at most a faint shading change on faces at another angle; depth sees a 0.3-0.6 m step.
* appearance only -- **pictures flush on a wall** and **rugs (floor mat) flush on the floor**,
  plus doors, which are flush with their wall. Their depth is exactly that of the host
  surface; only colour and texture separate them.

Ordinary, differently coloured cabinets and beds exist too, so neither modality alone can use a
shortcut: an RGB-only model fails on the painted furniture, a depth-only model on pictures,
rugs and doors; a fusion model can get all of them.

Sensor model (:class:`SensorModel`): axial noise sigma = 1.2 mm + 1.9 mm * (z - 0.4 m)^2
(Kinect v1, Nguyen et al. 2012), depth quantised to whole millimetres (16UC1 mm is lossless),
no return (0) below 0.5 m and beyond 9 m, in the projector shadow behind depth discontinuities
and ragged at edges, at grazing angles, on glass (windows: almost never a return) and, in
blotches, on very dark surfaces; a few random speckle holes. Labels are dense and clean, as in
NYUv2. RGB gets a point light plus ambient (Lambertian, distance fall-off), random exposure and
white balance, and sensor noise.

Sequences: :class:`SyntheticScenes` shows room ``index // frames_per_room`` (30 by default)
from a camera that glides along a short straight path (up to 1.5 m, clear of furniture) while
panning up to +-0.4 rad and bobbing smoothly, so consecutive indices look like a real camera
stream. Mid-path the camera usually aims at one of the cue items and it never faces a wall
closer than 1.5 m. ``frames_per_room=1`` gives a new room for every index (most variety per
rendered frame: what ``open_dataset("synthetic")`` uses for training and evaluation).

Determinism: the room and its camera path depend only on (seed, room); a frame's noise only on
(seed, index); nothing depends on rendering order or on the image size except the pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum, IntEnum
from functools import lru_cache
from statistics import NormalDist

import cv2
import numpy as np

from asymfusion_ros.data.sample import RGBDSample, kinect_intrinsics

WALL, FLOOR, CABINET, BED, CHAIR, TABLE, DOOR, WINDOW, PICTURE = 0, 1, 2, 3, 4, 6, 7, 8, 10
FLOOR_MAT, CEILING, LAMP, OTHERPROP, VOID = 19, 21, 34, 39, 255
CLASSES: tuple[int, ...] = (
    WALL,
    FLOOR,
    CABINET,
    BED,
    CHAIR,
    TABLE,
    DOOR,
    WINDOW,
    PICTURE,
    FLOOR_MAT,
    CEILING,
    LAMP,
    OTHERPROP,
)
"""The NYU40 ids the generator ever emits (besides 255 = void)."""

Vec3 = tuple[float, float, float]


class Pattern(Enum):
    """How a material mixes its two colours over world position (a solid texture)."""

    PLAIN = "plain"
    NOISE = "noise"
    STRIPES = "stripes"
    TILES = "tiles"
    GRAIN = "grain"
    PICTURE = "picture"
    GLASS = "glass"


class Shape(Enum):
    BOX = "box"
    CYLINDER = "cylinder"
    SPHERE = "sphere"


class Surface(IntEnum):
    """The six room surfaces; their value is their object id in the renderer."""

    FLOOR = 0
    CEILING = 1
    WALL_X0 = 2
    WALL_X1 = 3
    WALL_Z0 = 4
    WALL_Z1 = 5


_SURFACE_AXES: dict[Surface, tuple[int, int]] = {
    Surface.FLOOR: (0, 2),
    Surface.CEILING: (0, 2),
    Surface.WALL_X0: (2, 1),
    Surface.WALL_X1: (2, 1),
    Surface.WALL_Z0: (0, 1),
    Surface.WALL_Z1: (0, 1),
}
"""World axes (u, v) spanning each surface; decal rectangles are given in them (metres)."""


@dataclass(frozen=True)
class Material:
    """Albedo = mix of ``color`` and ``color2`` (RGB 0..1) by ``pattern`` over world position.

    ``axis``/``axis2`` orient the pattern, ``period_m`` scales it; ``depth_return`` is the chance
    that the depth sensor gets a return from this surface (glass ~0, very dark ~0.3).
    """

    color: Vec3
    pattern: Pattern = Pattern.PLAIN
    color2: Vec3 = (0.0, 0.0, 0.0)
    period_m: float = 0.5
    axis: Vec3 = (1.0, 0.0, 0.0)
    axis2: Vec3 = (0.0, 0.0, 1.0)
    phase: float = 0.0
    depth_return: float = 1.0


@dataclass(frozen=True)
class Solid:
    """A primitive: BOX (``half_m`` = half extents in its yaw-rotated frame), vertical
    CYLINDER (``half_m`` = (radius, half height, radius)) or SPHERE (``half_m[0]`` = radius)."""

    shape: Shape
    label: int
    material: Material
    center_m: Vec3
    half_m: Vec3
    yaw_rad: float = 0.0


@dataclass(frozen=True)
class Decal:
    """A rectangle lying exactly on a room surface (zero thickness: same depth as the host).

    ``rect_m`` = (u0, v0, u1, v1) in the surface's world axes (:data:`_SURFACE_AXES`). Later
    decals are painted over earlier ones (a picture's canvas over its frame).
    """

    surface: Surface
    rect_m: tuple[float, float, float, float]
    label: int
    material: Material


@dataclass(frozen=True)
class Room:
    """An axis-aligned room [0, X] x [0, Y] x [0, Z] (y up) with its contents and light.

    ``walls`` are indexed like ``Surface.WALL_*`` - 2: usually one paint, but each wall's
    pattern runs in its own plane so a box painted with it continues the wall seamlessly.
    """

    size_m: Vec3
    walls: tuple[Material, Material, Material, Material]
    floor: Material
    ceiling: Material
    solids: tuple[Solid, ...] = ()
    decals: tuple[Decal, ...] = ()
    light_m: Vec3 | None = None
    light_power: float = 1.0
    ambient: float = 0.35
    light_tint: Vec3 = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class Pose:
    """Camera pose: position (world, metres), yaw about +y (0 looks along +z, positive turns
    towards -x), pitch (positive looks up) and roll, radians."""

    position_m: Vec3
    yaw_rad: float = 0.0
    pitch_rad: float = 0.0
    roll_rad: float = 0.0

    def rotation(self) -> np.ndarray:
        """Camera-to-world rotation; camera axes are OpenCV's (x right, y down, z forward)."""
        cy, sy = math.cos(self.yaw_rad), math.sin(self.yaw_rad)
        cp, sp = math.cos(self.pitch_rad), math.sin(self.pitch_rad)
        forward = np.array([sy * cp, sp, cy * cp])
        right = np.array([-cy, 0.0, sy])
        down = np.cross(forward, right)
        cr, sr = math.cos(self.roll_rad), math.sin(self.roll_rad)
        right, down = cr * right + sr * down, -sr * right + cr * down
        return np.stack([right, down, forward], axis=1)


@dataclass(frozen=True)
class SensorModel:
    """An RGB-D camera's imperfections (defaults: Kinect v1 / NYUv2-like).

    Depth: valid from ``min_range_m`` to ``max_range_m``; axial noise sigma = a + b (z - z0)^2
    with ``noise_m`` = (a, b, z0) in metres; a projector shadow ``shadow_px`` wide (at 640 px
    width) behind depth steps; a fraction ``edge_keep`` of pixels kept right at steps; no return
    below ``grazing_cos`` (|cos| of the incidence angle); a ``speckle`` fraction of random holes.
    RGB: Gaussian noise ``rgb_noise`` (8-bit levels), lens blur ``rgb_blur_px`` (sigma at 640 px
    width) and ``vignette`` (brightness lost in the corners).
    """

    min_range_m: float = 0.5
    max_range_m: float = 9.0
    noise_m: tuple[float, float, float] = (0.0012, 0.0019, 0.4)
    shadow_px: int = 7
    edge_keep: float = 0.25
    grazing_cos: float = 0.08
    speckle: float = 0.002
    rgb_noise: float = 2.0
    rgb_blur_px: float = 0.7
    vignette: float = 0.25


@dataclass(frozen=True)
class _Placed:
    """What occupies [u0, u1] along a wall at heights [y0, y1] (for the layout)."""

    u0: float
    u1: float
    y0: float
    y1: float


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _camera_rays(h: int, w: int, k_bytes: bytes) -> np.ndarray:
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


def _box_corners(s: Solid) -> np.ndarray:
    """(8, 3) world corners of a solid's bounding box."""
    hx, hy, hz = s.half_m
    if s.shape is not Shape.BOX:
        hz = hx
    signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64)
    local = signs * np.array([hx, hy, hz])
    c, sn = math.cos(s.yaw_rad), math.sin(s.yaw_rad)
    rot = np.array([[c, 0.0, sn], [0.0, 1.0, 0.0], [-sn, 0.0, c]])
    return local @ rot.T + np.asarray(s.center_m)


def _pixel_rect(
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


def _solid_normals(s: Solid, p: np.ndarray) -> np.ndarray:
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


_SURFACE_NORMALS = np.array(
    [[0, 1, 0], [0, -1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, 1], [0, 0, -1]], dtype=np.float32
)
_SURFACE_LABELS = (FLOOR, CEILING, WALL, WALL, WALL, WALL)


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
    else:  # GLASS: a bright view through the window, paler towards the horizon
        w = np.clip((p[1] - 0.8) / 1.6, 0.0, 1.0)
    c2 = np.asarray(m.color2, dtype=np.float32)[:, None]
    return c1 + w.astype(np.float32)[None] * (c2 - c1)


@lru_cache(maxsize=1)
def _normal_table() -> np.ndarray:
    """Standard normal quantiles at 256 levels: cheap Gaussian noise from random bytes."""
    dist = NormalDist()
    return np.array([dist.inv_cdf((i + 0.5) / 256) for i in range(256)], dtype=np.float32)


def _gaussian(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal noise (quantised to 256 levels), several times faster than rng.standard_normal."""
    idx = np.frombuffer(rng.bytes(math.prod(shape)), dtype=np.uint8).reshape(shape)
    return np.take(_normal_table(), idx)


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
    dirs = np.tensordot(rot.astype(np.float32), _camera_rays(h, w, intr.tobytes()), axes=1)
    dirs[dirs == 0.0] = 1e-9  # no exact zeros: keeps 1/d finite-signed everywhere below
    depth, obj = _cast(room, o, rot, intr, dirs)
    hits = _Hits.gather(room, o, dirs, depth, obj)
    rgb_f: np.ndarray = cv2.merge([hits.scatter(plane).reshape(h, w) for plane in hits.radiance(room)])
    labels = hits.scatter(hits.labels).reshape(h, w)
    if sensor is None:
        depth_m = depth
    else:
        gen = rng if rng is not None else np.random.default_rng(0)
        returns = hits.scatter(hits.returns).reshape(h, w) if hits.returns.min() < 1.0 else None
        depth_m = _sensor_depth(depth, hits.scatter(hits.view_cos()).reshape(h, w), returns, sensor, gen)
        rgb_f = _camera_rgb(rgb_f, sensor, gen)
    rgb = np.clip(rgb_f, 0.0, 255.0).astype(np.uint8)
    depth_mm = np.round(depth_m * np.float32(1000.0)) / np.float32(1000.0)
    return RGBDSample(rgb, depth_mm.astype(np.float32), labels, intr)


def _cast(
    room: Room, o: Point, rot: np.ndarray, intr: np.ndarray, dirs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel: depth of the nearest hit and its object id (0-5 ``Surface``, 6+ solids)."""
    h, w = dirs.shape[1:]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        depth, obj = _shell(room.size_m, o, dirs)
        for k, s in enumerate(room.solids):  # each solid only inside its projected rectangle
            rect = _pixel_rect(_box_corners(s), np.asarray(o), rot, intr, h, w)
            if rect is None:
                continue
            t = _HITTERS[s.shape](s, o, dirs[(slice(None), *rect)])
            closer = t < depth[rect]
            np.copyto(depth[rect], t, where=closer)
            np.copyto(obj[rect], np.int16(6 + k), where=closer)
    return depth, obj


@dataclass(frozen=True)
class _Hits:
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
    def gather(cls, room: Room, o: Point, dirs: np.ndarray, depth: np.ndarray, obj: np.ndarray) -> _Hits:
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
                material, label = surfaces[k], _SURFACE_LABELS[k]
            else:
                solid = room.solids[k - 6]
                hits.normals[:, run] = _solid_normals(solid, p[:, run])
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
        """(3, n) RGB 0..255: albedo x (ambient + Lambertian point light with soft fall-off)."""
        size = room.size_m
        light = np.asarray(
            room.light_m if room.light_m is not None else (size[0] / 2, size[1] - 0.3, size[2] / 2),
            dtype=np.float32,
        )
        to_light = light[:, None] - self.points
        dist2 = np.einsum("in,in->n", to_light, to_light)
        lambert = np.maximum(np.einsum("in,in->n", self.normals, to_light), 0.0) / np.sqrt(dist2 + 1e-6)
        shade = room.ambient + room.light_power * lambert / (1.0 + dist2 / 9.0)
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


def _paint_decals(
    decals: tuple[Decal, ...],
    surface: Surface,
    p: np.ndarray,
    albedo: np.ndarray,
    labels: np.ndarray,
    returns: np.ndarray,
) -> None:
    """Overwrite (in place) the pixels of ``surface`` that its decals cover; later ones on top."""
    au, av = _SURFACE_AXES[surface]
    for dec in decals:
        if dec.surface != surface:
            continue
        u0, v0, u1, v1 = dec.rect_m
        inside = (p[au] >= u0) & (p[au] <= u1) & (p[av] >= v0) & (p[av] <= v1)
        if inside.any():
            albedo[:, inside] = _albedo(dec.material, p[:, inside])
            labels[inside] = dec.label
            returns[inside] = dec.material.depth_return


@lru_cache(maxsize=8)
def _vignette(h: int, w: int, strength: float) -> np.ndarray:
    """(H, W, 1) gain falling off with the squared distance from the centre (1 - strength in corners)."""
    y = (np.arange(h, dtype=np.float32) - (h - 1) / 2) / (h / 2)
    x = (np.arange(w, dtype=np.float32) - (w - 1) / 2) / (w / 2)
    gain = 1.0 - np.float32(strength / 2) * (y[:, None] ** 2 + x[None, :] ** 2)
    gain.setflags(write=False)
    return gain[..., None]


def _camera_rgb(rgb: np.ndarray, sensor: SensorModel, rng: np.random.Generator) -> np.ndarray:
    """What the colour camera makes of the radiance: lens blur, vignetting, sensor noise."""
    h, w = rgb.shape[:2]
    sigma = sensor.rgb_blur_px * w / 640
    if sigma > 0.1:
        rgb = cv2.GaussianBlur(rgb, (0, 0), sigma)
    if sensor.vignette:
        rgb = rgb * _vignette(h, w, sensor.vignette)
    return rgb + _gaussian(rng, (h, w, 3)) * np.float32(sensor.rgb_noise)


def _sensor_depth(
    depth: np.ndarray,
    view_cos: np.ndarray,
    returns: np.ndarray | None,
    sensor: SensorModel,
    rng: np.random.Generator,
) -> np.ndarray:
    """Kinect-like measurement of the true depth: noise, then the holes a real sensor leaves."""
    h, w = depth.shape
    a, b, z0 = sensor.noise_m
    sigma = a + b * (depth - z0) ** 2
    noisy = depth + sigma * _gaussian(rng, (h, w))
    valid = (depth >= sensor.min_range_m) & (depth <= sensor.max_range_m) & (view_cos >= sensor.grazing_cos)
    # Projector shadow: a pixel with a clearly nearer surface just to its right gets no pattern;
    # pixels right at a discontinuity are ragged (some kept, most lost).
    shadow = max(2, round(sensor.shadow_px * w / 640))
    kernel = np.ones((1, shadow + 1), np.uint8)
    near_right = cv2.erode(depth, kernel, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
    square = np.ones((3, 3), np.uint8)
    near_any, far_any = cv2.erode(depth, square), cv2.dilate(depth, square)
    step = 0.05 + 0.02 * depth
    keep = rng.random((h, w), dtype=np.float32)
    valid &= ~(depth - near_right > step)
    valid &= ~(((far_any - near_any) > step) & (keep > sensor.edge_keep))
    valid &= keep >= sensor.speckle
    if returns is not None:  # poor reflectors lose their return in blotches, not salt-and-pepper
        small = rng.random((max(h // 12, 2), max(w // 12, 2)), dtype=np.float32)
        valid &= cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) < returns.reshape(h, w)
    return np.where(valid, noisy, np.float32(0.0))


# --------------------------------------------------------------------------------------------
# Random rooms and camera paths
# --------------------------------------------------------------------------------------------

_WALLS = (Surface.WALL_X0, Surface.WALL_X1, Surface.WALL_Z0, Surface.WALL_Z1)
_UP: Vec3 = (0.0, 1.0, 0.0)


def _wall_frame(wall: Surface, size: Vec3) -> tuple[int, int, float, float]:
    """(along axis, normal axis, wall coordinate, inward sign) of a wall, axes as world indices."""
    along, normal = (2, 0) if wall in (Surface.WALL_X0, Surface.WALL_X1) else (0, 2)
    at_far = wall in (Surface.WALL_X1, Surface.WALL_Z1)
    return along, normal, size[normal] if at_far else 0.0, -1.0 if at_far else 1.0


def _unit(i: int) -> Vec3:
    return (1.0, 0.0, 0.0) if i == 0 else (0.0, 1.0, 0.0) if i == 1 else (0.0, 0.0, 1.0)


def _hsv(
    rng: np.random.Generator, hue: tuple[float, float], sat: tuple[float, float], val: tuple[float, float]
) -> Vec3:
    hsv = np.array(
        [[[rng.uniform(*hue) % 1.0 * 360.0, rng.uniform(*sat), rng.uniform(*val)]]], dtype=np.float32
    )
    r, g, b = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    return (float(r), float(g), float(b))


def _any_color(rng: np.random.Generator, sat: tuple[float, float], val: tuple[float, float]) -> Vec3:
    return _hsv(rng, (0.0, 1.0), sat, val)


def _near(rng: np.random.Generator, c: Vec3, spread: float) -> Vec3:
    v = np.clip(
        np.asarray(c) + rng.uniform(-spread, spread, 3) * 0.5 + rng.uniform(-spread, spread), 0.0, 1.0
    )
    return (float(v[0]), float(v[1]), float(v[2]))


def _wall_paint(rng: np.random.Generator) -> tuple[Material, Material, Material, Material]:
    """One paint for all four walls, its pattern laid in each wall's own plane."""
    color = _any_color(rng, (0.02, 0.3), (0.55, 0.92))
    pattern = Pattern(
        rng.choice([Pattern.PLAIN.value, Pattern.NOISE.value, Pattern.STRIPES.value], p=[0.35, 0.4, 0.25])
    )
    color2 = _near(rng, color, 0.12 if pattern is Pattern.STRIPES else 0.07)
    period = rng.uniform(0.08, 0.35) if pattern is Pattern.STRIPES else rng.uniform(0.4, 2.0)
    phase = rng.uniform(0, 2 * math.pi)
    mats = [
        Material(color, pattern, color2, period, _unit(_wall_frame(w, (1, 1, 1))[0]), _UP, phase)
        for w in _WALLS
    ]
    return mats[0], mats[1], mats[2], mats[3]


def _floor_axes(rng: np.random.Generator) -> tuple[Vec3, Vec3]:
    return (_unit(0), _unit(2)) if rng.random() < 0.5 else (_unit(2), _unit(0))


def _floor_material(rng: np.random.Generator) -> Material:
    """Wood, tiles or carpet; patterns run in the floor plane so a floor-made box continues it."""
    roll = rng.random()
    axes = _floor_axes(rng)
    if roll < 0.4:
        color = _hsv(rng, (0.04, 0.11), (0.35, 0.75), (0.25, 0.7))
        return Material(
            color, Pattern.GRAIN, _near(rng, color, 0.1), rng.uniform(0.04, 0.15), *axes, rng.uniform(0, 6)
        )
    if roll < 0.7:
        color = _any_color(rng, (0.0, 0.25), (0.35, 0.9))
        return Material(
            color, Pattern.TILES, _near(rng, color, 0.15), rng.uniform(0.3, 0.6), *axes, rng.uniform(0.2, 0.8)
        )
    color = _any_color(rng, (0.05, 0.5), (0.15, 0.6))
    return Material(
        color, Pattern.NOISE, _near(rng, color, 0.08), rng.uniform(0.3, 1.5), *axes, rng.uniform(0, 6)
    )


def _object_material(rng: np.random.Generator, avoid: Material | None = None) -> Material:
    """Wood, paint or fabric, sometimes very dark (a poor depth return); ``avoid``: stay clearly
    brighter or darker than that material so the object shows in RGB."""
    axes = (_unit(0), _UP) if rng.random() < 0.5 else (_unit(2), _UP)
    roll = rng.random()
    if roll < 0.08:
        return Material(_any_color(rng, (0.0, 0.3), (0.02, 0.07)), depth_return=0.35)
    val = (0.12, 0.95)
    if avoid is not None:
        v = max(avoid.color)
        val = (0.08, max(v - 0.3, 0.1)) if v > 0.5 else (min(v + 0.3, 0.9), 0.95)
    if roll < 0.4:
        color = _hsv(rng, (0.03, 0.12), (0.3, 0.8), val)
        return Material(
            color, Pattern.GRAIN, _near(rng, color, 0.1), rng.uniform(0.05, 0.2), *axes, rng.uniform(0, 6)
        )
    color = _any_color(rng, (0.05, 0.8), val)
    pattern = Pattern.PLAIN if roll < 0.75 else Pattern.NOISE
    return Material(color, pattern, _near(rng, color, 0.06), rng.uniform(0.2, 0.8), *axes, rng.uniform(0, 6))


def _span(u: float, width: float, v0: float, v1: float) -> tuple[float, float, float, float]:
    """A decal rectangle ``width`` wide centred at ``u``, from height ``v0`` to ``v1``."""
    return (u - width / 2, v0, u + width / 2, v1)


def _overlaps(a: tuple[float, ...], b: tuple[float, ...], margin: float) -> bool:
    """Do the xz rectangles (x0, x1, z0, z1) come closer than ``margin``?"""
    return a[0] < b[1] + margin and b[0] < a[1] + margin and a[2] < b[3] + margin and b[2] < a[3] + margin


class _Furnisher:
    """Builds one random room: keeps what is placed where while the room fills up."""

    def __init__(self, rng: np.random.Generator, size: Vec3) -> None:
        self.rng = rng
        self.size = size
        self.walls = _wall_paint(rng)
        self.floor = _floor_material(rng)
        self.solids: list[Solid] = []
        self.decals: list[Decal] = []
        self.footprints: list[tuple[float, float, float, float]] = []
        self.placed: dict[Surface, list[_Placed]] = {w: [] for w in _WALLS}
        self.targets: list[Vec3] = []
        """Centres of the complementary-cue items; cameras like to look at them."""

    # -- geometry helpers ---------------------------------------------------------------------
    def _slot(self, wall: Surface, width: float, y0: float, y1: float, depth: float) -> float | None:
        """Centre along ``wall`` of a free slot ``width`` wide at heights [y0, y1] reaching
        ``depth`` into the room (0: flat on the wall), or None; the slot is then taken."""
        along, _, pos, inward = _wall_frame(wall, self.size)
        length = self.size[along]
        if width > length - 0.3:
            return None
        for _ in range(12):
            u0 = float(self.rng.uniform(0.15, length - 0.15 - width))
            u1 = u0 + width
            if any(
                u0 < p.u1 + 0.08 and p.u0 < u1 + 0.08 and y0 < p.y1 and p.y0 < y1 for p in self.placed[wall]
            ):
                continue
            if depth > 0:
                n0, n1 = sorted((pos, pos + inward * depth))
                rect = (u0, u1, n0, n1) if along == 0 else (n0, n1, u0, u1)
                if any(_overlaps(rect, fp, 0.05) for fp in self.footprints):
                    continue
                self.footprints.append(rect)
            self.placed[wall].append(_Placed(u0, u1, y0, y1))
            return (u0 + u1) / 2
        return None

    def _at(self, wall: Surface, u: float, off: float, y: float) -> Vec3:
        """World point ``u`` along ``wall``, ``off`` metres into the room, at height ``y``."""
        along, normal, pos, inward = _wall_frame(wall, self.size)
        p = [0.0, y, 0.0]
        p[along], p[normal] = u, pos + inward * off
        return (p[0], p[1], p[2])

    def _half(self, wall: Surface, along_m: float, up_m: float, out_m: float) -> Vec3:
        """World half extents of a wall-aligned box (along the wall, up, out of the wall)."""
        return (
            (out_m / 2, up_m / 2, along_m / 2)
            if _wall_frame(wall, self.size)[0] == 2
            else (along_m / 2, up_m / 2, out_m / 2)
        )

    def _add(
        self, shape: Shape, label: int, mat: Material, center: Vec3, half: Vec3, yaw: float = 0.0
    ) -> None:
        self.solids.append(Solid(shape, label, mat, center, half, yaw))

    def _framed(
        self,
        surface: Surface,
        rect: tuple[float, float, float, float],
        border: float,
        label: int,
        frame: Material,
        inner: Material,
    ) -> None:
        u0, v0, u1, v1 = rect
        self.decals.append(Decal(surface, rect, label, frame))
        self.decals.append(Decal(surface, (u0 + border, v0 + border, u1 - border, v1 - border), label, inner))

    # -- things against walls -----------------------------------------------------------------
    def cabinet(self, wall: Surface, painted: bool) -> None:
        """A cabinet; ``painted``: exactly the wall's paint (a geometry-only cue)."""
        rng = self.rng
        width, depth = rng.uniform(0.5, 1.6), rng.uniform(0.35, 0.6)
        height = rng.uniform(0.6, 1.8) if painted else rng.uniform(0.5, 2.0)
        u = self._slot(wall, width, 0.0, height, depth)
        if u is None:
            return
        mat = self.walls[wall - 2] if painted else _object_material(rng, avoid=self.walls[wall - 2])
        center = self._at(wall, u, depth / 2, height / 2)
        self._add(Shape.BOX, CABINET, mat, center, self._half(wall, width, height, depth))
        if painted:
            self.targets.append(center)
        if height < 1.3 and rng.random() < 0.5:
            self._on_top(center, self._half(wall, width, height, depth))

    def bed(self, wall: Surface, platform: bool) -> None:
        """A bed, or a ``platform`` made of the floor's material (a geometry-only cue)."""
        rng = self.rng
        if platform:
            width, length, height = rng.uniform(0.9, 2.0), rng.uniform(0.9, 2.0), rng.uniform(0.2, 0.45)
        else:
            width, length, height = rng.uniform(0.9, 1.8), rng.uniform(1.9, 2.1), rng.uniform(0.45, 0.6)
        u = self._slot(wall, width, 0.0, height if platform else 1.2, length)
        if u is None:
            return
        center = self._at(wall, u, length / 2, height / 2)
        mat = self.floor if platform else _object_material(rng, avoid=self.floor)
        self._add(Shape.BOX, BED, mat, center, self._half(wall, width, height, length))
        if platform:
            self.targets.append(center)
        else:
            head = rng.uniform(0.9, 1.2)
            self._add(
                Shape.BOX,
                BED,
                _object_material(rng, avoid=self.walls[wall - 2]),
                self._at(wall, u, 0.03, head / 2),
                self._half(wall, width, head, 0.06),
            )

    def table(self, wall: Surface) -> None:
        """A table against ``wall`` with chairs in front of it and things on it."""
        rng = self.rng
        width, depth, height = rng.uniform(1.0, 1.6), rng.uniform(0.6, 0.9), rng.uniform(0.72, 0.78)
        u = self._slot(wall, width, 0.0, height, depth)
        if u is None:
            return
        table_rect = self.footprints[-1]
        center = self._at(wall, u, depth / 2, 0.0)
        half = self._half(wall, width, 0.0, depth)
        self._table_at(center[0], center[2], half[0], half[2], height)
        chair_mat = _object_material(rng)
        _, normal, _, inward = _wall_frame(wall, self.size)
        to_wall = math.atan2(-inward if normal == 0 else 0.0, -inward if normal == 2 else 0.0)
        for k in range(int(rng.integers(0, 3))):
            cu = u + (k - 0.5) * width / 2 if k else u + rng.uniform(-0.2, 0.2) * width
            foot = self._at(wall, cu, depth + rng.uniform(0.05, 0.3), 0.0)
            self.chair(foot[0], foot[2], to_wall + rng.uniform(-0.5, 0.5), chair_mat, beside=table_rect)

    def centre_table(self) -> None:
        """A free-standing table in the open with chairs around it, each facing it."""
        rng = self.rng
        size_x, _, size_z = self.size
        hx, hz, height = rng.uniform(0.4, 0.8), rng.uniform(0.35, 0.5), rng.uniform(0.72, 0.78)
        if rng.random() < 0.5:
            hx, hz = hz, hx
        x, z = rng.uniform(1.0 + hx, size_x - 1.0 - hx), rng.uniform(1.0 + hz, size_z - 1.0 - hz)
        rect = (x - hx, x + hx, z - hz, z + hz)
        if (
            size_x < 2.0 + 2 * hx
            or size_z < 2.0 + 2 * hz
            or any(_overlaps(rect, fp, 0.5) for fp in self.footprints)
        ):
            return
        self.footprints.append(rect)
        self._table_at(x, z, hx, hz, height)
        chair_mat = _object_material(rng)
        for dx, dz in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            if rng.random() < 0.6:
                fx, fz = x + dx * (hx + rng.uniform(0.1, 0.3)), z + dz * (hz + rng.uniform(0.1, 0.3))
                self.chair(fx, fz, math.atan2(-dx, -dz) + rng.uniform(-0.3, 0.3), chair_mat, beside=rect)

    def _table_at(self, x: float, z: float, hx: float, hz: float, height: float) -> None:
        """Top and four legs of an axis-aligned table of half size (hx, hz), things on top."""
        top = 0.04
        mat = _object_material(self.rng)
        center, half = (x, height - top / 2, z), (hx, top / 2, hz)
        self._add(Shape.BOX, TABLE, mat, center, half)
        for sx in (-1, 1):
            for sz in (-1, 1):
                leg_at = (x + sx * (hx - 0.05), (height - top) / 2, z + sz * (hz - 0.05))
                self._add(Shape.BOX, TABLE, mat, leg_at, (0.025, (height - top) / 2, 0.025))
        self._on_top(center, half)

    def chair(
        self,
        x: float,
        z: float,
        yaw: float,
        mat: Material,
        beside: tuple[float, float, float, float] | None = None,
    ) -> None:
        """Seat, back and four legs at (x, z), facing ``yaw``; the seat may reach under the
        ``beside`` table but nothing else."""
        rect = (x - 0.32, x + 0.32, z - 0.32, z + 0.32)
        others = [fp for fp in self.footprints if fp != beside]
        if any(_overlaps(rect, fp, 0.02) for fp in others) or not self._inside(rect):
            return
        self.footprints.append(rect)
        seat, thick, back = self.rng.uniform(0.42, 0.48), 0.04, self.rng.uniform(0.35, 0.5)
        c, s = math.cos(yaw), math.sin(yaw)

        def at(lx: float, y: float, lz: float) -> Vec3:
            return (x + lx * c + lz * s, y, z - lx * s + lz * c)

        self._add(Shape.BOX, CHAIR, mat, at(0, seat - thick / 2, 0), (0.22, thick / 2, 0.22), yaw)
        self._add(Shape.BOX, CHAIR, mat, at(0, seat + back / 2, -0.2), (0.22, back / 2, 0.02), yaw)
        leg = (0.02, (seat - thick) / 2, 0.02)
        for lx in (-0.19, 0.19):
            for lz in (-0.19, 0.19):
                self._add(Shape.BOX, CHAIR, mat, at(lx, (seat - thick) / 2, lz), leg, yaw)

    def floor_prop(self, wall: Surface) -> None:
        """A bin or a floor lamp by the wall."""
        rng = self.rng
        if rng.random() < 0.6:
            r, h = rng.uniform(0.12, 0.25), rng.uniform(0.3, 0.7)
            u = self._slot(wall, 2 * r, 0.0, h, 2 * r + 0.05)
            if u is not None:
                self._add(
                    Shape.CYLINDER,
                    OTHERPROP,
                    _object_material(rng),
                    self._at(wall, u, r + 0.05, h / 2),
                    (r, h / 2, r),
                )
            return
        r, h, shade = rng.uniform(0.16, 0.25), rng.uniform(1.3, 1.7), rng.uniform(0.25, 0.35)
        u = self._slot(wall, 2 * r, 0.0, h, 2 * r + 0.05)
        if u is not None:
            mat = _object_material(rng)
            self._add(
                Shape.CYLINDER,
                LAMP,
                mat,
                self._at(wall, u, r + 0.05, (h - shade) / 2),
                (0.02, (h - shade) / 2, 0.02),
            )
            self._add(
                Shape.CYLINDER,
                LAMP,
                _object_material(rng),
                self._at(wall, u, r + 0.05, h - shade / 2),
                (r, shade / 2, r),
            )

    def _on_top(self, center: Vec3, half: Vec3) -> None:
        """Clutter on a table or cabinet top: a lamp, a vase or ball (otherprop), unlabelled boxes."""
        rng = self.rng
        top = center[1] + half[1]
        for _ in range(int(rng.integers(0, 3))):
            r = rng.uniform(0.04, 0.14)
            if min(half[0], half[2]) <= r + 0.02:
                return
            x = center[0] + rng.uniform(-1, 1) * (half[0] - r - 0.02)
            z = center[2] + rng.uniform(-1, 1) * (half[2] - r - 0.02)
            roll = rng.random()
            if roll < 0.2:
                h = rng.uniform(0.25, 0.4)
                self._add(
                    Shape.CYLINDER, LAMP, _object_material(rng), (x, top + h / 2, z), (0.03, h / 2, 0.03)
                )
                self._add(
                    Shape.CYLINDER, LAMP, _object_material(rng), (x, top + h, z), (r + 0.04, 0.08, r + 0.04)
                )
            elif roll < 0.45:
                h = rng.uniform(0.08, 0.35)
                self._add(
                    Shape.CYLINDER, OTHERPROP, _object_material(rng), (x, top + h / 2, z), (r, h / 2, r)
                )
            elif roll < 0.55:
                self._add(Shape.SPHERE, OTHERPROP, _object_material(rng), (x, top + r, z), (r, r, r))
            else:
                hh = rng.uniform(0.03, 0.15)
                self._add(
                    Shape.BOX,
                    VOID,
                    _object_material(rng),
                    (x, top + hh, z),
                    (r, hh, r * rng.uniform(0.5, 1.5)),
                    rng.uniform(-0.8, 0.8),
                )

    # -- flat things ----------------------------------------------------------------------------
    def door(self, wall: Surface) -> None:
        width, height = self.rng.uniform(0.8, 0.95), self.rng.uniform(2.0, 2.1)
        u = self._slot(wall, width + 0.1, 0.0, self.size[1], 0.9)
        if u is not None:
            wall_mat = self.walls[wall - 2]
            self._framed(
                wall,
                _span(u, width + 0.1, 0.0, height + 0.05),
                0.05,
                DOOR,
                _object_material(self.rng, avoid=wall_mat),
                _object_material(self.rng, avoid=wall_mat),
            )
            self.targets.append(self._at(wall, u, 0.0, height / 2))

    def window(self, wall: Surface) -> None:
        rng = self.rng
        width, sill = rng.uniform(0.8, 1.6), rng.uniform(0.75, 1.0)
        top = min(sill + rng.uniform(1.0, 1.4), self.size[1] - 0.2)
        u = self._slot(wall, width, sill, top, 0.0)
        if u is not None:
            glass = Material(
                _near(rng, (0.85, 0.9, 0.95), 0.05),
                Pattern.GLASS,
                _near(rng, (0.45, 0.65, 0.95), 0.08),
                depth_return=0.03,
            )
            frame = Material(
                _any_color(rng, (0.0, 0.2), (0.6, 0.95))
                if rng.random() < 0.6
                else _object_material(rng).color
            )
            self._framed(wall, _span(u, width, sill, top), rng.uniform(0.04, 0.08), WINDOW, frame, glass)

    def picture(self, wall: Surface) -> None:
        """A picture flat on the wall: same depth as the wall (an appearance-only cue)."""
        rng = self.rng
        width, height = rng.uniform(0.3, 1.0), rng.uniform(0.3, 0.8)
        yc = min(rng.uniform(1.3, 1.8), self.size[1] - 0.2 - height / 2)
        u = self._slot(wall, width, yc - height / 2, yc + height / 2, 0.0)
        if u is None:
            return
        along = _wall_frame(wall, self.size)[0]
        frame = Material(_any_color(rng, (0.0, 0.6), (0.05, 0.95)))
        art = Material(
            _any_color(rng, (0.3, 1.0), (0.2, 1.0)),
            Pattern.PICTURE,
            _any_color(rng, (0.3, 1.0), (0.2, 1.0)),
            rng.uniform(0.1, 0.6),
            _unit(along),
            _UP,
            rng.uniform(0, 6),
        )
        self._framed(
            wall,
            _span(u, width, yc - height / 2, yc + height / 2),
            rng.uniform(0.01, 0.05),
            PICTURE,
            frame,
            art,
        )
        self.targets.append(self._at(wall, u, 0.0, yc))

    def rug(self) -> None:
        """A rug flat on the floor: same depth as the floor (an appearance-only cue)."""
        rng = self.rng
        size_x, _, size_z = self.size
        w, d = min(rng.uniform(0.8, 2.5), size_x - 0.6), min(rng.uniform(0.6, 1.8), size_z - 0.6)
        x0, z0 = rng.uniform(0.3, size_x - 0.3 - w), rng.uniform(0.3, size_z - 0.3 - d)
        pattern = Pattern(
            rng.choice([Pattern.STRIPES.value, Pattern.TILES.value, Pattern.NOISE.value, Pattern.PLAIN.value])
        )
        mat = Material(
            _object_material(rng, avoid=self.floor).color,
            pattern,
            _any_color(rng, (0.2, 0.9), (0.1, 0.9)),
            rng.uniform(0.1, 0.5),
            *_floor_axes(rng),
            rng.uniform(0.2, 0.8),
        )
        border = Material(_any_color(rng, (0.1, 0.9), (0.1, 0.9)))
        self._framed(Surface.FLOOR, (x0, z0, x0 + w, z0 + d), rng.uniform(0.0, 0.1), FLOOR_MAT, border, mat)
        self.targets.append((x0 + w / 2, 0.0, z0 + d / 2))

    def ball(self) -> None:
        size_x, _, size_z = self.size
        r = self.rng.uniform(0.1, 0.3)
        x, z = self.rng.uniform(0.4, size_x - 0.4), self.rng.uniform(0.4, size_z - 0.4)
        rect = (x - r, x + r, z - r, z + r)
        if not any(_overlaps(rect, fp, 0.05) for fp in self.footprints):
            self.footprints.append(rect)
            self._add(Shape.SPHERE, OTHERPROP, _object_material(self.rng), (x, r, z), (r, r, r))

    def _inside(self, rect: tuple[float, float, float, float]) -> bool:
        return (
            rect[0] > 0.02
            and rect[2] > 0.02
            and rect[1] < self.size[0] - 0.02
            and rect[3] < self.size[2] - 0.02
        )

    def is_free(self, x: float, z: float, clearance: float = 0.5) -> bool:
        """Can a camera stand at (x, z)?"""
        size_x, _, size_z = self.size
        if not (0.5 <= x <= size_x - 0.5 and 0.5 <= z <= size_z - 0.5):
            return False
        return not any(_overlaps((x, x, z, z), fp, clearance) for fp in self.footprints)


def random_room(rng: np.random.Generator) -> tuple[Room, _Furnisher]:
    """A furnished room with at least one painted cabinet, one floor platform, one picture and one rug."""
    size: Vec3 = (rng.uniform(3.6, 6.5), rng.uniform(2.5, 3.0), rng.uniform(3.6, 7.0))
    f = _Furnisher(rng, size)
    walls = list(_WALLS)
    if rng.random() < 0.9:
        f.door(walls[int(rng.integers(4))])
    for _ in range(int(rng.choice([0, 1, 1, 2]))):
        f.window(walls[int(rng.integers(4))])
    order = rng.permutation(4)
    f.cabinet(walls[order[0]], painted=True)
    if rng.random() < 0.4:
        f.cabinet(walls[order[1]], painted=True)
    f.bed(walls[order[2]], platform=True)
    if rng.random() < 0.4:
        f.centre_table()
    for k in rng.permutation(4):
        wall = walls[k]
        for _ in range(int(rng.integers(1, 4))):
            roll = rng.random()
            if roll < 0.3:
                f.cabinet(wall, painted=False)
            elif roll < 0.4:
                f.cabinet(wall, painted=True)
            elif roll < 0.65:
                f.table(wall)
            elif roll < 0.75:
                f.bed(wall, platform=False)
            elif roll < 0.82:
                f.bed(wall, platform=True)
            else:
                f.floor_prop(wall)
    for wall in walls:
        for _ in range(int(rng.choice([0, 1, 1, 2]))):
            f.picture(wall)
    if not any(d.label == PICTURE for d in f.decals):
        for wall in walls:
            f.picture(wall)
    for _ in range(1 + int(rng.random() < 0.4)):
        f.rug()
    for _ in range(int(rng.integers(0, 3))):
        f.ball()
    size_x, size_y, size_z = size
    room = Room(
        size_m=size,
        walls=f.walls,
        floor=f.floor,
        ceiling=Material(_any_color(rng, (0.0, 0.06), (0.8, 0.95))),
        solids=tuple(f.solids),
        decals=tuple(f.decals),
        light_m=(
            rng.uniform(0.25, 0.75) * size_x,
            size_y - rng.uniform(0.1, 0.5),
            rng.uniform(0.25, 0.75) * size_z,
        ),
        light_power=rng.uniform(1.5, 3.5),
        ambient=rng.uniform(0.3, 0.55),
        light_tint=_near(rng, (1.0, 0.97, 0.92), 0.04),
    )
    return room, f


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


def random_camera_path(f: _Furnisher, rng: np.random.Generator) -> CameraPath | None:
    """A free path in the room that never stares at a wall from close by, aimed (mid-path) at
    a cue item most of the time; None if no such path is found."""
    size_x, _, size_z = f.size
    for _ in range(200):
        x0, z0 = rng.uniform(0.6, size_x - 0.6), rng.uniform(0.6, size_z - 0.6)
        if not f.is_free(x0, z0):
            continue
        heading, dist = rng.uniform(0, 2 * math.pi), rng.uniform(0.0, 1.5)
        x1, z1 = x0 + dist * math.cos(heading), z0 + dist * math.sin(heading)
        if not all(f.is_free(x0 + s * (x1 - x0), z0 + s * (z1 - z0)) for s in np.linspace(0, 1, 7)):
            x1, z1 = x0, z0
        mx, mz = (x0 + x1) / 2, (z0 + z1) / 2
        height = rng.uniform(1.0, 1.6)
        far_targets = [t for t in f.targets if math.hypot(t[0] - mx, t[2] - mz) > 1.4]
        if far_targets and rng.random() < 0.75:
            tx, ty, tz = far_targets[int(rng.integers(len(far_targets)))]
            yaw = math.atan2(tx - mx, tz - mz) + rng.uniform(-0.3, 0.3)
            pitch = math.atan2(ty - height, math.hypot(tx - mx, tz - mz)) + rng.uniform(-0.15, 0.15)
        else:
            yaw, pitch = rng.uniform(0, 2 * math.pi), rng.uniform(-0.4, 0.05)
        sweep = rng.uniform(-0.8, 0.8)
        ends = [(x, z, yaw + sweep * (s - 0.5)) for x, z, s in ((x0, z0, 0.0), (mx, mz, 0.5), (x1, z1, 1.0))]
        if min(_open_distance(f.size, x, z, a) for x, z, a in ends) < 1.5:
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
        sensor: SensorModel | None = SensorModel(),
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
