"""The state of a room while it is furnished: what stands where, free wall slots, cue targets.

:class: holds the placed solids, decals and floor footprints; the builders in
:mod: and :mod: add to it, one function per object kind.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from asymfusion_ros.data.synthetic.materials import floor_material, wall_paint
from asymfusion_ros.data.synthetic.scene import (
    WALLS,
    Decal,
    Material,
    Shape,
    Solid,
    Surface,
    Vec3,
    wall_frame,
)

Range = tuple[float, float]
"""A (low, high) range a size is drawn from, metres."""


@dataclass(frozen=True)
class Placed:
    """What occupies [u0, u1] along a wall at heights [y0, y1] (for the layout)."""

    u0: float
    u1: float
    y0: float
    y1: float


LocalFrame = Callable[[float, float, float], Vec3]
"""Maps (across, up, forward) of an object to room coordinates."""


def local_frame(x: float, z: float, yaw: float) -> LocalFrame:
    """Room coordinates of a point given across (lx), up (y) and forward (lz) of an object
    standing at (x, z) and facing ``yaw``: one frame for all of a chair's or a body's parts."""
    c, s = math.cos(yaw), math.sin(yaw)

    def at(lx: float, y: float, lz: float) -> Vec3:
        return (x + lx * c + lz * s, y, z - lx * s + lz * c)

    return at


def overlaps(a: tuple[float, ...], b: tuple[float, ...], margin: float) -> bool:
    """Do the xz rectangles (x0, x1, z0, z1) come closer than ``margin``?"""
    return a[0] < b[1] + margin and b[0] < a[1] + margin and a[2] < b[3] + margin and b[2] < a[3] + margin


class RoomLayout:
    """One room while it is being furnished: what is placed where, and what is still free.

    Builders (:mod:`.furniture`, :mod:`.decor`) draw from ``rng``, take wall slots with
    :meth:`slot` and append to ``solids``/``decals``; the camera path planner asks
    :meth:`is_free` and aims at ``targets``. ``walls``/``floor`` are the room's materials, drawn
    first so that furniture can reuse them (the geometry-only cues).
    """

    def __init__(self, rng: np.random.Generator, size: Vec3) -> None:
        self.rng = rng
        self.size = size
        self.walls = wall_paint(rng)
        self.floor = floor_material(rng)
        self.solids: list[Solid] = []
        self.decals: list[Decal] = []
        self.footprints: list[tuple[float, float, float, float]] = []
        self.placed: dict[Surface, list[Placed]] = {w: [] for w in WALLS}
        self.targets: list[Vec3] = []
        """Centres of the complementary-cue items; cameras like to look at them (and at furniture)."""

    def slot(self, wall: Surface, width: float, y0: float, y1: float, depth: float) -> float | None:
        """Centre along ``wall`` of a free slot ``width`` wide at heights [y0, y1] reaching
        ``depth`` into the room (0: flat on the wall), or None; the slot is then taken."""
        along, _, pos, inward = wall_frame(wall, self.size)
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
                if any(overlaps(rect, fp, 0.05) for fp in self.footprints):
                    continue
                self.footprints.append(rect)
            self.placed[wall].append(Placed(u0, u1, y0, y1))
            return (u0 + u1) / 2
        return None

    def against(
        self, wall: Surface, width: Range, depth: Range, height: Range
    ) -> tuple[float, float, float, float] | None:
        """Draw (width, depth, height) from their ranges and take a floor slot for them against
        ``wall``: (centre along the wall, width, depth, height), or None if none is free."""
        w, d, h = self.rng.uniform(*width), self.rng.uniform(*depth), self.rng.uniform(*height)
        u = self.slot(wall, w, 0.0, h, d)
        return None if u is None else (u, w, d, h)

    def at(self, wall: Surface, u: float, off: float, y: float) -> Vec3:
        """World point ``u`` along ``wall``, ``off`` metres into the room, at height ``y``."""
        along, normal, pos, inward = wall_frame(wall, self.size)
        p = [0.0, y, 0.0]
        p[along], p[normal] = u, pos + inward * off
        return (p[0], p[1], p[2])

    def facing(self, wall: Surface) -> float:
        """The yaw (see :class:`Solid`) of something in the room that faces ``wall``."""
        _, normal, _, inward = wall_frame(wall, self.size)
        return math.atan2(-inward if normal == 0 else 0.0, -inward if normal == 2 else 0.0)

    def half(self, wall: Surface, along_m: float, up_m: float, out_m: float) -> Vec3:
        """World half extents of a wall-aligned box (along the wall, up, out of the wall)."""
        return (
            (out_m / 2, up_m / 2, along_m / 2)
            if wall_frame(wall, self.size)[0] == 2
            else (along_m / 2, up_m / 2, out_m / 2)
        )

    def add(
        self, shape: Shape, label: int, mat: Material, center: Vec3, half: Vec3, yaw: float = 0.0
    ) -> None:
        """Place a solid (see :class:`Solid`)."""
        self.solids.append(Solid(shape, label, mat, center, half, yaw))

    def wall_box(
        self,
        wall: Surface,
        label: int,
        mat: Material,
        at: tuple[float, float, float],
        size: tuple[float, float, float],
    ) -> None:
        """A box aligned with ``wall``: its centre ``at`` = (along, out of the wall, height) and
        its ``size`` = (along, up, out), metres."""
        u, off, y = at
        self.add(Shape.BOX, label, mat, self.at(wall, u, off, y), self.half(wall, *size))

    def framed(
        self,
        surface: Surface,
        rect: tuple[float, float, float, float],
        border: float,
        label: int,
        frame: Material,
        inner: Material,
    ) -> None:
        """A decal ``rect`` with a ``border`` wide ``frame`` around its ``inner`` material."""
        u0, v0, u1, v1 = rect
        self.decals.append(Decal(surface, rect, label, frame))
        self.decals.append(Decal(surface, (u0 + border, v0 + border, u1 - border, v1 - border), label, inner))

    def inside(self, rect: tuple[float, float, float, float]) -> bool:
        """Does the xz rectangle (x0, x1, z0, z1) stay inside the walls?"""
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
        return not any(overlaps((x, x, z, z), fp, clearance) for fp in self.footprints)
