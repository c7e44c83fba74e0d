"""sensor_msgs/CompressedImage <-> numpy, in the formats image_transport's plugins write.

Colour (``compressed`` transport, compressed_image_transport in
ros-perception/image_transport_plugins, ``src/compressed_publisher.cpp``): ``format`` is
``"<source encoding>; <jpeg|png> compressed <bgr8|mono8>"``, e.g. ``"rgb8; jpeg compressed
bgr8"``; colour is always stored as BGR, alpha dropped. Older drivers write a bare ``"jpeg"`` or
``"png"``: BGR when three channels, grey when one.

Depth (``compressedDepth``, compressed_depth_image_transport ``src/codec.cpp`` and
``include/compressed_depth_image_transport/compression_common.h`` in the same repository):
``data`` starts with a 12-byte ``ConfigHeader`` (int32 format, float32 depthParam[2]), then a
16-bit PNG or, with ``rvl``, uint32 cols, uint32 rows and an RVL stream. ``16UC1`` stores the
driver's integers; ``32FC1`` stores quantised inverse depth ``q = A / depth + B`` (A, B the two
header floats), decoded as ``depth = A / (q - B)``, q = 0 meaning invalid. Humble and Iron
write ``"16UC1; compressedDepth"`` (PNG), Jazzy and later ``"...; compressedDepth png"`` or
``"...; compressedDepth rvl"``.

Readers are duck-typed (``format``, ``data``) like :mod:`asymfusion_ros.ros.messages`; decoding
is dispatched through tables; no rclpy import. Every reader takes a decode budget,
``max_pixels``: the size the payload's own header claims (JPEG SOF, PNG IHDR,
:mod:`~asymfusion_ros.ros.image_headers`; RVL's cols and rows) is checked against it before
anything is decoded or allocated, and a claim over it raises ``messages.OversizedInputError``.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from typing import Any, NamedTuple

import cv2
import numpy as np

from asymfusion_ros.ros import rvl
from asymfusion_ros.ros.image_headers import HeaderError, claimed_size
from asymfusion_ros.ros.messages import (
    DEFAULT_MAX_INPUT_PIXELS,
    EncodingError,
    MessageError,
    MessageFactory,
    byte_array,
    check_pixels,
)
from asymfusion_ros.ros.problems import Problem


class Transport(enum.Enum):
    """image_transport transports the node can read (its ``rgb_transport``/``depth_transport``)."""

    RAW = "raw"
    COMPRESSED = "compressed"  # colour, JPEG or PNG
    COMPRESSED_DEPTH = "compressedDepth"  # depth, PNG or RVL


def transport_topic(base_topic: str, transport: Transport) -> str:
    """The topic image_transport uses: the base for raw, ``<base>/<transport>`` otherwise."""
    return base_topic if transport is Transport.RAW else f"{base_topic.rstrip('/')}/{transport.value}"


class DecodeError(MessageError):
    """Compressed bytes that do not decode to an image (corrupt, truncated, wrong codec)."""

    problem = Problem.DECODE_ERROR


class CompressedFormat(NamedTuple):
    """A ``format`` string taken apart: the source encoding (``""`` when not given), the codec."""

    encoding: str
    codec: str  # "jpeg", "png" or "rvl"
    depth: bool  # compressedDepth (a ConfigHeader precedes the payload)


_CONFIG_HEADER = struct.Struct("<iff")
"""compressed_depth_image_transport's ConfigHeader: format (0 = INV_DEPTH), depthParam[2]."""

_INV_DEPTH = 0


def parse_format(fmt: str) -> CompressedFormat:
    """``"rgb8; jpeg compressed bgr8"`` -> ("rgb8", "jpeg", False); raises EncodingError if unknown.

    Depth as the codec's decoder reads it: ``"compressedDepth rvl"`` means RVL; a bare
    ``"compressedDepth"`` (Humble) or ``"compressedDepth png"`` means PNG. With no ``;`` the
    source encoding is unknown (``""``).
    """
    encoding, _, rest = str(fmt).partition(";") if ";" in fmt else ("", "", str(fmt))
    encoding, words = encoding.strip(), rest.split()
    if "compressedDepth" in words:
        following = words[words.index("compressedDepth") + 1 :]
        codec = following[0] if following else "png"
        if codec not in _DEPTH_CODECS:
            raise EncodingError(f"compressedDepth codec {codec!r} in {fmt!r} not supported (png, rvl)")
        return CompressedFormat(encoding, codec, True)
    for codec in ("jpeg", "png"):
        if codec in words:
            return CompressedFormat(encoding, codec, False)
    raise EncodingError(f"compressed image format {fmt!r} not supported (jpeg, png, compressedDepth)")


# ------------------------------------------------------------------------------------------
# Colour


def _bgr_stored(fmt: str) -> bool:
    """Whether a decoded 3/4-channel image is in BGR order, as compressed_subscriber.cpp reads
    it: image_transport writes BGR and says ``compressed bgr``, bare old formats are BGR, any
    other colour format was compressed in RGB order."""
    return "compressed bgr" in fmt or ";" not in fmt


