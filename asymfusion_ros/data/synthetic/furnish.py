"""A random furnished room: which builders run, how often, and the room's light.

The recipe guarantees every designed-in cue at least once (a painted cabinet, a floor-made
platform, a picture, a rug). To add an object kind, write its builder in :mod:`.furniture`
or :mod:`.decor` and call it here.
"""

from __future__ import annotations

import numpy as np

from asymfusion_ros.data.synthetic.decor import door, picture, rug, window
from asymfusion_ros.data.synthetic.furniture import ball, bed, cabinet, centre_table, floor_prop, table
from asymfusion_ros.data.synthetic.layout import RoomLayout
from asymfusion_ros.data.synthetic.materials import any_color, near_color
from asymfusion_ros.data.synthetic.scene import PICTURE, WALLS, Material, Room, Vec3


def random_room(rng: np.random.Generator) -> tuple[Room, RoomLayout]:
    """A furnished room with at least one painted cabinet, one floor platform, one picture and one rug."""
    size: Vec3 = (rng.uniform(3.6, 6.5), rng.uniform(2.5, 3.0), rng.uniform(3.6, 7.0))
    layout = RoomLayout(rng, size)
    walls = list(WALLS)
    if rng.random() < 0.9:
        door(layout, walls[int(rng.integers(4))])
    for _ in range(int(rng.choice([0, 1, 1, 2]))):
        window(layout, walls[int(rng.integers(4))])
    order = rng.permutation(4)
    cabinet(layout, walls[order[0]], painted=True)
    if rng.random() < 0.4:
        cabinet(layout, walls[order[1]], painted=True)
    bed(layout, walls[order[2]], platform=True)
    if rng.random() < 0.4:
        centre_table(layout)
    for k in rng.permutation(4):
        wall = walls[k]
        for _ in range(int(rng.integers(1, 4))):
            roll = rng.random()
            if roll < 0.3:
                cabinet(layout, wall, painted=False)
            elif roll < 0.4:
                cabinet(layout, wall, painted=True)
            elif roll < 0.65:
                table(layout, wall)
            elif roll < 0.75:
                bed(layout, wall, platform=False)
            elif roll < 0.82:
                bed(layout, wall, platform=True)
            else:
                floor_prop(layout, wall)
    for wall in walls:
        for _ in range(int(rng.choice([0, 1, 1, 2]))):
            picture(layout, wall)
    if not any(d.label == PICTURE for d in layout.decals):
        for wall in walls:
            picture(layout, wall)
    for _ in range(1 + int(rng.random() < 0.4)):
        rug(layout)
    for _ in range(int(rng.integers(0, 3))):
        ball(layout)
    size_x, size_y, size_z = size
    room = Room(
        size_m=size,
        walls=layout.walls,
        floor=layout.floor,
        ceiling=Material(any_color(rng, (0.0, 0.06), (0.8, 0.95))),
        solids=tuple(layout.solids),
        decals=tuple(layout.decals),
        light_m=(
            rng.uniform(0.25, 0.75) * size_x,
            size_y - rng.uniform(0.1, 0.5),
            rng.uniform(0.25, 0.75) * size_z,
        ),
        light_power=rng.uniform(1.5, 3.5),
        ambient=rng.uniform(0.3, 0.55),
        light_tint=near_color(rng, (1.0, 0.97, 0.92), 0.04),
    )
    return room, layout
