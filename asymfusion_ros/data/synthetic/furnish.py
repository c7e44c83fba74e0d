"""A random furnished room: its type, which builders run and how often, and its lights.

A room is a bedroom, living room, office, kitchen, classroom, bathroom or a mixed room
(equally likely; bathrooms 2.2-3.5 m across, the others 3-7 m), each furnished the way such
rooms are: beds with night stands against walls, sofas facing a TV, desks with monitors and
chairs, counter runs under wall cabinets, rows of tables, a tub, a toilet and a basin under a
mirror; two to four pieces along every wall. Every room carries the appearance-only cues (a
picture, a rug); the geometry-only ones are drawn per room (:data:`PAINTED_CABINET_P`,
:data:`PLATFORM_P`), as a floor-made platform in every room would teach that any low box is
a bed. To add an object kind, write its builder in :mod:`.furniture`, :mod:`.seating`,
:mod:`.storage`, :mod:`.bathroom` or :mod:`.decor` and call it here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from asymfusion_ros.data.synthetic.bathroom import bathtub, toilet, towel, vanity
from asymfusion_ros.data.synthetic.decor import door, picture, rug, whiteboard, window
from asymfusion_ros.data.synthetic.furniture import ball, bed, cabinet, centre_table, floor_prop, table
from asymfusion_ros.data.synthetic.layout import RoomLayout
from asymfusion_ros.data.synthetic.materials import any_color, near_color
from asymfusion_ros.data.synthetic.scene import PICTURE, WALLS, Material, Room, Surface, Vec3
from asymfusion_ros.data.synthetic.seating import armchair, person, sofa, stool
from asymfusion_ros.data.synthetic.storage import bookshelf, boxes, counter, desk, tv_stand

WallBuilder = Callable[[RoomLayout, Surface], None]

PAINTED_CABINET_P = 0.5
"""Share of rooms with a cabinet painted exactly like the wall behind it."""
PLATFORM_P = 0.3
"""Share of rooms with a platform made of the floor's material."""


def _tall_cabinet(layout: RoomLayout, wall: Surface) -> None:
    cabinet(layout, wall, painted=False)


def _bed(layout: RoomLayout, wall: Surface) -> None:
    bed(layout, wall, platform=False)


def _shelves(layout: RoomLayout, wall: Surface) -> None:
    bookshelf(layout, wall, open_shelves=True)


ROOM_TYPES: dict[str, tuple[tuple[WallBuilder, float], ...]] = {
    "bedroom": ((_tall_cabinet, 3), (desk, 1), (bookshelf, 1), (_shelves, 1), (boxes, 1), (floor_prop, 1)),
    "living": ((sofa, 3), (tv_stand, 2), (bookshelf, 2), (_tall_cabinet, 1), (floor_prop, 2), (_shelves, 1)),
    "office": ((desk, 4), (bookshelf, 2), (_tall_cabinet, 2), (boxes, 1), (_shelves, 1), (whiteboard, 1)),
    "kitchen": ((counter, 4), (_tall_cabinet, 2), (table, 1), (_shelves, 1), (floor_prop, 1)),
    "classroom": ((desk, 2), (bookshelf, 2), (_tall_cabinet, 1), (whiteboard, 2), (boxes, 1)),
    "bathroom": ((towel, 3), (vanity, 1), (toilet, 1), (_shelves, 1), (_tall_cabinet, 1), (floor_prop, 1)),
    "mixed": (
        (_tall_cabinet, 3),
        (table, 2),
        (_bed, 1),
        (sofa, 1),
        (desk, 1),
        (bookshelf, 1),
        (floor_prop, 1),
        (boxes, 1),
    ),
}
"""Per room type: the wall builders and their relative weights."""


