"""One segmented frame -> the node's output messages, for the live node and bag replay alike.

rclpy-free: ``factory`` builds rclpy or rosbags message classes, so replay writes exactly
what the node publishes. Only the outputs named in ``wants`` are computed, so a robot that
subscribes to the cloud alone pays for neither the colour image nor the overlay.
``overlay/compressed`` (the overlay as JPEG, for operators on a thin link) is the node's only:
replay writes the raw overlay.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np

from asymfusion_ros import geometry
from asymfusion_ros.classes import ClassSet
from asymfusion_ros.inference.pipeline import Segmentation
from asymfusion_ros.ros import compressed, messages
from asymfusion_ros.ros.params import Settings

IMAGE_OUTPUTS = ("labels", "confidence", "color", "overlay")
CLOUD_OUTPUTS = ("points", "class_tags")
COMPRESSED_OVERLAY = "overlay/compressed"
"""The overlay as a JPEG sensor_msgs/CompressedImage (``segmentation/overlay/compressed``), live only."""


def toggle(name: str) -> str:
    """The ``publish.<toggle>`` parameter that enables output ``name`` (the overlay's for its JPEG)."""
    return name.split("/", 1)[0]


def image_messages(
    factory: messages.MessageFactory,
    header: Any,
    rgb: np.ndarray,
    segmentation: Segmentation,
    palette: np.ndarray,
    settings: Settings,
    wants: Collection[str] = IMAGE_OUTPUTS,
) -> dict[str, Any]:
    """Image messages (name -> message) of the wanted outputs among IMAGE_OUTPUTS and COMPRESSED_OVERLAY."""
    out: dict[str, Any] = {}
    if "labels" in wants:
        out["labels"] = messages.build_image(factory, header, segmentation.labels)
    if "confidence" in wants:
        confidence = segmentation.confidence.astype(np.float32, copy=False)
        out["confidence"] = messages.build_image(factory, header, confidence)
    overlays = [name for name in ("overlay", COMPRESSED_OVERLAY) if name in wants]
    if "color" in wants or overlays:
        color = geometry.colorize(segmentation.labels, palette)
        if "color" in wants:
            out["color"] = messages.build_image(factory, header, color)
        if overlays:
            blended = geometry.overlay(rgb, color, settings.overlay_alpha)
            if "overlay" in wants:
                out["overlay"] = messages.build_image(factory, header, blended)
            if COMPRESSED_OVERLAY in wants:
                jpeg = compressed.encode_rgb(blended, "jpeg", quality=settings.overlay_jpeg_quality)
                out[COMPRESSED_OVERLAY] = compressed.build_compressed_image(factory, header, *jpeg)
    return out


def cloud_messages(
    factory: messages.MessageFactory,
    header: Any,
    rgb: np.ndarray,
    depth_m: np.ndarray,
    k: np.ndarray,
    segmentation: Segmentation,
    classes: ClassSet,
    settings: Settings,
    wants: Collection[str] = CLOUD_OUTPUTS,
) -> dict[str, Any]:
    """The labeled PointCloud2 and the class-tag MarkerArray, as wanted among CLOUD_OUTPUTS."""
    if not any(name in wants for name in CLOUD_OUTPUTS):
        return {}
    points = geometry.labeled_points(
        depth_m, k, segmentation.labels, rgb, segmentation.confidence,
        stride=settings.points_stride, min_range=settings.points_min_range,
        max_range=settings.points_max_range, organized=settings.points_organized and "points" in wants,
    )  # fmt: skip
    out: dict[str, Any] = {}
    if "points" in wants:
        out["points"] = messages.build_point_cloud(factory, header, points)
    if "class_tags" in wants:
        tags = geometry.class_tags(points, classes, settings.tags_min_points)
        out["class_tags"] = messages.build_class_tags(factory, header, tags, classes)
    return out
