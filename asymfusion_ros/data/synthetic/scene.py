"""The scene records a room is made of: class ids, materials, solids, decals, the room, a pose.

Plain frozen records, no randomness and no rendering: :mod:`.furnish` fills them in,
:mod:`.render` draws them. World axes: x and z span the floor, y is up; lengths in metres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum, IntEnum

import numpy as np

WALL, FLOOR, CABINET, BED, CHAIR, SOFA, TABLE, DOOR, WINDOW = 0, 1, 2, 3, 4, 5, 6, 7, 8
BOOKSHELF, PICTURE, COUNTER, BLINDS, DESK, SHELVES, CURTAIN = 9, 10, 11, 12, 13, 14, 15
PILLOW, FLOOR_MAT, CEILING, BOOKS, TELEVISION, BOX, WHITEBOARD = 17, 19, 21, 22, 24, 28, 29
PERSON, NIGHT_STAND, LAMP, OTHERFURNITURE, OTHERPROP, VOID = 30, 31, 34, 38, 39, 255
MIRROR, TOWEL, SHOWER_CURTAIN, TOILET, SINK, BATHTUB = 18, 26, 27, 32, 33, 35
CLASSES: tuple[int, ...] = (
    WALL,
    FLOOR,
    CABINET,
    BED,
    CHAIR,
    SOFA,
    TABLE,
    DOOR,
    WINDOW,
    BOOKSHELF,
    PICTURE,
    COUNTER,
    BLINDS,
    DESK,
    SHELVES,
    CURTAIN,
    PILLOW,
    FLOOR_MAT,
    CEILING,
    BOOKS,
    TELEVISION,
    BOX,
    WHITEBOARD,
    PERSON,
    MIRROR,
    TOWEL,
    SHOWER_CURTAIN,
    TOILET,
    SINK,
    BATHTUB,
    NIGHT_STAND,
    LAMP,
    OTHERFURNITURE,
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
    FABRIC = "fabric"
    BOOKS = "books"


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


SURFACE_AXES: dict[Surface, tuple[int, int]] = {
    Surface.FLOOR: (0, 2),
    Surface.CEILING: (0, 2),
    Surface.WALL_X0: (2, 1),
    Surface.WALL_X1: (2, 1),
    Surface.WALL_Z0: (0, 1),
    Surface.WALL_Z1: (0, 1),
}
"""World axes (u, v) spanning each surface; decal rectangles are given in them (metres)."""

SURFACE_LABELS = (FLOOR, CEILING, WALL, WALL, WALL, WALL)
"""The class of each ``Surface``, indexed by its value."""


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

    ``rect_m`` = (u0, v0, u1, v1) in the surface's world axes (:data:`SURFACE_AXES`). Later
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
    more_lights: tuple[tuple[Vec3, float], ...] = ()
    """Further point lights (position, power) beside ``light_m``: ceiling fittings, lamps."""
    occlusion: float = 0.0
    """Ambient occlusion strength: how much darker corners, room edges and the floor under
    furniture are (0: none)."""


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


WALLS = (Surface.WALL_X0, Surface.WALL_X1, Surface.WALL_Z0, Surface.WALL_Z1)
UP: Vec3 = (0.0, 1.0, 0.0)


def wall_frame(wall: Surface, size: Vec3) -> tuple[int, int, float, float]:
    """(along axis, normal axis, wall coordinate, inward sign) of a wall, axes as world indices."""
    along, normal = (2, 0) if wall in (Surface.WALL_X0, Surface.WALL_X1) else (0, 2)
    at_far = wall in (Surface.WALL_X1, Surface.WALL_Z1)
    return along, normal, size[normal] if at_far else 0.0, -1.0 if at_far else 1.0


def unit_axis(i: int) -> Vec3:
    return (1.0, 0.0, 0.0) if i == 0 else (0.0, 1.0, 0.0) if i == 1 else (0.0, 0.0, 1.0)
