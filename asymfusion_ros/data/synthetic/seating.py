"""Builders for what people sit on, and people: sofas with pillows, armchairs, stools, persons
standing or seated.

Sizes follow common furniture (a sofa seat 0.40-0.48 m high and 0.8-1.0 m deep, backs up to
0.9 m, arms 0.55-0.7 m) and adult bodies (1.55-1.9 m).
"""

from __future__ import annotations

import math

from asymfusion_ros.data.synthetic.layout import LocalFrame, RoomLayout, local_frame, overlaps
from asymfusion_ros.data.synthetic.materials import (
    any_color,
    fabric_material,
    metal_material,
    object_material,
)
from asymfusion_ros.data.synthetic.scene import CHAIR, PERSON, PILLOW, SOFA, Material, Shape, Surface

SEATED_P = 0.12
"""How often a chair or armchair has somebody sitting on it."""


def sofa(layout: RoomLayout, wall: Surface) -> None:
    """A sofa against ``wall``: base, seat cushions, back, two arms, some loose pillows."""
    rng = layout.rng
    width, depth = rng.uniform(1.4, 2.4), rng.uniform(0.8, 1.0)
    seat, back, arm = rng.uniform(0.4, 0.48), rng.uniform(0.75, 0.95), rng.uniform(0.55, 0.7)
    u = layout.slot(wall, width, 0.0, back, depth)
    if u is None:
        return
    cloth = fabric_material(rng, avoid=layout.walls[wall - 2])
    cushion = cloth if rng.random() < 0.6 else fabric_material(rng)
    base, back_t, arm_w = seat - 0.12, rng.uniform(0.15, 0.25), rng.uniform(0.1, 0.2)
    layout.wall_box(wall, SOFA, cloth, (u, depth / 2, base / 2), (width, base, depth))
    inner = width - 2 * arm_w
    layout.wall_box(
        wall, SOFA, cushion, (u, (depth + back_t) / 2, seat - 0.06), (inner, 0.12, depth - back_t)
    )
    layout.wall_box(wall, SOFA, cloth, (u, back_t / 2, back / 2), (width, back, back_t))
    for side in (-1, 1):
        layout.wall_box(
            wall, SOFA, cloth, (u + side * (width - arm_w) / 2, depth / 2, arm / 2), (arm_w, arm, depth)
        )
    for _ in range(int(rng.integers(0, 4))):
        size = rng.uniform(0.3, 0.45)
        at = u + rng.uniform(-0.5, 0.5) * (inner - size)
        layout.wall_box(
            wall, PILLOW, fabric_material(rng), (at, back_t + 0.08, seat + size / 2), (size, size, 0.12)
        )


def armchair(layout: RoomLayout, x: float, z: float, yaw: float) -> None:
    """An upholstered armchair (labelled chair, as NYUv2 does) at (x, z) facing ``yaw``."""
    rect = (x - 0.45, x + 0.45, z - 0.45, z + 0.45)
    if any(overlaps(rect, fp, 0.05) for fp in layout.footprints) or not layout.inside(rect):
        return
    layout.footprints.append(rect)
    rng = layout.rng
    cloth = fabric_material(rng)
    at = local_frame(x, z, yaw)
    seat, back = rng.uniform(0.4, 0.46), rng.uniform(0.8, 1.0)
    layout.add(Shape.BOX, CHAIR, cloth, at(0, seat / 2, 0.05), (0.38, seat / 2, 0.35), yaw)
    layout.add(Shape.BOX, CHAIR, cloth, at(0, back / 2, -0.34), (0.4, back / 2, 0.08), yaw)
    for side in (-1, 1):
        layout.add(Shape.BOX, CHAIR, cloth, at(side * 0.36, 0.3, 0.0), (0.07, 0.3, 0.4), yaw)
    if rng.random() < SEATED_P:
        seated_person(layout, at, yaw, seat, back=-0.26)


