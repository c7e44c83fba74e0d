"""Things on walls and floors, one builder per kind: doors, windows (with curtains or blinds),
pictures, whiteboards and rugs as decals on a surface; curtains as thin solids.

Decals have their host's depth exactly, so pictures and rugs are the appearance-only cues.
"""

from __future__ import annotations

from asymfusion_ros.data.synthetic.layout import RoomLayout
from asymfusion_ros.data.synthetic.materials import (
    any_color,
    fabric_material,
    floor_axes,
    image_material,
    near_color,
    object_material,
)
from asymfusion_ros.data.synthetic.scene import (
    BLINDS,
    CURTAIN,
    DOOR,
    FLOOR_MAT,
    PICTURE,
    UP,
    WHITEBOARD,
    WINDOW,
    Decal,
    Material,
    Pattern,
    Surface,
    wall_frame,
)


def _span(u: float, width: float, v0: float, v1: float) -> tuple[float, float, float, float]:
    """A decal rectangle ``width`` wide centred at ``u``, from height ``v0`` to ``v1``."""
    return (u - width / 2, v0, u + width / 2, v1)


def door(layout: RoomLayout, wall: Surface) -> None:
    """A framed door flush with ``wall`` (an appearance-only cue)."""
    width, height = layout.rng.uniform(0.8, 0.95), layout.rng.uniform(2.0, 2.1)
    u = layout.slot(wall, width + 0.1, 0.0, layout.size[1], 0.9)
    if u is not None:
        wall_mat = layout.walls[wall - 2]
        layout.framed(
            wall,
            _span(u, width + 0.1, 0.0, height + 0.05),
            0.05,
            DOOR,
            object_material(layout.rng, avoid=wall_mat),
            object_material(layout.rng, avoid=wall_mat),
        )
        layout.targets.append(layout.at(wall, u, 0.0, height / 2))


def window(layout: RoomLayout, wall: Surface) -> None:
    """A framed window on ``wall``; its glass almost never returns depth."""
    rng = layout.rng
    width, sill = rng.uniform(0.8, 1.6), rng.uniform(0.75, 1.0)
    top = min(sill + rng.uniform(1.0, 1.4), layout.size[1] - 0.2)
    u = layout.slot(wall, width, sill, top, 0.0)
    if u is not None:
        glass = Material(
            near_color(rng, (0.85, 0.9, 0.95), 0.05),
            Pattern.GLASS,
            near_color(rng, (0.45, 0.65, 0.95), 0.08),
            depth_return=0.03,
        )
        frame = Material(
            any_color(rng, (0.0, 0.2), (0.6, 0.95)) if rng.random() < 0.6 else object_material(rng).color
        )
        layout.framed(wall, _span(u, width, sill, top), rng.uniform(0.04, 0.08), WINDOW, frame, glass)
        roll = rng.random()
        if roll < 0.4:
            _curtains(layout, wall, u, width, top)
        elif roll < 0.6:
            slats = Material(
                any_color(rng, (0.0, 0.3), (0.5, 0.95)),
                Pattern.STRIPES,
                any_color(rng, (0.0, 0.3), (0.3, 0.7)),
                rng.uniform(0.03, 0.06),
                UP,
                UP,
            )
            drop = rng.uniform(0.2, 1.0) * (top - sill)
            layout.decals.append(Decal(wall, _span(u, width, top - drop, top), BLINDS, slats))


def _curtains(layout: RoomLayout, wall: Surface, u: float, width: float, top: float) -> None:
    """Curtains hanging beside a window (folds as vertical shading), to the floor or the sill."""
    rng = layout.rng
    cloth = fabric_material(rng, avoid=layout.walls[wall - 2])
    rod = min(top + rng.uniform(0.05, 0.25), layout.size[1] - 0.02)
    bottom = 0.02 if rng.random() < 0.6 else max(0.02, top - 1.6)
    panel = rng.uniform(0.25, 0.5)
    for side in (-1, 1):
        layout.wall_box(
            wall,
            CURTAIN,
            cloth,
            (u + side * (width / 2 + panel / 2 - 0.1), 0.08, (rod + bottom) / 2),
            (panel, rod - bottom, rng.uniform(0.04, 0.1)),
        )


def whiteboard(layout: RoomLayout, wall: Surface) -> None:
    """A whiteboard with a thin metal frame, flat on the wall."""
    rng = layout.rng
    width, height = rng.uniform(1.2, 2.4), rng.uniform(0.9, 1.2)
    y0 = rng.uniform(0.8, 1.0)
    u = layout.slot(wall, width, y0, y0 + height, 0.0)
    if u is None:
        return
    frame = Material(near_color(rng, (0.7, 0.7, 0.72), 0.1))
    board = Material(near_color(rng, (0.93, 0.94, 0.95), 0.04))
    layout.framed(wall, _span(u, width, y0, y0 + height), 0.02, WHITEBOARD, frame, board)


def picture(layout: RoomLayout, wall: Surface) -> None:
    """A picture flat on the wall: same depth as the wall (an appearance-only cue)."""
    rng = layout.rng
    width, height = rng.uniform(0.3, 1.0), rng.uniform(0.3, 0.8)
    yc = min(rng.uniform(1.3, 1.8), layout.size[1] - 0.2 - height / 2)
    u = layout.slot(wall, width, yc - height / 2, yc + height / 2, 0.0)
    if u is None:
        return
    along = wall_frame(wall, layout.size)[0]
    frame = Material(any_color(rng, (0.0, 0.6), (0.05, 0.95)))
    art = image_material(rng, along, ((0.3, 1.0), (0.2, 1.0)), ((0.3, 1.0), (0.2, 1.0)), (0.1, 0.6))
    layout.framed(
        wall,
        _span(u, width, yc - height / 2, yc + height / 2),
        rng.uniform(0.01, 0.05),
        PICTURE,
        frame,
        art,
    )
    layout.targets.append(layout.at(wall, u, 0.0, yc))


def rug(layout: RoomLayout) -> None:
    """A rug flat on the floor: same depth as the floor (an appearance-only cue)."""
    rng = layout.rng
    size_x, _, size_z = layout.size
    w, d = min(rng.uniform(0.8, 2.5), size_x - 0.6), min(rng.uniform(0.6, 1.8), size_z - 0.6)
    x0, z0 = rng.uniform(0.3, size_x - 0.3 - w), rng.uniform(0.3, size_z - 0.3 - d)
    pattern = Pattern(
        rng.choice(
            [Pattern.STRIPES.value, Pattern.TILES.value, Pattern.NOISE.value, Pattern.PLAIN.value],
            p=[0.15, 0.15, 0.35, 0.35],
        )
    )
    mat = Material(
        object_material(rng, avoid=layout.floor).color,
        pattern,
        any_color(rng, (0.1, 0.6), (0.1, 0.9)),
        rng.uniform(0.1, 0.5),
        *floor_axes(rng),
        rng.uniform(0.2, 0.8),
    )
    border = Material(any_color(rng, (0.1, 0.9), (0.1, 0.9)))
    layout.framed(Surface.FLOOR, (x0, z0, x0 + w, z0 + d), rng.uniform(0.0, 0.1), FLOOR_MAT, border, mat)
    layout.targets.append((x0 + w / 2, 0.0, z0 + d / 2))
