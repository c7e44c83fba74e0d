"""Synthetic RGB-D indoor scenes: real-looking rooms in which RGB-D *fusion* is necessary.

No dataset can be downloaded where this project is trained, so we render our own rooms: a
box-shaped room (floor, ceiling, four walls) furnished with analytic solids (yaw-rotated
boxes, vertical cylinders, spheres) and flat *decals* (rectangles lying exactly on the floor or
a wall: pictures, rugs, doors, windows, blinds, whiteboards). Rendering is vectorised numpy ray
casting of every pixel against every primitive, each solid tested only inside its projected
bounding rectangle. The camera is a pinhole with the NYUv2 Kinect intrinsics scaled to the
image size, held 1.0-1.6 m above the floor, looking roughly horizontally.

Rooms (:mod:`.furnish`) are bedrooms, living rooms, offices, kitchens, classrooms, bathrooms
or mixed rooms, furnished with objects of real shape and size built from parts: beds (frame,
mattress, duvet, pillows, headboard) with night stands, sofas (base, cushions, back, arms,
pillows), armchairs, chairs, stools, tables and desks (top, legs, drawer block, monitor),
bookcases and wall shelves holding runs of books, kitchen counters under wall cabinets, TV
stands, boxes, lamps, people standing or sitting on chairs, curtains and blinds at windows,
bathtubs with shower curtains, toilets, basins on vanities under mirrors, towels. Classes are
NYUv2-40 ids (0-based as in ``config/classes/nyu40.yaml``), see :data:`CLASSES` (34 of the
40); clutter on table and cabinet tops is otherprop, as NYUv2's 40-class set files small
things, and 255 (void) marks the few boxes left unlabelled. Rooms are 3-7 m across
(bathrooms 2.2-3.5 m) with two to four pieces along every wall, so furniture fills much of a
view, as in NYUv2's frames.

Designed-in complementary cues (every room has an appearance-only one; half of the rooms a
painted cabinet and three in ten a floor platform, as a platform in every room would teach
that any low box is a bed):

* geometry only -- a **cabinet painted exactly like the wall behind it** (same material; the
  texture is a solid function of world position, so its front face continues the wall's
  pattern seamlessly) and a **raised platform (bed) made of the floor's material**. RGB sees
  at most a faint shading change on faces at another angle; depth sees a 0.3-0.6 m step.
* appearance only -- **pictures flush on a wall** and **rugs (floor mat) flush on the floor**,
  plus doors, which are flush with their wall. Their depth is exactly that of the host
  surface; only colour and texture separate them.

Appearance: procedural solid textures (wood grain, fabric, tiles, carpet noise, stripes, book
spines, pictures, glass with a bright exterior), one to four point lights (Lambertian, soft
distance fall-off) and ambient light darkened in corners, along room edges and on the floor
around furniture (ambient occlusion).

Sensor model (:class:`SensorModel`, :mod:`.sensor`): axial noise sigma = 1.2 mm + 1.9 mm * (z - 0.4 m)^2
(Kinect v1, Nguyen et al. 2012), depth measured as disparity in 1/8-pixel steps (quantisation
growing with z squared) and rounded to whole millimetres (16UC1 mm is lossless), no return (0)
below 0.5 m and beyond 9 m, in the projector shadow behind depth discontinuities and ragged at
edges, at grazing angles, on glass (windows: almost never a return) and, in blotches, on very
dark and glossy surfaces (screens); a few random speckle holes; in 80 % of frames NYUv2's
frame (no depth outside rows 45-470 / cols 36-600 of 640x480, scaled; a white RGB border
labelled void). The colour camera: per-frame auto exposure with clipped highlights, white
balance error, lens blur, vignetting, noise and JPEG artefacts, each amount drawn per frame.
Labels are dense and clean, as in NYUv2.

Sequences: :class:`SyntheticScenes` shows room ``index // frames_per_room`` (30 by default)
from a camera that glides along a short straight path (up to 1.5 m, clear of furniture) while
panning up to +-0.4 rad and bobbing smoothly, so consecutive indices look like a real camera
stream. Mid-path the camera usually aims at a cue item or a piece of furniture at least 1.5 m
away, and it never faces a wall closer than 1.5 m: views then lie 2.6 m deep on average, as
NYUv2's (about 2.7 m). ``frames_per_room=1`` gives a new room for every index (most variety
per rendered frame: what ``open_dataset("synthetic")`` uses for training and evaluation).

Determinism: the room and its camera path depend only on (seed, room); a frame's noise and
camera settings only on (seed, index); nothing depends on rendering order or on the image size
except the pixels.

Modules: :mod:`.scene` (the records), :mod:`.materials` (random materials), :mod:`.layout`
(a room while it is furnished), :mod:`.furniture`, :mod:`.seating`, :mod:`.storage`,
:mod:`.bathroom` and :mod:`.decor` (one builder per object kind), :mod:`.furnish` (room types
and lights), :mod:`.raycast` and :mod:`.render` (drawing, shading), :mod:`.sensor` (camera defects),
:mod:`.camera_path`, :mod:`.scenes` (the frame stream).
"""

from asymfusion_ros.data.synthetic.camera_path import CameraPath, random_camera_path
from asymfusion_ros.data.synthetic.furnish import random_room
from asymfusion_ros.data.synthetic.layout import RoomLayout
from asymfusion_ros.data.synthetic.render import render
from asymfusion_ros.data.synthetic.scene import (
    BATHTUB,
    BED,
    BLINDS,
    BOOKS,
    BOOKSHELF,
    BOX,
    CABINET,
    CEILING,
    CHAIR,
    CLASSES,
    COUNTER,
    CURTAIN,
    DESK,
    DOOR,
    FLOOR,
    FLOOR_MAT,
    LAMP,
    MIRROR,
    NIGHT_STAND,
    OTHERFURNITURE,
    OTHERPROP,
    PERSON,
    PICTURE,
    PILLOW,
    SHELVES,
    SHOWER_CURTAIN,
    SINK,
    SOFA,
    TABLE,
    TELEVISION,
    TOILET,
    TOWEL,
    VOID,
    WALL,
    WHITEBOARD,
    WINDOW,
    Decal,
    Material,
    Pattern,
    Pose,
    Room,
    Shape,
    Solid,
    Surface,
)
from asymfusion_ros.data.synthetic.scenes import SyntheticScenes
from asymfusion_ros.data.synthetic.sensor import SensorModel

__all__ = [
    "BATHTUB",
    "BED",
    "BLINDS",
    "BOOKS",
    "BOOKSHELF",
    "BOX",
    "CABINET",
    "CEILING",
    "CHAIR",
    "CLASSES",
    "COUNTER",
    "CURTAIN",
    "DESK",
    "DOOR",
    "FLOOR",
    "FLOOR_MAT",
    "LAMP",
    "MIRROR",
    "NIGHT_STAND",
    "OTHERFURNITURE",
    "OTHERPROP",
    "PERSON",
    "PICTURE",
    "PILLOW",
    "SHELVES",
    "SHOWER_CURTAIN",
    "SINK",
    "SOFA",
    "TABLE",
    "TELEVISION",
    "TOILET",
    "TOWEL",
    "VOID",
    "WALL",
    "WHITEBOARD",
    "WINDOW",
    "CameraPath",
    "Decal",
    "Material",
    "Pattern",
    "Pose",
    "Room",
    "RoomLayout",
    "SensorModel",
    "Shape",
    "Solid",
    "Surface",
    "SyntheticScenes",
    "random_camera_path",
    "random_room",
    "render",
]