def stool(layout: RoomLayout, x: float, z: float, mat: Material) -> None:
    """A bar or kitchen stool: a round seat on a post."""
    rect = (x - 0.2, x + 0.2, z - 0.2, z + 0.2)
    if any(overlaps(rect, fp, 0.02) for fp in layout.footprints) or not layout.inside(rect):
        return
    layout.footprints.append(rect)
    h = layout.rng.uniform(0.45, 0.75)
    layout.add(Shape.CYLINDER, CHAIR, mat, (x, h - 0.03, z), (0.18, 0.03, 0.18))
    layout.add(
        Shape.CYLINDER,
        CHAIR,
        metal_material(layout.rng),
        (x, (h - 0.06) / 2, z),
        (0.03, (h - 0.06) / 2, 0.03),
    )
    layout.add(Shape.CYLINDER, CHAIR, mat, (x, 0.01, z), (0.16, 0.01, 0.16))


def person(layout: RoomLayout) -> None:
    """A person standing somewhere free, facing a random way."""
    rng = layout.rng
    size_x, _, size_z = layout.size
    x, z = rng.uniform(0.6, size_x - 0.6), rng.uniform(0.6, size_z - 0.6)
    rect = (x - 0.3, x + 0.3, z - 0.3, z + 0.3)
    if any(overlaps(rect, fp, 0.1) for fp in layout.footprints):
        return
    layout.footprints.append(rect)
    yaw, height = rng.uniform(0, 2 * math.pi), rng.uniform(1.55, 1.9)
    at, trousers, leg = local_frame(x, z, yaw), object_material(rng), 0.5 * height
    for side in (-1, 1):
        layout.add(Shape.BOX, PERSON, trousers, at(side * 0.1, leg / 2, 0), (0.08, leg / 2, 0.09), yaw)
    _upper_body(layout, at, yaw, height, hips=leg, back=0.0)


def seated_person(layout: RoomLayout, at: LocalFrame, yaw: float, seat: float, back: float) -> None:
    """A person sitting on a seat ``seat`` m high whose backrest is at ``back`` (forward
    offset in the seat's frame ``at``): thighs along the seat, shins down to the floor."""
    rng = layout.rng
    height = rng.uniform(1.55, 1.9)
    trousers = object_material(rng)
    thigh = 0.245 * height
    for side in (-1, 1):
        lx = side * 0.1
        layout.add(
            Shape.BOX,
            PERSON,
            trousers,
            at(lx, seat + 0.08, back + 0.1 + thigh / 2),
            (0.08, 0.08, thigh / 2),
            yaw,
        )
        layout.add(
            Shape.BOX,
            PERSON,
            trousers,
            at(lx, (seat + 0.08) / 2, back + 0.12 + thigh),
            (0.07, (seat + 0.08) / 2, 0.07),
            yaw,
        )
    _upper_body(layout, at, yaw, height, hips=seat + 0.16, back=back + 0.14)


def _upper_body(
    layout: RoomLayout, at: LocalFrame, yaw: float, height: float, hips: float, back: float
) -> None:
    """Torso, arms and head of a ``height`` m tall body whose hips are ``hips`` m up and
    whose trunk stands ``back`` m forward in the frame ``at``."""
    rng = layout.rng
    top = fabric_material(rng)
    skin = Material(any_color(rng, (0.2, 0.6), (0.25, 0.85)))
    hair = Material(any_color(rng, (0.0, 0.5), (0.03, 0.5)))
    torso = 0.3 * height
    layout.add(Shape.BOX, PERSON, top, at(0, hips + torso / 2, back), (0.2, torso / 2, 0.12), yaw)
    for side in (-1, 1):
        arm = at(side * 0.25, hips + torso - 0.15 * height, back)
        layout.add(Shape.BOX, PERSON, top, arm, (0.05, 0.15 * height, 0.06), yaw)
    head = 0.1 * height / 2 + 0.02
    chin = hips + torso + 0.05
    layout.add(Shape.SPHERE, PERSON, skin, at(0, chin + head, back), (head, head, head))
    crown = at(0, chin + head + 0.02, back - 0.02)
    layout.add(Shape.SPHERE, PERSON, hair, crown, (head, head, head))
