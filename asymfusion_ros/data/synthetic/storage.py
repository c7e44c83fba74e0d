"""Builders for furniture that stores things: bookshelves with books, open shelves, kitchen
counters, desks with a monitor, TV stands, boxes.

Real sizes: bookshelves 0.8-2.2 m high and 0.25-0.4 m deep with shelves every 0.3-0.4 m;
counters 0.9 m high and 0.6 m deep under wall cabinets from 1.45 m; night stands 0.45-0.65 m;
desks 0.72-0.78 m with a drawer block.
"""

from __future__ import annotations

from asymfusion_ros.data.synthetic.furniture import chair
from asymfusion_ros.data.synthetic.layout import RoomLayout
from asymfusion_ros.data.synthetic.materials import (
    any_color,
    books_material,
    metal_material,
    near_color,
    object_material,
    screen_material,
)
from asymfusion_ros.data.synthetic.scene import (
    BOOKS,
    BOOKSHELF,
    BOX,
    CABINET,
    COUNTER,
    DESK,
    OTHERPROP,
    SHELVES,
    TELEVISION,
    Material,
    Surface,
    wall_frame,
)


def _books(layout: RoomLayout, wall: Surface, u: float, width: float, y: float, depth: float) -> None:
    """Runs of books standing on a board at height ``y``, with gaps between them."""
    rng = layout.rng
    along = wall_frame(wall, layout.size)[0]
    start = u - width / 2
    while start < u + width / 2 - 0.08:
        run = min(rng.uniform(0.1, 0.6), u + width / 2 - start)
        if rng.random() < 0.8:
            height = rng.uniform(0.17, 0.3)
            deep = depth * rng.uniform(0.6, 0.9)
            layout.wall_box(
                wall,
                BOOKS,
                books_material(rng, along),
                (start + run / 2, deep / 2, y + height / 2),
                (run, height, deep),
            )
        start += run + rng.uniform(0.0, 0.15)


