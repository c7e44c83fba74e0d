"""Furniture builders, one function per object kind: each adds its solids to a :class:`RoomLayout`.

A builder draws its size, looks for a free slot and returns quietly when none is found (the
room is then simply emptier). Cabinets and beds can be made of the wall's or the floor's
material: the geometry-only cues.
"""

from __future__ import annotations

import math

from asymfusion_ros.data.synthetic.layout import RoomLayout, local_frame, overlaps
from asymfusion_ros.data.synthetic.materials import fabric_material, near_color, object_material
from asymfusion_ros.data.synthetic.scene import (
    BED,
    CABINET,
    CHAIR,
    LAMP,
    NIGHT_STAND,
    OTHERPROP,
    PILLOW,
    TABLE,
    VOID,
    Material,
    Shape,
    Surface,
    Vec3,
    wall_frame,
)
from asymfusion_ros.data.synthetic.seating import SEATED_P, seated_person


def cabinet(layout: RoomLayout, wall: Surface, painted: bool) -> None:
    """A cabinet; ``painted``: exactly the wall's paint (a geometry-only cue)."""
    rng = layout.rng
    width, depth = rng.uniform(0.5, 1.6), rng.uniform(0.35, 0.6)
    height = rng.uniform(0.6, 1.8) if painted else rng.uniform(0.5, 2.0)
    u = layout.slot(wall, width, 0.0, height, depth)
    if u is None:
        return
    mat = layout.walls[wall - 2] if painted else object_material(rng, avoid=layout.walls[wall - 2])
    center = layout.at(wall, u, depth / 2, height / 2)
    layout.add(Shape.BOX, CABINET, mat, center, layout.half(wall, width, height, depth))
    if painted:
        layout.targets.append(center)
    if height < 1.3 and rng.random() < 0.5:
        clutter_on_top(layout, center, layout.half(wall, width, height, depth))


def bed(layout: RoomLayout, wall: Surface, platform: bool) -> None:
    """A bed (frame, mattress, duvet, pillows, headboard, often night stands) with its head
    against ``wall``, or a ``platform`` made of the floor's material (a geometry-only cue)."""
    rng = layout.rng
    if platform:
        width, length, height = rng.uniform(0.9, 2.0), rng.uniform(0.9, 2.0), rng.uniform(0.2, 0.45)
    else:
        width, length = (
            float(rng.choice([0.9, 1.4, 1.6, 1.8])) + rng.uniform(0.0, 0.1),
            rng.uniform(1.95, 2.15),
        )
        height = rng.uniform(0.45, 0.6)
    u = layout.slot(wall, width, 0.0, height if platform else 1.2, length)
    if u is None:
        return
    if platform:
        center = layout.at(wall, u, length / 2, height / 2)
        layout.add(Shape.BOX, BED, layout.floor, center, layout.half(wall, width, height, length))
        layout.targets.append(center)
        return
    frame = object_material(rng, avoid=layout.floor)
    base = rng.uniform(0.2, 0.32)
    layout.wall_box(wall, BED, frame, (u, length / 2, base / 2), (width, base, length))
    sheet = fabric_material(rng)
    layout.wall_box(
        wall, BED, sheet, (u, length / 2, (base + height) / 2), (width - 0.04, height - base, length - 0.04)
    )
    duvet = fabric_material(rng, avoid=layout.floor)
    cover = length * rng.uniform(0.55, 0.75)
    layout.wall_box(
        wall, BED, duvet, (u, length - cover / 2, height - 0.02), (width + 0.06, 0.1, cover + 0.02)
    )
    pillow = fabric_material(rng) if rng.random() < 0.5 else sheet
    count = 1 if width < 1.2 else 2
    for k in range(count):
        pu = u + (k - (count - 1) / 2) * width / count
        layout.wall_box(wall, PILLOW, pillow, (pu, 0.3, height + 0.07), (width / count - 0.1, 0.14, 0.4))
    head = rng.uniform(0.9, 1.3)
    layout.wall_box(
        wall,
        BED,
        object_material(rng, avoid=layout.walls[wall - 2]),
        (u, 0.03, head / 2),
        (width + 0.04, head, 0.06),
    )
    if rng.random() < 0.7:
        from_bed = width / 2 + rng.uniform(0.3, 0.4)
        for side in (-1, 1) if rng.random() < 0.6 else (int(rng.choice([-1, 1])),):
            night_stand(layout, wall, u + side * from_bed)


