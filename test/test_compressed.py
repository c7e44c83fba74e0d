"""ros/compressed.py and ros/rvl.py: every image_transport format both ways, corrupt frames."""

from __future__ import annotations

import struct
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from asymfusion_ros.ros import compressed as c
from asymfusion_ros.ros import rvl
from asymfusion_ros.ros.messages import EncodingError, MessageError
from asymfusion_ros.ros.problems import Problem

RNG = np.random.default_rng(0)


def smooth_rgb(height: int = 48, width: int = 64) -> np.ndarray:
    """Gradients (what JPEG keeps well), so JPEG q90 stays within a few grey levels."""
    v, u = np.mgrid[0:height, 0:width]
    return np.dstack([u * 255 // width, v * 255 // height, (u + v) * 255 // (width + height)]).astype(
        np.uint8
    )


def depth_mm(height: int = 48, width: int = 64, holes: float = 0.2) -> np.ndarray:
    depth = RNG.integers(300, 9000, (height, width)).astype(np.uint16)
    depth[RNG.random(depth.shape) < holes] = 0
    return depth


def message(fmt: str, data: bytes | np.ndarray) -> SimpleNamespace:
    """A duck-typed CompressedImage (rosbags gives a numpy ``data``, rclpy bytes-like)."""
    return SimpleNamespace(format=fmt, data=data)


def rvl_reference_encode(values: np.ndarray) -> bytes:
    """RVL written one pixel at a time, as the algorithm reads in prose: the oracle for ours."""
    words: list[int] = []
    word, nibbles = 0, 0

    def put(number: int) -> None:
        nonlocal word, nibbles
        while True:
            nibble, number = number & 7, number >> 3
            word = (word << 4) | nibble | (8 if number else 0)
            nibbles += 1
            if nibbles == 8:
                words.append(word)
                word, nibbles = 0, 0
            if not number:
                return

    flat, i, previous = [int(v) for v in values.reshape(-1)], 0, 0
    while i < len(flat):
        zeros = 0
        while i < len(flat) and flat[i] == 0:
            zeros, i = zeros + 1, i + 1
        put(zeros)
        nonzeros = 0
        while i + nonzeros < len(flat) and flat[i + nonzeros]:
            nonzeros += 1
        put(nonzeros)
        for value in flat[i : i + nonzeros]:
            delta = value - previous
            put(2 * delta if delta >= 0 else -2 * delta - 1)
            previous = value
        i += nonzeros
    if nibbles:
        words.append(word << 4 * (8 - nibbles))
    return np.array(words, dtype="<u4").tobytes()


# ------------------------------------------------------------------------------------------
# RVL


def test_rvl_known_stream() -> None:
    # 2 zeros, 1 non-zero, delta 5 -> zigzag 10 = nibbles 0xA (010 + more), 0x1: word 0x21A10000.
    assert rvl.encode(np.array([[0, 0, 5]], dtype=np.uint16)) == bytes.fromhex("0000a121")


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (48, 64)])
@pytest.mark.parametrize("holes", [0.0, 0.3, 0.5, 1.0])
def test_rvl_matches_reference_and_round_trips(shape: tuple[int, int], holes: float) -> None:
    values = RNG.integers(1, 65536, shape).astype(np.uint16)
    values[RNG.random(shape) < holes] = 0
    stream = rvl.encode(values)
    assert stream == rvl_reference_encode(values)
    np.testing.assert_array_equal(rvl.decode(stream, shape[1], shape[0]), values)