def bookshelf(layout: RoomLayout, wall: Surface, *, open_shelves: bool = False) -> None:
    """A bookcase (sides, back, boards) full of books; ``open_shelves``: wall-hung shelves
    (class shelves) holding books and a few things."""
    rng = layout.rng
    width, depth = rng.uniform(0.6, 1.6), rng.uniform(0.25, 0.4)
    if open_shelves:
        y0, height = rng.uniform(0.9, 1.3), rng.uniform(0.5, 0.9)
    else:
        y0, height = 0.0, rng.uniform(0.8, 2.2)
    u = layout.slot(wall, width, y0, y0 + height, depth if not open_shelves else 0.0)
    if u is None:
        return
    label = SHELVES if open_shelves else BOOKSHELF
    wood = object_material(rng, avoid=layout.walls[wall - 2])
    board = 0.02
    pitch = rng.uniform(0.3, 0.4)
    levels = max(1, int(height // pitch))
    if not open_shelves:
        layout.wall_box(wall, label, wood, (u, 0.01, height / 2), (width, height, 0.02))
        for side in (-1, 1):
            layout.wall_box(
                wall,
                label,
                wood,
                (u + side * (width / 2 - 0.01), depth / 2, height / 2),
                (0.02, height, depth),
            )
    for k in range(levels + 1):
        y = y0 + min(k * pitch, height - board)
        layout.wall_box(wall, label, wood, (u, depth / 2, y + board / 2), (width - 0.04, board, depth))
        if k < levels and rng.random() < 0.85:
            _books(layout, wall, u, width - 0.08, y + board, depth)


def counter(layout: RoomLayout, wall: Surface) -> None:
    """A kitchen run: base cabinets with doors and handles, a worktop (counter), often wall
    cabinets above."""
    rng = layout.rng
    width = rng.uniform(1.2, 3.0)
    u = layout.slot(wall, width, 0.0, layout.size[1], 0.62)
    if u is None:
        return
    front = object_material(rng, avoid=layout.walls[wall - 2])
    top = Material(any_color(rng, (0.0, 0.3), (0.1, 0.95))) if rng.random() < 0.5 else object_material(rng)
    handle = metal_material(rng)
    layout.wall_box(wall, CABINET, front, (u, 0.3, 0.44), (width, 0.88, 0.6))
    layout.wall_box(wall, COUNTER, top, (u, 0.31, 0.9), (width + 0.02, 0.04, 0.62))
    doors = max(1, round(width / 0.6))
    for k in range(doors):
        du = u - width / 2 + (k + 0.5) * width / doors
        layout.wall_box(wall, CABINET, handle, (du + 0.2 * width / doors, 0.61, 0.7), (0.02, 0.12, 0.02))
    if rng.random() < 0.7:
        bottom = rng.uniform(1.4, 1.55)
        height = min(rng.uniform(0.6, 0.9), layout.size[1] - bottom - 0.05)
        layout.wall_box(wall, CABINET, front, (u, 0.18, bottom + height / 2), (width, height, 0.35))
    for _ in range(int(rng.integers(0, 3))):
        r, h = rng.uniform(0.04, 0.12), rng.uniform(0.1, 0.35)
        at = u + rng.uniform(-0.45, 0.45) * width
        layout.wall_box(wall, OTHERPROP, object_material(rng), (at, 0.25, 0.92 + h / 2), (2 * r, h, 2 * r))


def desk(layout: RoomLayout, wall: Surface) -> None:
    """A desk against ``wall``: top, drawer block, legs, usually a monitor and a chair."""
    placed = layout.against(wall, (1.0, 1.8), (0.6, 0.8), (0.72, 0.78))
    if placed is None:
        return
    u, width, depth, height = placed
    desk_rect, rng = layout.footprints[-1], layout.rng
    mat = object_material(rng)
    layout.wall_box(wall, DESK, mat, (u, depth / 2, height - 0.015), (width, 0.03, depth))
    block = rng.uniform(0.35, 0.45)
    side = 1 if rng.random() < 0.5 else -1
    layout.wall_box(
        wall,
        DESK,
        mat,
        (u + side * (width - block) / 2, depth / 2, (height - 0.03) / 2),
        (block, height - 0.03, depth - 0.04),
    )
    layout.wall_box(
        wall,
        DESK,
        mat,
        (u - side * (width / 2 - 0.03), depth / 2, (height - 0.03) / 2),
        (0.04, height - 0.03, depth - 0.04),
    )
    if rng.random() < 0.75:
        along = wall_frame(wall, layout.size)[0]
        mw, mh = rng.uniform(0.45, 0.7), rng.uniform(0.3, 0.45)
        layout.wall_box(
            wall, TELEVISION, screen_material(rng, along), (u, 0.2, height + 0.1 + mh / 2), (mw, mh, 0.03)
        )
        layout.wall_box(wall, OTHERPROP, metal_material(rng), (u, 0.15, height + 0.05), (0.05, 0.1, 0.05))
    if rng.random() < 0.8:
        foot = layout.at(wall, u, depth + rng.uniform(0.05, 0.3), 0.0)
        yaw = layout.facing(wall) + rng.uniform(-0.6, 0.6)
        chair(layout, foot[0], foot[2], yaw, object_material(rng), beside=desk_rect)


def tv_stand(layout: RoomLayout, wall: Surface) -> None:
    """A low cabinet against ``wall`` with a television standing on it."""
    rng = layout.rng
    width, depth, height = rng.uniform(1.0, 1.8), rng.uniform(0.35, 0.5), rng.uniform(0.4, 0.6)
    u = layout.slot(wall, width, 0.0, height + 0.8, depth)
    if u is None:
        return
    layout.wall_box(
        wall,
        CABINET,
        object_material(rng, avoid=layout.walls[wall - 2]),
        (u, depth / 2, height / 2),
        (width, height, depth),
    )
    along = wall_frame(wall, layout.size)[0]
    tw = min(rng.uniform(0.8, 1.4), width)
    th = tw * 0.58
    layout.wall_box(
        wall, TELEVISION, screen_material(rng, along), (u, depth / 2, height + 0.06 + th / 2), (tw, th, 0.06)
    )


def boxes(layout: RoomLayout, wall: Surface) -> None:
    """A stack of one to three cardboard or plastic boxes by ``wall``."""
    rng = layout.rng
    width, depth = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.5)
    u = layout.slot(wall, width, 0.0, 1.2, depth + 0.05)
    if u is None:
        return
    y = 0.0
    for _ in range(int(rng.integers(1, 4))):
        h = rng.uniform(0.2, 0.45)
        cardboard = (
            Material(near_color(rng, (0.62, 0.48, 0.32), 0.1)) if rng.random() < 0.6 else object_material(rng)
        )
        layout.wall_box(wall, BOX, cardboard, (u, depth / 2 + 0.05, y + h / 2), (width, h, depth))
        y += h
        width, depth = width * rng.uniform(0.7, 1.0), depth * rng.uniform(0.7, 1.0)