# Channels of the decoded array -> conversion to RGB, given whether it is stored as BGR.
_TO_RGB: dict[int, Callable[[np.ndarray, bool], np.ndarray]] = {
    1: lambda a, _bgr: np.repeat(a[..., None], 3, axis=2),
    3: lambda a, bgr: a[..., ::-1] if bgr else a,
    4: lambda a, bgr: a[..., 2::-1] if bgr else a[..., :3],
}


def _imdecode(data: Any, what: str, max_pixels: int) -> np.ndarray:
    """JPEG or PNG bytes -> the array OpenCV decodes, once their header's claim is within budget."""
    buffer = byte_array(data)
    if buffer.size == 0:
        raise DecodeError(f"{what} holds no data")
    try:
        claim = claimed_size(buffer.data)
    except HeaderError as err:
        raise DecodeError(f"{what} ({buffer.size} bytes): {err}") from err
    check_pixels(claim.width, claim.height, max_pixels, f"{what} ({buffer.size} bytes)")
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    except cv2.error as err:
        raise DecodeError(f"{what} ({buffer.size} bytes) does not decode: {err}") from err
    if image is None or image.size == 0:
        raise DecodeError(f"{what} ({buffer.size} bytes) does not decode")
    if image.shape[:2] != (claim.height, claim.width):  # the decoder read another header than we did
        decoded = f"{image.shape[1]}x{image.shape[0]}"
        raise DecodeError(f"{what} claims {claim.width}x{claim.height} but decodes to {decoded}")
    return image


def compressed_to_rgb(msg: Any, *, max_pixels: int = DEFAULT_MAX_INPUT_PIXELS) -> np.ndarray:
    """A colour CompressedImage (JPEG or PNG) -> (H, W, 3) uint8 RGB; OversizedInputError when its
    header claims more than ``max_pixels``."""
    fmt = str(msg.format)
    parsed = parse_format(fmt)
    if parsed.depth:
        raise EncodingError(f"{fmt!r} is a compressedDepth image, not colour")
    image = _imdecode(msg.data, f"{parsed.codec} image {fmt!r}", max_pixels)
    if image.dtype == np.uint16:  # 16-bit PNG (rgb16, mono16 sources): keep the high byte
        image = (image >> 8).astype(np.uint8)
    channels = 1 if image.ndim == 2 else int(image.shape[2])
    convert = _TO_RGB.get(channels)
    if image.dtype != np.uint8 or convert is None:
        raise DecodeError(f"{fmt!r} decoded to {image.dtype} with {channels} channels, not an 8-bit image")
    return np.ascontiguousarray(convert(image, _bgr_stored(fmt)))


