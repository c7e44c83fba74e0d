"""Decompression bombs: small, well-formed-looking payloads whose headers claim huge images.

Each starts from a real encoding of a small image and rewrites the size its header claims
(JPEG SOF, PNG IHDR with its CRC fixed so libpng reads on, RVL cols/rows over a stream of
zeros that covers them), as an attacker or a broken driver would. Decoded without a budget,
each one asks OpenCV or numpy for width x height pixels.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from asymfusion_ros.bags import BagWriter, typestore
from asymfusion_ros.ros import compressed, messages, rvl

BOMB_SIDE = 60000
"""Side of the square the bombs claim by default: 3.6 Gpx, past OpenCV's own 2**30-pixel limit
for colour (so even OpenCV alone would refuse it) but not for RVL, which has no limit of its own."""


def small_rgb(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def small_depth_mm(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(400, 5000, (height, width)).astype(np.uint16)


def with_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    """A JPEG with its SOF's height and width replaced (every other byte kept)."""
    offset = 2
    while data[offset + 1] not in (0xC0, 0xC1, 0xC2):  # baseline, extended, progressive
        offset += 2 + struct.unpack(">H", data[offset + 2 : offset + 4])[0]
    patched = bytearray(data)
    patched[offset + 5 : offset + 9] = struct.pack(">HH", height, width)
    return bytes(patched)


def with_png_size(data: bytes, width: int, height: int) -> bytes:
    """A PNG with IHDR's width and height replaced and its CRC recomputed (libpng checks it)."""
    patched = bytearray(data)
    patched[16:24] = struct.pack(">II", width, height)
    patched[29:33] = struct.pack(">I", zlib.crc32(bytes(patched[12:29])))
    return bytes(patched)


def rvl_zeros(width: int, height: int) -> bytes:
    """A valid RVL stream (no size prefix) of a width x height image of zeros: a few bytes."""
    return rvl._numbers_to_words(np.array([width * height, 0], dtype=np.int64))


def colour_bomb(codec: str, side: int = BOMB_SIDE) -> tuple[str, bytes]:
    """(format, data) of a colour CompressedImage claiming side x side."""
    fmt, data = compressed.encode_rgb(small_rgb(), codec)
    return fmt, (with_jpeg_size if codec == "jpeg" else with_png_size)(data, side, side)


def depth_bomb(codec: str, encoding: str = "16UC1", side: int = BOMB_SIDE) -> tuple[str, bytes]:
    """(format, data) of a compressedDepth image (PNG or RVL; 16UC1 or 32FC1) claiming side x side."""
    depth = small_depth_mm() if encoding == "16UC1" else small_depth_mm().astype(np.float32) / 1000
    fmt, data = compressed.encode_depth(depth, codec)
    header, payload = data[:12], data[12:]
    if codec == "png":
        return fmt, header + with_png_size(payload, side, side)
    return fmt, header + struct.pack("<II", side, side) + rvl_zeros(side, side)


COMPRESSED_BOMBS = {
    "jpeg colour 8192x8192": ("rgb", lambda: colour_bomb("jpeg", 8192)),
    "jpeg colour 20000x20000": ("rgb", lambda: colour_bomb("jpeg", 20000)),
    "png colour 60000x60000": ("rgb", lambda: colour_bomb("png", 60000)),
    "png 16UC1 depth 60000x60000": ("depth", lambda: depth_bomb("png", "16UC1", 60000)),
    "png 32FC1 depth 30000x30000": ("depth", lambda: depth_bomb("png", "32FC1", 30000)),
    "rvl 16UC1 depth 16384x16384": ("depth", lambda: depth_bomb("rvl", "16UC1", 16384)),
    "rvl 16UC1 depth 65535x65535": ("depth", lambda: depth_bomb("rvl", "16UC1", 65535)),
}
"""Name (ending in the claimed size) -> (which input it replaces, its (format, data) maker). The
JPEG and RVL sizes are those measured in issue 23 (2.8 GB, 13.5 GB, 1 GB and 8-16 GiB decoded)."""

RAW_BOMBS = {"rgb8": "rgb", "16UC1": "depth", "32FC1": "depth"}
"""Raw Image encodings -> which input; see raw_bomb."""


def raw_bomb(factory: messages.MessageFactory, header: Any, encoding: str, side: int = BOMB_SIDE) -> Any:
    """An Image claiming side x side (step to match) that holds 64 bytes."""
    pixel_bytes = {"rgb8": 3, "16UC1": 2, "32FC1": 4}[encoding]
    return factory.new(
        "sensor_msgs/msg/Image", header=header, height=side, width=side, encoding=encoding,
        is_bigendian=0, step=side * pixel_bytes, data=factory.blob(np.zeros(64, np.uint8)),
    )  # fmt: skip


RGB_TOPIC = "/camera/color/image_raw"
DEPTH_TOPIC = "/camera/aligned_depth_to_color/image_raw"
INFO_TOPIC = "/camera/color/camera_info"


def write_bomb_bag(
    path: Path, transport: str, frames: list[tuple[np.ndarray, np.ndarray]], k: np.ndarray, *, rounds: int = 1
) -> tuple[int, int]:
    """A bag of good frames and bombs, as a camera at 10 Hz records them; returns (good, bombs).

    ``frames`` (rgb uint8, depth uint16 millimetres) are cycled; between two good frames is one
    frame whose colour or depth is a bomb, every kind of ``transport`` (``compressed``: JPEG
    colour and compressedDepth RVL, ``raw``: rgb8 and 16UC1) ``rounds`` times. camera_info
    (``k``, the frames' size) is beside every frame.
    """
    factory = messages.rosbags_factory(typestore())
    kinds = list(COMPRESSED_BOMBS if transport == "compressed" else RAW_BOMBS) * rounds
    suffix = ("/compressed", "/compressedDepth") if transport == "compressed" else ("", "")
    with BagWriter(path) as writer:
        for i in range(2 * len(kinds) + 1):
            stamp = 1_700_000_000 * 10**9 + i * 100_000_000
            header = messages.build_header(factory, stamp, "camera_color_optical_frame")
            rgb, depth = frames[i // 2 % len(frames)]
            if transport == "raw":
                pair = {"rgb": messages.build_image(factory, header, rgb),
                        "depth": messages.build_image(factory, header, depth, "16UC1")}  # fmt: skip
            else:
                pair = {
                    "rgb": compressed.build_compressed_image(factory, header, *compressed.encode_rgb(rgb)),
                    "depth": compressed.build_compressed_image(
                        factory, header, *compressed.encode_depth(depth, "rvl")
                    ),
                }
            if i % 2:
                kind = kinds[i // 2]
                if transport == "raw":
                    pair[RAW_BOMBS[kind]] = raw_bomb(factory, header, kind)
                else:
                    which, make = COMPRESSED_BOMBS[kind]
                    pair[which] = compressed.build_compressed_image(factory, header, *make())
            height, width = depth.shape
            writer.write(INFO_TOPIC, messages.build_camera_info(factory, header, k, height, width), stamp)
            writer.write(DEPTH_TOPIC + suffix[1], pair["depth"], stamp + 1_000_000)
            writer.write(RGB_TOPIC + suffix[0], pair["rgb"], stamp + 2_000_000)
    return len(kinds) + 1, len(kinds)