def night_stand(layout: RoomLayout, wall: Surface, u: float) -> None:
    """A night stand with a drawer front, centred ``u`` along ``wall`` (beside a bed)."""
    rng = layout.rng
    width, depth, height = rng.uniform(0.4, 0.55), rng.uniform(0.35, 0.45), rng.uniform(0.45, 0.65)
    along, _, pos, inward = wall_frame(wall, layout.size)
    if not 0.1 + width / 2 < u < layout.size[along] - 0.1 - width / 2:
        return
    n0, n1 = sorted((pos, pos + inward * depth))
    rect = (u - width / 2, u + width / 2, n0, n1) if along == 0 else (n0, n1, u - width / 2, u + width / 2)
    if any(overlaps(rect, fp, 0.02) for fp in layout.footprints):
        return
    layout.footprints.append(rect)
    mat = object_material(rng, avoid=layout.walls[wall - 2])
    layout.wall_box(wall, NIGHT_STAND, mat, (u, depth / 2, height / 2), (width, height, depth))
    drawer = Material(near_color(rng, mat.color, 0.15))
    layout.wall_box(
        wall, NIGHT_STAND, drawer, (u, depth + 0.005, height * 0.75), (width - 0.06, height * 0.3, 0.01)
    )
    if rng.random() < 0.6:
        lamp_h = rng.uniform(0.3, 0.5)
        layout.wall_box(
            wall, OTHERPROP, object_material(rng), (u, depth / 2, height + lamp_h / 2), (0.2, lamp_h, 0.2)
        )


def table(layout: RoomLayout, wall: Surface) -> None:
    """A table against ``wall`` with chairs in front of it and things on it."""
    rng = layout.rng
    placed = layout.against(wall, (1.0, 1.6), (0.6, 0.9), (0.72, 0.78))
    if placed is None:
        return
    u, width, depth, height = placed
    table_rect = layout.footprints[-1]
    center = layout.at(wall, u, depth / 2, 0.0)
    half = layout.half(wall, width, 0.0, depth)
    _table_at(layout, center[0], center[2], half[0], half[2], height)
    chair_mat = object_material(rng)
    to_wall = layout.facing(wall)
    for k in range(int(rng.integers(0, 3))):
        cu = u + (k - 0.5) * width / 2 if k else u + rng.uniform(-0.2, 0.2) * width
        foot = layout.at(wall, cu, depth + rng.uniform(0.05, 0.3), 0.0)
        chair(layout, foot[0], foot[2], to_wall + rng.uniform(-0.5, 0.5), chair_mat, beside=table_rect)


def centre_table(layout: RoomLayout, *, low: bool = False) -> None:
    """A free-standing table in the open with chairs around it, each facing it; ``low``: a
    coffee table (0.35-0.5 m) without chairs."""
    rng = layout.rng
    size_x, _, size_z = layout.size
    hx, hz, height = rng.uniform(0.4, 0.8), rng.uniform(0.35, 0.5), rng.uniform(0.72, 0.78)
    if low:
        height = rng.uniform(0.35, 0.5)
    if rng.random() < 0.5:
        hx, hz = hz, hx
    if size_x < 2.0 + 2 * hx or size_z < 2.0 + 2 * hz:
        return
    x, z = rng.uniform(1.0 + hx, size_x - 1.0 - hx), rng.uniform(1.0 + hz, size_z - 1.0 - hz)
    rect = (x - hx, x + hx, z - hz, z + hz)
    if any(overlaps(rect, fp, 0.5) for fp in layout.footprints):
        return
    layout.footprints.append(rect)
    _table_at(layout, x, z, hx, hz, height)
    if low:
        return
    chair_mat = object_material(rng)
    for dx, dz in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        if rng.random() < 0.6:
            fx, fz = x + dx * (hx + rng.uniform(0.1, 0.3)), z + dz * (hz + rng.uniform(0.1, 0.3))
            chair(layout, fx, fz, math.atan2(-dx, -dz) + rng.uniform(-0.3, 0.3), chair_mat, beside=rect)


def _table_at(layout: RoomLayout, x: float, z: float, hx: float, hz: float, height: float) -> None:
    """Top and four legs of an axis-aligned table of half size (hx, hz), things on top."""
    top = 0.04
    mat = object_material(layout.rng)
    center, half = (x, height - top / 2, z), (hx, top / 2, hz)
    layout.add(Shape.BOX, TABLE, mat, center, half)
    for sx in (-1, 1):
        for sz in (-1, 1):
            leg_at = (x + sx * (hx - 0.05), (height - top) / 2, z + sz * (hz - 0.05))
            layout.add(Shape.BOX, TABLE, mat, leg_at, (0.025, (height - top) / 2, 0.025))
    clutter_on_top(layout, center, half)