def encode_rgb(rgb: np.ndarray, codec: str = "jpeg", *, quality: int = 90) -> tuple[str, bytes]:
    """(H, W, 3) uint8 RGB -> (format, data) as image_transport's compressed publisher writes them."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be (H, W, 3) uint8, got {rgb.dtype} of shape {rgb.shape}")
    params = {"jpeg": [cv2.IMWRITE_JPEG_QUALITY, int(quality)], "png": [cv2.IMWRITE_PNG_COMPRESSION, 1]}
    if codec not in params:
        raise ValueError(f"codec must be 'jpeg' or 'png', got {codec!r}")
    ok, data = cv2.imencode(f".{codec}", np.ascontiguousarray(rgb[..., ::-1]), params[codec])
    if not ok:
        raise ValueError(f"OpenCV could not encode a {rgb.shape} image as {codec}")
    return f"rgb8; {codec} compressed bgr8", data.tobytes()


# ------------------------------------------------------------------------------------------
# Depth


def _png_payload(payload: np.ndarray, fmt: str, max_pixels: int) -> np.ndarray:
    image = _imdecode(payload, f"compressedDepth png {fmt!r}", max_pixels)
    if image.dtype != np.uint16 or image.ndim != 2:
        raise DecodeError(f"compressedDepth png {fmt!r} decoded to {image.dtype} {image.shape}, not 16UC1")
    return image


def _rvl_payload(payload: np.ndarray, fmt: str, max_pixels: int) -> np.ndarray:
    if payload.size < 8:
        raise DecodeError(f"compressedDepth rvl {fmt!r}: {payload.size} bytes, no size prefix")
    cols, rows = struct.unpack("<II", payload[:8].tobytes())
    check_pixels(cols, rows, max_pixels, f"compressedDepth rvl {fmt!r} ({payload.size} bytes)")
    try:
        return rvl.decode(payload[8:].tobytes(), cols, rows)
    except rvl.RvlError as err:
        raise DecodeError(f"compressedDepth rvl {fmt!r}: {err}") from err


# compressedDepth codec -> its 16-bit payload decoder (after the ConfigHeader).
_DEPTH_CODECS: dict[str, Callable[[np.ndarray, str, int], np.ndarray]] = {
    "png": _png_payload,
    "rvl": _rvl_payload,
}


def _inverse_depth_m(quantised: np.ndarray, params: tuple[float, float], _scale: float) -> np.ndarray:
    a, b = np.float32(params[0]), np.float32(params[1])
    with np.errstate(divide="ignore"):
        depth = a / (quantised.astype(np.float32) - b)
    depth[quantised == 0] = np.nan
    return depth


def _scaled_m(values: np.ndarray, _params: tuple[float, float], scale: float) -> np.ndarray:
    return values.astype(np.float32) * np.float32(scale)


# Source encoding -> 16-bit payload to metres (like messages._DEPTH: 16UC1 scaled, 32FC1 metres).
# A format without an encoding (bare "compressedDepth rvl") is 16UC1.
_DEPTH_TO_M: dict[str, Callable[[np.ndarray, tuple[float, float], float], np.ndarray]] = {
    "16UC1": _scaled_m,
    "mono16": _scaled_m,
    "": _scaled_m,
    "32FC1": _inverse_depth_m,
}


def compressed_to_depth_m(
    msg: Any, depth_scale: float = 0.001, *, max_pixels: int = DEFAULT_MAX_INPUT_PIXELS
) -> np.ndarray:
    """A compressedDepth CompressedImage -> (H, W) float32 metres; invalid pixels 0 (16UC1) or NaN.

    16UC1 values are multiplied by ``depth_scale`` as in ``messages.image_to_depth_m``; 32FC1
    is inverse-depth quantised by the driver (lossy: a step of ~depth**2 / A metres).
    OversizedInputError when the payload claims more than ``max_pixels``.
    """
    fmt = str(msg.format)
    parsed = parse_format(fmt)
    if not parsed.depth:
        raise EncodingError(f"{fmt!r} is not a compressedDepth image")
    to_m = _DEPTH_TO_M.get(parsed.encoding)
    if to_m is None:
        raise EncodingError(f"compressedDepth encoding {parsed.encoding!r} not supported (16UC1, 32FC1)")
    data = byte_array(msg.data)
    if data.size <= _CONFIG_HEADER.size:
        raise DecodeError(f"compressedDepth {fmt!r}: {data.size} bytes, not more than its 12-byte header")
    _, quant_a, quant_b = _CONFIG_HEADER.unpack(data[: _CONFIG_HEADER.size].tobytes())
    values = _DEPTH_CODECS[parsed.codec](data[_CONFIG_HEADER.size :], fmt, max_pixels)
    return to_m(values, (quant_a, quant_b), depth_scale)


def encode_depth(
    depth: np.ndarray,
    codec: str = "png",
    *,
    depth_max: float = 10.0,
    depth_quantization: float = 100.0,
) -> tuple[str, bytes]:
    """A depth image -> (format, data) as compressed_depth_image_transport writes them.

    uint16 is sent as 16UC1, unchanged (lossless). float32 metres is sent as 32FC1, quantised
    like the plugin (``depth_max`` and ``depth_quantization`` are its parameters, defaults
    its defaults): depth at or past ``depth_max``, NaN, 0, and depth so near that the code
    overflows 16 bits become invalid.
    """
    if depth.ndim != 2 or depth.dtype not in (np.uint16, np.float32):
        raise ValueError(f"depth must be (H, W) uint16 or float32, got {depth.dtype} of shape {depth.shape}")
    if codec not in _DEPTH_CODECS:
        raise ValueError(f"codec must be 'png' or 'rvl', got {codec!r}")
    params = (0.0, 0.0)
    values = depth
    if depth.dtype == np.float32:
        quant_a = np.float32(depth_quantization) * (np.float32(depth_quantization) + np.float32(1))
        quant_b = np.float32(1) - quant_a / np.float32(depth_max)
        with np.errstate(divide="ignore", invalid="ignore"):
            code = np.where((depth > 0) & (depth < depth_max), quant_a / depth + quant_b, 0)
        values = np.where((code >= 1) & (code < 65536), code, 0).astype(np.uint16)
        params = (float(quant_a), float(quant_b))
    header = _CONFIG_HEADER.pack(_INV_DEPTH, *params)
    if codec == "png":
        ok, png = cv2.imencode(".png", values, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if not ok:
            raise ValueError(f"OpenCV could not encode a {values.shape} depth image as png")
        payload = png.tobytes()
    else:
        payload = struct.pack("<II", values.shape[1], values.shape[0]) + rvl.encode(values)
    encoding = "16UC1" if depth.dtype == np.uint16 else "32FC1"
    return f"{encoding}; compressedDepth {codec}", header + payload


def build_compressed_image(factory: MessageFactory, header: Any, fmt: str, data: bytes) -> Any:
    """A sensor_msgs/CompressedImage of ``factory``'s library (rclpy or rosbags)."""
    blob = factory.blob(np.frombuffer(data, dtype=np.uint8))
    return factory.new("sensor_msgs/msg/CompressedImage", header=header, format=fmt, data=blob)


__all__ = [
    "CompressedFormat",
    "DecodeError",
    "Transport",
    "build_compressed_image",
    "compressed_to_depth_m",
    "compressed_to_rgb",
    "encode_depth",
    "encode_rgb",
    "parse_format",
    "transport_topic",
]