def test_rvl_rejects_streams_of_the_wrong_size() -> None:
    stream = rvl.encode(depth_mm(8, 8))
    with pytest.raises(rvl.RvlError, match="covers"):
        rvl.decode(stream, 8, 9)
    with pytest.raises(rvl.RvlError, match="whole 32-bit words"):
        rvl.decode(stream[:-1], 8, 8)
    with pytest.raises(rvl.RvlError):
        rvl.decode(stream[: len(stream) // 2], 8, 8)


# ------------------------------------------------------------------------------------------
# Colour


@pytest.mark.parametrize("as_numpy", [False, True])
def test_png_colour_round_trip_is_lossless(as_numpy: bool) -> None:
    rgb = RNG.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    fmt, data = c.encode_rgb(rgb, "png")
    assert fmt == "rgb8; png compressed bgr8"
    payload = np.frombuffer(data, np.uint8).copy() if as_numpy else data
    np.testing.assert_array_equal(c.compressed_to_rgb(message(fmt, payload)), rgb)


def test_jpeg_q90_is_close() -> None:
    rgb = smooth_rgb()
    fmt, data = c.encode_rgb(rgb, "jpeg", quality=90)
    assert fmt == "rgb8; jpeg compressed bgr8"
    decoded = c.compressed_to_rgb(message(fmt, data))
    assert decoded.shape == rgb.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - rgb).mean() < 2.0


def bgr_png(image: np.ndarray) -> bytes:
    """What OpenCV (and so image_transport) writes for a BGR / grey / BGRA array."""
    return cv2.imencode(".png", image)[1].tobytes()


@pytest.mark.parametrize(
    ("fmt", "stored"),
    [
        ("bgr8; png compressed bgr8", "bgr"),
        ("bgra8; png compressed bgr8", "bgr"),
        ("rgb8; png compressed rgb8", "rgb"),  # not "compressed bgr": kept in the source's order
        ("png", "bgr"),  # old drivers: no encoding, OpenCV's BGR
        ("rgba8; png compressed bgr8", "bgra"),  # a 4-channel payload
    ],
)
def test_channel_orders(fmt: str, stored: str) -> None:
    rgb = RNG.integers(0, 256, (6, 9, 3), dtype=np.uint8)
    payload = {
        "bgr": rgb[..., ::-1],
        "rgb": rgb,
        "bgra": np.dstack([rgb[..., ::-1], np.full(rgb.shape[:2], 9, np.uint8)]),
    }[stored]
    np.testing.assert_array_equal(c.compressed_to_rgb(message(fmt, bgr_png(payload))), rgb)


@pytest.mark.parametrize("fmt", ["mono8; jpeg compressed mono8", "mono8; png compressed ", "jpeg"])
def test_grey_is_grey_rgb(fmt: str) -> None:
    grey = np.tile(np.arange(0, 240, 10, dtype=np.uint8), (16, 1))
    codec = ".jpg" if "jpeg" in fmt else ".png"
    decoded = c.compressed_to_rgb(message(fmt, cv2.imencode(codec, grey)[1].tobytes()))
    assert decoded.shape == (*grey.shape, 3)
    assert np.abs(decoded[..., 0].astype(int) - grey).max() <= 3
    np.testing.assert_array_equal(decoded[..., 0], decoded[..., 2])


# ------------------------------------------------------------------------------------------
# Depth


@pytest.mark.parametrize("codec", ["png", "rvl"])
def test_16uc1_round_trip_is_lossless_in_metres(codec: str) -> None:
    mm = depth_mm()
    fmt, data = c.encode_depth(mm, codec)
    assert fmt == f"16UC1; compressedDepth {codec}"
    assert struct.unpack("<iff", data[:12]) == (0, 0.0, 0.0)
    depth = c.compressed_to_depth_m(message(fmt, data), depth_scale=0.001)
    assert depth.dtype == np.float32
    np.testing.assert_array_equal(depth, mm.astype(np.float32) * np.float32(0.001))


@pytest.mark.parametrize("fmt", ["16UC1; compressedDepth", "compressedDepth rvl", "compressedDepth"])
def test_humble_and_bare_depth_formats(fmt: str) -> None:
    mm = depth_mm(5, 7)
    codec = "rvl" if "rvl" in fmt else "png"
    data = c.encode_depth(mm, codec)[1]
    np.testing.assert_array_equal(c.compressed_to_depth_m(message(fmt, data), depth_scale=1.0), mm)


@pytest.mark.parametrize("codec", ["png", "rvl"])
def test_32fc1_inverse_depth_quantisation(codec: str) -> None:
    metres = RNG.uniform(0.3, 9.5, (24, 32)).astype(np.float32)
    metres[0, :4] = [0.0, np.nan, 10.0, 12.0]  # invalid, invalid, at depth_max, past it
    fmt, data = c.encode_depth(metres, codec, depth_max=10.0, depth_quantization=100.0)
    assert fmt == f"32FC1; compressedDepth {codec}"
    quant_a, quant_b = struct.unpack("<iff", data[:12])[1:]
    assert quant_a == pytest.approx(100.0 * 101.0)
    assert quant_b == pytest.approx(1.0 - quant_a / 10.0)
    depth = c.compressed_to_depth_m(message(fmt, data))
    assert np.isnan(depth[0, :4]).all()
    valid = np.isfinite(metres) & (metres > 0) & (metres < 10.0)
    # One quantisation step of q = A / d + B is d**2 / A metres; truncation loses less than one.
    error = np.abs(depth[valid] - metres[valid])
    assert (error <= metres[valid] ** 2 / quant_a * 1.01 + 1e-6).all()
    # Decoding is exactly the plugin's A / (q - B), whichever codec carried q.
    if codec == "png":
        quantised = cv2.imdecode(np.frombuffer(data[12:], np.uint8), cv2.IMREAD_UNCHANGED)
    else:
        quantised = rvl.decode(data[20:], *struct.unpack("<II", data[12:20]))
    expected = np.float32(quant_a) / (quantised.astype(np.float32) - np.float32(quant_b))
    np.testing.assert_array_equal(depth[valid], expected[valid])


# ------------------------------------------------------------------------------------------
# Bad frames


def test_corrupt_frames_raise_decode_error() -> None:
    fmt = c.encode_rgb(smooth_rgb(), "jpeg")[0]
    depth_fmt, depth_data = c.encode_depth(depth_mm(), "png")
    rvl_fmt, rvl_data = c.encode_depth(depth_mm(), "rvl")
    cases = [
        message(fmt, b""),
        message(fmt, b"not a jpeg at all"),
        message(depth_fmt, depth_data[:12]),
        message(depth_fmt, depth_data[:12] + b"garbage"),
        message(depth_fmt, depth_data[:12] + c.encode_rgb(smooth_rgb(), "png")[1]),  # 8-bit colour
        message(rvl_fmt, rvl_data[:16]),
        message(rvl_fmt, rvl_data[:12] + struct.pack("<II", 64, 49) + rvl_data[20:]),  # wrong size
    ]
    for msg in cases:
        with pytest.raises(c.DecodeError) as caught:
            c.compressed_to_depth_m(msg) if "compressedDepth" in msg.format else c.compressed_to_rgb(msg)
        assert caught.value.problem is Problem.DECODE_ERROR
        assert isinstance(caught.value, MessageError)


@pytest.mark.parametrize(
    "fmt", ["rgb8; tiff compressed bgr8", "16UC1; compressedDepth zstd", "8UC1; compressedDepth png"]
)
def test_unsupported_formats_are_encoding_errors(fmt: str) -> None:
    data = c.encode_depth(depth_mm(), "png")[1]
    with pytest.raises(EncodingError):
        c.compressed_to_depth_m(message(fmt, data)) if "Depth" in fmt else c.compressed_to_rgb(
            message(fmt, data)
        )


def test_colour_and_depth_readers_refuse_each_other() -> None:
    rgb_fmt, rgb_data = c.encode_rgb(smooth_rgb(), "png")
    depth_fmt, depth_data = c.encode_depth(depth_mm(), "png")
    with pytest.raises(EncodingError, match="not a compressedDepth"):
        c.compressed_to_depth_m(message(rgb_fmt, rgb_data))
    with pytest.raises(EncodingError, match="not colour"):
        c.compressed_to_rgb(message(depth_fmt, depth_data))


def test_parse_format() -> None:
    assert c.parse_format("rgb8; jpeg compressed bgr8") == c.CompressedFormat("rgb8", "jpeg", False)
    assert c.parse_format("32FC1; compressedDepth rvl") == c.CompressedFormat("32FC1", "rvl", True)
    assert c.parse_format("16UC1; compressedDepth") == c.CompressedFormat("16UC1", "png", True)
    assert c.parse_format("png") == c.CompressedFormat("", "png", False)


def test_builders_make_rosbags_messages() -> None:
    from rosbags.typesys import Stores, get_typestore

    from asymfusion_ros.ros.messages import build_header, rosbags_factory

    factory = rosbags_factory(get_typestore(Stores.ROS2_HUMBLE))
    fmt, data = c.encode_depth(depth_mm(), "rvl")
    msg = c.build_compressed_image(factory, build_header(factory, 5, "cam"), fmt, data)
    assert msg.format == fmt and msg.header.frame_id == "cam"
    np.testing.assert_array_equal(c.compressed_to_depth_m(msg), c.compressed_to_depth_m(message(fmt, data)))


def test_transport_topics_follow_image_transport() -> None:
    base = "/camera/camera/color/image_raw"
    assert c.transport_topic(base, c.Transport.RAW) == base
    assert c.transport_topic(base, c.Transport.COMPRESSED) == f"{base}/compressed"
    assert c.transport_topic("depth/image/", c.Transport.COMPRESSED_DEPTH) == "depth/image/compressedDepth"


def test_real_nyu_frames_round_trip(nyu_sample: Path) -> None:
    """Real RGB-D frames (35 % holes, sensor noise): depth lossless by PNG and RVL, JPEG q90 close."""
    for rgb_file in sorted((nyu_sample / "rgb").glob("*.png")):
        rgb = cv2.imread(str(rgb_file), cv2.IMREAD_COLOR)[..., ::-1].copy()
        raw = cv2.imread(str(nyu_sample / "depth" / rgb_file.name), cv2.IMREAD_UNCHANGED)
        for codec in ("png", "rvl"):
            fmt, data = c.encode_depth(raw, codec)
            depth = c.compressed_to_depth_m(message(fmt, data), depth_scale=1 / 5000)
            np.testing.assert_array_equal(depth, raw.astype(np.float32) * np.float32(1 / 5000))
        fmt, data = c.encode_rgb(rgb, "jpeg", quality=90)
        decoded = c.compressed_to_rgb(message(fmt, data))
        assert np.abs(decoded.astype(int) - rgb).mean() < 3.0


@pytest.mark.parametrize("codec", ["png", "rvl"])
def test_damaged_depth_frames_fail_cleanly(codec: str) -> None:
    """Flipped and cut bytes give an image or a MessageError, never another exception."""
    rng = np.random.default_rng(1)
    fmt, data = c.encode_depth(depth_mm(30, 40), codec)
    outcomes = {"decoded": 0, "refused": 0}
    for trial in range(300):
        damaged = bytearray(data[: len(data) - trial % 7 * 4] if trial % 2 else data)
        for _ in range(int(rng.integers(1, 4))):
            damaged[int(rng.integers(12, len(damaged)))] = int(rng.integers(0, 256))
        try:
            assert c.compressed_to_depth_m(message(fmt, bytes(damaged))).shape == (30, 40)
            outcomes["decoded"] += 1
        except MessageError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0