def _furnish_type(layout: RoomLayout, kind: str) -> None:
    """The pieces that make a room of ``kind``, then weighted wall builders along every wall."""
    rng = layout.rng
    walls = list(WALLS)
    order = [walls[k] for k in rng.permutation(4)]
    if kind == "bedroom":
        _bed(layout, order[0])
    elif kind == "living":
        sofa(layout, order[0])
        centre_table(layout, low=True)
        for _ in range(int(rng.integers(0, 3))):
            armchair(layout, *_free_point(layout), float(rng.uniform(0, 2 * np.pi)))
    elif kind == "kitchen":
        counter(layout, order[0])
        if rng.random() < 0.6:
            centre_table(layout)
        stool_mat = Material(any_color(rng, (0.0, 0.6), (0.1, 0.9)))
        for _ in range(int(rng.integers(0, 3))):
            stool(layout, *_free_point(layout), stool_mat)
    elif kind == "classroom":
        whiteboard(layout, order[0])
        for _ in range(int(rng.integers(2, 6))):
            centre_table(layout)
    elif kind == "office":
        desk(layout, order[0])
    elif kind == "bathroom":
        bathtub(layout, order[0])
        toilet(layout, order[1])
        vanity(layout, order[2])
    builders = ROOM_TYPES[kind]
    weights = np.array([w for _, w in builders], dtype=np.float64)
    for wall in order:
        for _ in range(int(rng.integers(2, 5))):
            build = builders[int(rng.choice(len(builders), p=weights / weights.sum()))][0]
            build(layout, wall)


def _free_point(layout: RoomLayout) -> tuple[float, float]:
    """A random floor point at least 0.6 m from the walls (the builder checks for overlaps)."""
    size_x, _, size_z = layout.size
    return float(layout.rng.uniform(0.6, size_x - 0.6)), float(layout.rng.uniform(0.6, size_z - 0.6))


def random_room(rng: np.random.Generator) -> tuple[Room, RoomLayout]:
    """A furnished room of a random type with at least one picture and one rug, often a
    painted cabinet and a floor platform."""
    kind = str(rng.choice(list(ROOM_TYPES)))
    if kind == "bathroom":
        size: Vec3 = (rng.uniform(2.2, 3.5), rng.uniform(2.3, 2.7), rng.uniform(2.2, 3.5))
    else:
        size = (rng.uniform(3.0, 6.5), rng.uniform(2.4, 3.0), rng.uniform(3.0, 7.0))
    layout = RoomLayout(rng, size)
    walls = list(WALLS)
    if rng.random() < 0.9:
        door(layout, walls[int(rng.integers(4))])
    for _ in range(int(rng.choice([0, 1, 1, 2]))):
        window(layout, walls[int(rng.integers(4))])
    order = rng.permutation(4)
    if rng.random() < PAINTED_CABINET_P:
        cabinet(layout, walls[order[0]], painted=True)
    if rng.random() < PLATFORM_P and kind != "bathroom":
        bed(layout, walls[order[1]], platform=True)
    _furnish_type(layout, kind)
    for wall in walls:
        for _ in range(int(rng.choice([0, 1, 1, 2]))):
            picture(layout, wall)
    if not any(d.label == PICTURE for d in layout.decals):
        for wall in walls:
            picture(layout, wall)
    for _ in range(1 + int(rng.random() < 0.4)):
        rug(layout)
    for _ in range(int(rng.integers(0, 2))):
        ball(layout)
    for _ in range(int(rng.choice([0, 0, 0, 1, 2]))):
        person(layout)
    size_x, size_y, size_z = size

    def ceiling_light() -> Vec3:
        return (
            rng.uniform(0.2, 0.8) * size_x,
            size_y - rng.uniform(0.1, 0.5),
            rng.uniform(0.2, 0.8) * size_z,
        )

    more_lights = tuple(
        (ceiling_light(), float(rng.uniform(0.5, 2.0))) for _ in range(int(rng.integers(0, 4)))
    )
    room = Room(
        size_m=size,
        walls=layout.walls,
        floor=layout.floor,
        ceiling=Material(any_color(rng, (0.0, 0.06), (0.75, 0.95))),
        solids=tuple(layout.solids),
        decals=tuple(layout.decals),
        light_m=ceiling_light(),
        light_power=rng.uniform(1.0, 3.5),
        ambient=rng.uniform(0.2, 0.5),
        light_tint=near_color(rng, (1.0, 0.95, 0.88), 0.08),
        more_lights=more_lights,
        occlusion=float(rng.uniform(0.3, 0.9)),
    )
    return room, layout