def chair(
    layout: RoomLayout,
    x: float,
    z: float,
    yaw: float,
    mat: Material,
    beside: tuple[float, float, float, float] | None = None,
) -> None:
    """Seat, back and four legs at (x, z), facing ``yaw``; the seat may reach under the
    ``beside`` table but nothing else."""
    rect = (x - 0.32, x + 0.32, z - 0.32, z + 0.32)
    others = [fp for fp in layout.footprints if fp != beside]
    if any(overlaps(rect, fp, 0.02) for fp in others) or not layout.inside(rect):
        return
    layout.footprints.append(rect)
    seat, thick, back = layout.rng.uniform(0.42, 0.48), 0.04, layout.rng.uniform(0.35, 0.5)
    at = local_frame(x, z, yaw)
    layout.add(Shape.BOX, CHAIR, mat, at(0, seat - thick / 2, 0), (0.22, thick / 2, 0.22), yaw)
    layout.add(Shape.BOX, CHAIR, mat, at(0, seat + back / 2, -0.2), (0.22, back / 2, 0.02), yaw)
    leg = (0.02, (seat - thick) / 2, 0.02)
    for lx in (-0.19, 0.19):
        for lz in (-0.19, 0.19):
            layout.add(Shape.BOX, CHAIR, mat, at(lx, (seat - thick) / 2, lz), leg, yaw)
    if layout.rng.random() < SEATED_P:
        seated_person(layout, at, yaw, seat, back=-0.18)


def floor_prop(layout: RoomLayout, wall: Surface) -> None:
    """A bin or a floor lamp by the wall."""
    rng = layout.rng
    if rng.random() < 0.6:
        r, h = rng.uniform(0.12, 0.25), rng.uniform(0.3, 0.7)
        u = layout.slot(wall, 2 * r, 0.0, h, 2 * r + 0.05)
        if u is not None:
            layout.add(
                Shape.CYLINDER,
                OTHERPROP,
                object_material(rng),
                layout.at(wall, u, r + 0.05, h / 2),
                (r, h / 2, r),
            )
        return
    r, h, shade = rng.uniform(0.16, 0.25), rng.uniform(1.3, 1.7), rng.uniform(0.25, 0.35)
    u = layout.slot(wall, 2 * r, 0.0, h, 2 * r + 0.05)
    if u is not None:
        mat = object_material(rng)
        layout.add(
            Shape.CYLINDER,
            LAMP,
            mat,
            layout.at(wall, u, r + 0.05, (h - shade) / 2),
            (0.02, (h - shade) / 2, 0.02),
        )
        layout.add(
            Shape.CYLINDER,
            LAMP,
            object_material(rng),
            layout.at(wall, u, r + 0.05, h - shade / 2),
            (r, shade / 2, r),
        )


def clutter_on_top(layout: RoomLayout, center: Vec3, half: Vec3) -> None:
    """Clutter on a table or cabinet top: a lamp, a vase or ball, boxes (otherprop: NYUv2 labels
    most small things, and its 40-class set files them there); a few boxes stay unlabelled."""
    rng = layout.rng
    top = center[1] + half[1]
    for _ in range(int(rng.integers(1, 5))):
        r = rng.uniform(0.04, 0.14)
        if min(half[0], half[2]) <= r + 0.02:
            return
        x = center[0] + rng.uniform(-1, 1) * (half[0] - r - 0.02)
        z = center[2] + rng.uniform(-1, 1) * (half[2] - r - 0.02)
        roll = rng.random()
        if roll < 0.2:
            h = rng.uniform(0.25, 0.4)
            layout.add(Shape.CYLINDER, LAMP, object_material(rng), (x, top + h / 2, z), (0.03, h / 2, 0.03))
            layout.add(
                Shape.CYLINDER, LAMP, object_material(rng), (x, top + h, z), (r + 0.04, 0.08, r + 0.04)
            )
        elif roll < 0.45:
            h = rng.uniform(0.08, 0.35)
            layout.add(Shape.CYLINDER, OTHERPROP, object_material(rng), (x, top + h / 2, z), (r, h / 2, r))
        elif roll < 0.55:
            layout.add(Shape.SPHERE, OTHERPROP, object_material(rng), (x, top + r, z), (r, r, r))
        else:
            hh = rng.uniform(0.03, 0.15)
            layout.add(
                Shape.BOX,
                OTHERPROP if rng.random() < 0.7 else VOID,
                object_material(rng),
                (x, top + hh, z),
                (r, hh, r * rng.uniform(0.5, 1.5)),
                rng.uniform(-0.8, 0.8),
            )


def ball(layout: RoomLayout) -> None:
    """A ball (otherprop) lying somewhere free on the floor."""
    size_x, _, size_z = layout.size
    r = layout.rng.uniform(0.1, 0.3)
    x, z = layout.rng.uniform(0.4, size_x - 0.4), layout.rng.uniform(0.4, size_z - 0.4)
    rect = (x - r, x + r, z - r, z + r)
    if not any(overlaps(rect, fp, 0.05) for fp in layout.footprints):
        layout.footprints.append(rect)
        layout.add(Shape.SPHERE, OTHERPROP, object_material(layout.rng), (x, r, z), (r, r, r))
