"""Random materials for room surfaces and objects (colours drawn in HSV, solid textures).

Every draw takes the room's generator, so a room's materials depend only on its seed.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from asymfusion_ros.data.synthetic.scene import UP, WALLS, Material, Pattern, Vec3, unit_axis, wall_frame


def _hsv(
    rng: np.random.Generator, hue: tuple[float, float], sat: tuple[float, float], val: tuple[float, float]
) -> Vec3:
    hsv = np.array(
        [[[rng.uniform(*hue) % 1.0 * 360.0, rng.uniform(*sat), rng.uniform(*val)]]], dtype=np.float32
    )
    r, g, b = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    return (float(r), float(g), float(b))


def any_color(rng: np.random.Generator, sat: tuple[float, float], val: tuple[float, float]) -> Vec3:
    return _hsv(rng, (0.0, 1.0), sat, val)


def near_color(rng: np.random.Generator, c: Vec3, spread: float) -> Vec3:
    v = np.clip(
        np.asarray(c) + rng.uniform(-spread, spread, 3) * 0.5 + rng.uniform(-spread, spread), 0.0, 1.0
    )
    return (float(v[0]), float(v[1]), float(v[2]))


def wall_paint(rng: np.random.Generator) -> tuple[Material, Material, Material, Material]:
    """One paint for all four walls, its pattern laid in each wall's own plane: mostly plain or
    faintly mottled paint, as in real rooms; wallpaper stripes are rare."""
    color = any_color(rng, (0.02, 0.3), (0.55, 0.92))
    pattern = Pattern(
        rng.choice([Pattern.PLAIN.value, Pattern.NOISE.value, Pattern.STRIPES.value], p=[0.55, 0.4, 0.05])
    )
    color2 = near_color(rng, color, 0.12 if pattern is Pattern.STRIPES else 0.07)
    period = rng.uniform(0.08, 0.35) if pattern is Pattern.STRIPES else rng.uniform(0.4, 2.0)
    phase = rng.uniform(0, 2 * math.pi)
    mats = [
        Material(color, pattern, color2, period, unit_axis(wall_frame(w, (1, 1, 1))[0]), UP, phase)
        for w in WALLS
    ]
    return mats[0], mats[1], mats[2], mats[3]


def floor_axes(rng: np.random.Generator) -> tuple[Vec3, Vec3]:
    return (unit_axis(0), unit_axis(2)) if rng.random() < 0.5 else (unit_axis(2), unit_axis(0))


def _two_tone(
    rng: np.random.Generator,
    color: Vec3,
    pattern: Pattern,
    spread: float,
    period_m: tuple[float, float],
    axes: tuple[Vec3, Vec3],
    phase: tuple[float, float],
) -> Material:
    """``color`` mixed by ``pattern`` with a shade near it; period and phase drawn from their ranges."""
    return Material(
        color, pattern, near_color(rng, color, spread), rng.uniform(*period_m), *axes, rng.uniform(*phase)
    )


def floor_material(rng: np.random.Generator) -> Material:
    """Wood, tiles or carpet; patterns run in the floor plane so a floor-made box continues it."""
    roll = rng.random()
    axes = floor_axes(rng)
    if roll < 0.4:
        color = _hsv(rng, (0.04, 0.11), (0.35, 0.75), (0.25, 0.7))
        return _two_tone(rng, color, Pattern.GRAIN, 0.1, (0.04, 0.15), axes, (0, 6))
    if roll < 0.7:
        color = any_color(rng, (0.0, 0.25), (0.35, 0.9))
        return _two_tone(rng, color, Pattern.TILES, 0.15, (0.3, 0.6), axes, (0.2, 0.8))
    color = any_color(rng, (0.05, 0.5), (0.15, 0.6))
    return _two_tone(rng, color, Pattern.NOISE, 0.08, (0.3, 1.5), axes, (0, 6))


def furniture_saturation(rng: np.random.Generator) -> tuple[float, float]:
    """Saturation range of a furniture colour: real furniture is mostly white, grey, black or
    muted (0-0.45); a loud colour (up to 0.85) only one time in seven."""
    return (0.0, 0.45) if rng.random() < 0.85 else (0.45, 0.85)


def object_material(rng: np.random.Generator, avoid: Material | None = None) -> Material:
    """Wood, paint or fabric, sometimes very dark (a poor depth return); ``avoid``: stay clearly
    brighter or darker than that material so the object shows in RGB."""
    axes = (unit_axis(0), UP) if rng.random() < 0.5 else (unit_axis(2), UP)
    roll = rng.random()
    if roll < 0.08:
        return Material(any_color(rng, (0.0, 0.3), (0.02, 0.07)), depth_return=0.35)
    val = (0.12, 0.95)
    if avoid is not None:
        v = max(avoid.color)
        val = (0.08, max(v - 0.3, 0.1)) if v > 0.5 else (min(v + 0.3, 0.9), 0.95)
    if roll < 0.4:
        color = _hsv(rng, (0.03, 0.12), (0.3, 0.8), val)
        return _two_tone(rng, color, Pattern.GRAIN, 0.1, (0.05, 0.2), axes, (0, 6))
    color = any_color(rng, furniture_saturation(rng), val)
    pattern = Pattern.PLAIN if roll < 0.75 else Pattern.NOISE
    return _two_tone(rng, color, pattern, 0.06, (0.2, 0.8), axes, (0, 6))


def fabric_material(rng: np.random.Generator, avoid: Material | None = None) -> Material:
    """Upholstery, bedding or curtain cloth: a mottled weave in a muted or bright colour."""
    val = (0.15, 0.9)
    if avoid is not None:
        v = max(avoid.color)
        val = (0.1, max(v - 0.25, 0.12)) if v > 0.5 else (min(v + 0.25, 0.85), 0.95)
    color = any_color(rng, furniture_saturation(rng), val)
    axes = (unit_axis(0), UP) if rng.random() < 0.5 else (unit_axis(2), UP)
    return _two_tone(rng, color, Pattern.FABRIC, 0.12, (0.05, 0.4), axes, (0, 6))


def books_material(rng: np.random.Generator, along: int) -> Material:
    """A row of book spines: each spine (2-5 cm) its own colour between two random ones."""
    return Material(
        any_color(rng, (0.2, 0.9), (0.1, 0.9)),
        Pattern.BOOKS,
        any_color(rng, (0.2, 0.9), (0.3, 1.0)),
        rng.uniform(0.02, 0.05),
        unit_axis(along),
        UP,
        rng.uniform(0, 100),
    )


def image_material(
    rng: np.random.Generator,
    along: int,
    first: tuple[tuple[float, float], tuple[float, float]],
    second: tuple[tuple[float, float], tuple[float, float]],
    period_m: tuple[float, float],
    depth_return: float = 1.0,
) -> Material:
    """A painting-like two-colour image in a wall's plane (pictures, screens that are on);
    ``first``/``second`` are the (saturation, value) ranges of its two colours."""
    return Material(
        any_color(rng, *first),
        Pattern.PICTURE,
        any_color(rng, *second),
        rng.uniform(*period_m),
        unit_axis(along),
        UP,
        rng.uniform(0, 6),
        depth_return=depth_return,
    )


def screen_material(rng: np.random.Generator, along: int) -> Material:
    """A TV or monitor screen: glossy black (a poor depth return), or switched on."""
    if rng.random() < 0.6:
        return Material(any_color(rng, (0.0, 0.2), (0.02, 0.08)), depth_return=0.4)
    return image_material(rng, along, ((0.2, 0.8), (0.3, 0.9)), ((0.1, 0.8), (0.5, 1.0)), (0.1, 0.4), 0.7)


def metal_material(rng: np.random.Generator) -> Material:
    """Brushed metal or chrome: grey, slightly tinted, fine streaks."""
    grey = float(rng.uniform(0.3, 0.85))
    color = near_color(rng, (grey, grey, grey), 0.05)
    return _two_tone(rng, color, Pattern.NOISE, 0.1, (0.02, 0.1), (unit_axis(0), UP), (0, 6))
