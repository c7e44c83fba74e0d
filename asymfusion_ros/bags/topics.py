"""Which topic of a bag is colour, depth, camera_info and ground truth.

Replay names the topics when the user does not: by message type, encoding (or a
CompressedImage's format) and name, and an ambiguous choice is an error listing the candidates
(never a guess). A stream recorded both raw and compressed (``T`` and ``T/compressed`` or
``T/compressedDepth``, image_transport's names) is read raw: :func:`raw_preferred` lists the
compressed copies set aside, for the report to say so.
"""

from __future__ import annotations

from typing import NamedTuple

from asymfusion_ros.bags.io import BagReader, BagReadError, TopicSummary
from asymfusion_ros.ros import compressed, messages

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPES = (IMAGE_TYPE, COMPRESSED_TYPE)
INFO_TYPE = "sensor_msgs/msg/CameraInfo"
TF_STATIC = "/tf_static"
TRANSPORT_SUFFIXES = tuple(f"/{t.value}" for t in compressed.Transport if t is not compressed.Transport.RAW)
COLOR_ENCODINGS = frozenset(messages.COLOR_ENCODINGS) - {"mono8"}
"""What the node reads as colour, less mono8: a grey image is only colour when named so (--rgb-topic)."""
DEPTH_ENCODINGS = frozenset(messages.DEPTH_ENCODINGS)
LABEL_ENCODINGS = frozenset(messages.LABEL_ENCODINGS)
LABEL_HINTS = ("ground_truth", "groundtruth", "label", "semantic", "segmentation")
"""A label image is told from a grey image by its topic name holding one of these (or a ``gt`` part)."""
NODE_OUTPUTS = tuple(f"segmentation/{name}" for name in ("labels", "color", "overlay", "confidence"))
"""Our node's own image outputs: never inputs, so replaying a replay's output bag still works."""


class TopicChoiceError(BagReadError):
    """A stream's topic is ambiguous, or a topic named by the user is absent or of the wrong kind."""


class StreamTopics(NamedTuple):
    """The topics replay reads; ``labels`` is None for a bag without ground truth, ``depth_info``
    (the depth camera's camera_info, for registering depth) None where none is recorded."""

    rgb: str
    depth: str
    info: str
    labels: str | None
    depth_info: str | None = None


def base_topic(topic: str) -> str:
    """The image topic a transport topic belongs to (``T/compressed`` -> ``T``; others as they are)."""
    for suffix in TRANSPORT_SUFFIXES:
        if topic.endswith(suffix):
            return topic[: -len(suffix)]
    return topic


def raw_preferred(topics: dict[str, TopicSummary]) -> dict[str, str]:
    """Compressed topic -> its raw image topic, for every stream the bag holds both ways."""
    return {
        name: base_topic(name)
        for name, summary in topics.items()
        if summary.msgtype == COMPRESSED_TYPE
        and base_topic(name) != name
        and getattr(topics.get(base_topic(name)), "msgtype", None) == IMAGE_TYPE
    }


def _sibling_info(infos: list[str], image: str) -> list[str]:
    """camera_info topics beside ``image`` (same parent as its base topic: image_transport's convention)."""
    parent = base_topic(image).rsplit("/", 1)[0]
    return [n for n in infos if n.rsplit("/", 1)[0] == parent]


def _is_label_name(topic: str) -> bool:
    parts = topic.lower().strip("/").split("/")
    return any(part == "gt" or any(hint in part for hint in LABEL_HINTS) for part in parts)


def _pick(flag: str, what: str, candidates: list[str], *, required: bool, preferred: list[str]) -> str | None:
    """The single candidate, else the single preferred one; none (when required) or several: error."""
    if len(candidates) == 1:
        return candidates[0]
    if len(preferred) == 1:
        return preferred[0]
    if not candidates:
        if required:
            raise BagReadError(f"no {what} topic in the bag")
        return None
    raise TopicChoiceError(f"several {what} topics: {', '.join(candidates)}; choose one with --{flag}-topic")


def _check_named(topics: dict[str, TopicSummary], flag: str, name: str | None, *msgtypes: str) -> None:
    if name is None:
        return
    if name not in topics:
        raise TopicChoiceError(f"--{flag}-topic {name} is not in the bag; its topics: {', '.join(topics)}")
    if topics[name].msgtype not in msgtypes:
        raise TopicChoiceError(
            f"--{flag}-topic {name} is {topics[name].msgtype}, expected {' or '.join(msgtypes)}"
        )


def _image_kind(bag: BagReader, name: str, msgtype: str) -> str:
    """ "label", "rgb", "depth" or "" (not an input) from a topic's first message."""
    first = bag.first(name)
    if msgtype == COMPRESSED_TYPE:
        try:
            parsed = compressed.parse_format(str(getattr(first, "format", "")))
        except messages.MessageError:
            return ""
        return "depth" if parsed.depth else "rgb"
    encoding = str(getattr(first, "encoding", ""))
    if _is_label_name(name) and encoding in LABEL_ENCODINGS:
        return "label"
    if encoding in COLOR_ENCODINGS:
        return "rgb"
    return "depth" if encoding in DEPTH_ENCODINGS else ""


def detect_topics(
    bag: BagReader,
    *,
    rgb: str | None = None,
    depth: str | None = None,
    info: str | None = None,
    labels: str | None = None,
) -> StreamTopics:
    """Colour, depth, camera_info and (optional) label topics: given ones checked, others detected.

    Image topics are classified by the encoding of their first message, with the node's
    encoding tables (colour: rgb8/bgr8/rgba8/bgra8; depth: 16UC1/mono16/32FC1; labels:
    mono8/mono16 on a topic named like labels), CompressedImage topics by their format
    (compressedDepth: depth, JPEG/PNG: colour); a compressed copy of a raw stream is left out.
    camera_info is preferably the colour image's sibling (the image_transport convention); the
    depth camera's is the depth image's sibling, when that is another topic.
    """
    topics = bag.topics()
    _check_named(topics, "rgb", rgb, *IMAGE_TYPES)
    _check_named(topics, "depth", depth, *IMAGE_TYPES)
    _check_named(topics, "info", info, INFO_TYPE)
    _check_named(topics, "label", labels, IMAGE_TYPE)

    found: dict[str, list[str]] = {"rgb": [], "depth": [], "label": [], "": []}
    copies = raw_preferred(topics)
    for name, summary in topics.items():
        if summary.msgtype not in IMAGE_TYPES or name.rstrip("/").endswith(NODE_OUTPUTS) or name in copies:
            continue
        found[_image_kind(bag, name, summary.msgtype)].append(name)
    rgb = rgb or _pick("rgb", "colour image", found["rgb"], required=True, preferred=[])
    depth = depth or _pick("depth", "depth image", found["depth"], required=True, preferred=[])
    assert rgb is not None and depth is not None
    infos = [n for n, s in topics.items() if s.msgtype == INFO_TYPE]
    if info is None:
        info = _pick("info", "camera_info", infos, required=True, preferred=_sibling_info(infos, rgb))
    assert info is not None
    depth_infos = [n for n in _sibling_info(infos, depth) if n != info]
    if labels is None:
        labels = _pick("label", "label image", found["label"], required=False, preferred=[])
    return StreamTopics(rgb, depth, info, labels, depth_infos[0] if len(depth_infos) == 1 else None)
