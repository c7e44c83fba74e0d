"""Which topic of a bag is colour, depth, camera_info and ground truth.

Replay names the topics when the user does not: by message type, encoding and name, and an
ambiguous choice is an error listing the candidates (never a guess).
"""

from __future__ import annotations

from typing import NamedTuple

from asymfusion_ros.bags.io import BagReader, BagReadError, TopicSummary
from asymfusion_ros.ros import messages

IMAGE_TYPE = "sensor_msgs/msg/Image"
INFO_TYPE = "sensor_msgs/msg/CameraInfo"
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
    """The topics replay reads; ``labels`` is None for a bag without ground truth."""

    rgb: str
    depth: str
    info: str
    labels: str | None


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


def _check_named(topics: dict[str, TopicSummary], flag: str, name: str | None, msgtype: str) -> None:
    if name is None:
        return
    if name not in topics:
        raise TopicChoiceError(f"--{flag}-topic {name} is not in the bag; its topics: {', '.join(topics)}")
    if topics[name].msgtype != msgtype:
        raise TopicChoiceError(f"--{flag}-topic {name} is {topics[name].msgtype}, expected {msgtype}")


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
    mono8/mono16 on a topic named like labels),
    camera_info preferably the colour image's sibling (the image_transport convention).
    """
    topics = bag.topics()
    _check_named(topics, "rgb", rgb, IMAGE_TYPE)
    _check_named(topics, "depth", depth, IMAGE_TYPE)
    _check_named(topics, "info", info, INFO_TYPE)
    _check_named(topics, "label", labels, IMAGE_TYPE)

    found: dict[str, list[str]] = {"rgb": [], "depth": [], "label": []}
    for name, summary in topics.items():
        if summary.msgtype != IMAGE_TYPE or name.rstrip("/").endswith(NODE_OUTPUTS):
            continue
        encoding = str(getattr(bag.first(name), "encoding", ""))
        if _is_label_name(name) and encoding in LABEL_ENCODINGS:
            found["label"].append(name)
        elif encoding in COLOR_ENCODINGS:
            found["rgb"].append(name)
        elif encoding in DEPTH_ENCODINGS:
            found["depth"].append(name)
    rgb = rgb or _pick("rgb", "colour image", found["rgb"], required=True, preferred=[])
    depth = depth or _pick("depth", "depth image", found["depth"], required=True, preferred=[])
    assert rgb is not None and depth is not None
    if info is None:
        infos = [n for n, s in topics.items() if s.msgtype == INFO_TYPE]
        siblings = [n for n in infos if n.rsplit("/", 1)[0] == rgb.rsplit("/", 1)[0]]
        info = _pick("info", "camera_info", infos, required=True, preferred=siblings)
    assert info is not None
    if labels is None:
        labels = _pick("label", "label image", found["label"], required=False, preferred=[])
    return StreamTopics(rgb, depth, info, labels)
