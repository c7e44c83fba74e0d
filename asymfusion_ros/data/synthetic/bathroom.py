"""Bathroom fittings, one builder per kind: toilet, washbasin on a vanity under a mirror,
bathtub with a shower curtain, towels.

Real sizes: toilets 0.4 m high (seat) with a cistern to 0.8 m; basins at 0.85 m on a vanity
0.45-0.55 m deep; bathtubs 1.5-1.8 m long, 0.7-0.8 m wide, 0.5-0.6 m high. Ceramics are white
or near-white, which is why a bathroom is hard in colour alone: its shapes and heights (depth)
tell a toilet from a basin or a tub.
"""

from __future__ import annotations

from asymfusion_ros.data.synthetic.layout import RoomLayout
from asymfusion_ros.data.synthetic.materials import (
    fabric_material,
    image_material,
    metal_material,
    near_color,
    object_material,
)
from asymfusion_ros.data.synthetic.scene import (
    BATHTUB,
    CABINET,
    MIRROR,
    SHOWER_CURTAIN,
    SINK,
    TOILET,
    TOWEL,
    Material,
    Shape,
    Surface,
    wall_frame,
)


def _ceramic(layout: RoomLayout) -> Material:
    """Glazed white or cream ceramic."""
    return Material(near_color(layout.rng, (0.92, 0.92, 0.9), 0.06))


def toilet(layout: RoomLayout, wall: Surface) -> None:
    """A cistern against ``wall`` and a round bowl with a seat in front of it."""
    slot = layout.against(wall, (0.45, 0.5), (0.65, 0.75), (0.75, 0.85))
    if slot is None:
        return
    u, width, depth, height = slot
    white = _ceramic(layout)
    layout.wall_box(wall, TOILET, white, (u, 0.1, (height + 0.4) / 2), (width, height - 0.4, 0.2))
    r = min(width, depth - 0.2) / 2 - 0.03
    center = layout.at(wall, u, 0.2 + r, 0.2)
    layout.add(Shape.CYLINDER, TOILET, white, center, (r, 0.2, r))
    layout.add(Shape.CYLINDER, TOILET, white, (center[0], 0.41, center[2]), (r + 0.02, 0.015, r + 0.02))


def vanity(layout: RoomLayout, wall: Surface) -> None:
    """A washbasin on a vanity cabinet, a tap, and a mirror on the wall above."""
    rng = layout.rng
    slot = layout.against(wall, (0.6, 1.2), (0.45, 0.55), (0.8, 0.88))
    if slot is None:
        return
    u, width, depth, height = slot
    front = object_material(rng, avoid=layout.walls[wall - 2])
    layout.wall_box(wall, CABINET, front, (u, depth / 2, (height - 0.04) / 2), (width, height - 0.04, depth))
    basin = (min(width - 0.1, 0.55), 0.14, depth - 0.08)
    layout.wall_box(wall, SINK, _ceramic(layout), (u, depth / 2, height + 0.03), basin)
    layout.wall_box(wall, SINK, metal_material(rng), (u, 0.06, height + 0.15), (0.04, 0.2, 0.04))
    top = min(height + rng.uniform(1.0, 1.2), layout.size[1] - 0.1)
    mirror_width = min(width, rng.uniform(0.5, 1.0))
    rect = (u - mirror_width / 2, height + 0.2, u + mirror_width / 2, top)
    along = wall_frame(wall, layout.size)[0]
    glass = image_material(rng, along, ((0.0, 0.2), (0.3, 0.8)), ((0.0, 0.25), (0.5, 1.0)), (0.3, 1.0), 0.6)
    layout.framed(wall, rect, rng.uniform(0.0, 0.03), MIRROR, metal_material(rng), glass)


def bathtub(layout: RoomLayout, wall: Surface) -> None:
    """A bathtub along ``wall``, often with a shower curtain on its open side."""
    rng = layout.rng
    slot = layout.against(wall, (1.5, 1.8), (0.7, 0.8), (0.5, 0.6))
    if slot is None:
        return
    u, length, depth, height = slot
    layout.wall_box(wall, BATHTUB, _ceramic(layout), (u, depth / 2, height / 2), (length, height, depth))
    if rng.random() < 0.6:
        rod = min(rng.uniform(1.9, 2.1), layout.size[1] - 0.05)
        cloth = fabric_material(rng, avoid=layout.walls[wall - 2])
        drawn = length * rng.uniform(0.3, 1.0)
        layout.wall_box(
            wall,
            SHOWER_CURTAIN,
            cloth,
            (u - length / 2 + drawn / 2, depth - 0.03, (rod + height + 0.1) / 2),
            (drawn, rod - height - 0.1, 0.03),
        )


def towel(layout: RoomLayout, wall: Surface) -> None:
    """A towel hanging flat from a rail on ``wall``."""
    rng = layout.rng
    width, length = rng.uniform(0.3, 0.7), rng.uniform(0.4, 0.8)
    top = rng.uniform(1.1, 1.7)
    u = layout.slot(wall, width, top - length, top, 0.0)
    if u is not None:
        cloth = fabric_material(rng, avoid=layout.walls[wall - 2])
        layout.wall_box(wall, TOWEL, cloth, (u, 0.04, top - length / 2), (width, length, 0.04))
