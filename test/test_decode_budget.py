"""The decode budget: a message whose header claims more pixels than ``max_input_pixels`` (or far
more than its camera_info) is refused before a pixel is decoded, in the message functions and in
replay; good frames around it still come out and every frame is accounted for.

The node over DDS is tested in test_ros_inputs.py with the same bombs (test/bombs.py).
"""

from __future__ import annotations

import struct
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from bombs import (
    COMPRESSED_BOMBS,
    DEPTH_TOPIC,
    INFO_TOPIC,
    RAW_BOMBS,
    RGB_TOPIC,
    raw_bomb,
    rvl_zeros,
    small_depth_mm,
    small_rgb,
    with_jpeg_size,
    with_png_size,
    write_bomb_bag,
)

from asymfusion_ros.bags import BagWriter, typestore
from asymfusion_ros.inference.pipeline import Segmenter
from asymfusion_ros.replay.runner import ReplayConfig, replay
from asymfusion_ros.ros import compressed, image_headers, messages, rvl
from asymfusion_ros.ros.depth_input import pixel_budget
from asymfusion_ros.ros.messages import CAMERA_INFO_SLACK, MessageError, OversizedInputError
from asymfusion_ros.ros.params import Settings
from asymfusion_ros.ros.problems import Problem

HEIGHT, WIDTH = 48, 64


def message(fmt: str, data: bytes) -> SimpleNamespace:
    return SimpleNamespace(format=fmt, data=data)


def decoder(which: str) -> Callable[..., np.ndarray]:
    return compressed.compressed_to_rgb if which == "rgb" else compressed.compressed_to_depth_m


# -- headers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encode",
    [
        lambda a: cv2.imencode(".jpg", a)[1],
        lambda a: cv2.imencode(".jpg", a, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1],
        lambda a: cv2.imencode(".jpg", a[..., 0])[1],  # grey
        lambda a: cv2.imencode(".png", a)[1],
        lambda a: cv2.imencode(".png", a[..., 0].astype(np.uint16) * 257)[1],  # 16-bit grey
    ],
    ids=["jpeg", "progressive jpeg", "grey jpeg", "png", "16-bit png"],
)
def test_headers_give_the_size_the_decoder_decodes(encode: Callable[[np.ndarray], np.ndarray]) -> None:
    for height, width in [(1, 1), (48, 64), (37, 1001)]:
        data = encode(small_rgb(height, width)).tobytes()
        claim = image_headers.claimed_size(data)
        assert (claim.width, claim.height) == (width, height)
        assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED).shape[:2] == (height, width)


def test_headers_that_say_nothing_trustworthy_are_refused() -> None:
    jpeg = compressed.encode_rgb(small_rgb(), "jpeg")[1]
    sos = jpeg.index(b"\xff\xda")
    sof = jpeg.index(b"\xff\xc0")
    cases = [  # (bytes, what the refusal says)
        # TIFF: OpenCV would decode it, image_transport never sends it
        (b"II*\x00" + bytes(100), "neither a JPEG nor a PNG"),
        (jpeg[:sof], "ends before its frame header"),
        (jpeg[:sof] + jpeg[sos:], "reaches a scan"),
        (with_jpeg_size(jpeg, WIDTH, 0), "height 0"),
        (jpeg[:sof] + b"\x00" + jpeg[sof:], "no marker"),
        (compressed.encode_rgb(small_rgb(), "png")[1][:12], "without an IHDR"),
    ]
    for data, reason in cases:
        with pytest.raises(image_headers.HeaderError, match=reason):
            image_headers.claimed_size(data)
        with pytest.raises(compressed.DecodeError):
            compressed.compressed_to_rgb(message("rgb8; jpeg compressed bgr8", data))


# -- the message functions ---------------------------------------------------------------------


@pytest.mark.parametrize("name", list(COMPRESSED_BOMBS))
def test_compressed_bombs_are_refused_before_decoding(name: str) -> None:
    which, make = COMPRESSED_BOMBS[name]
    fmt, data = make()
    assert len(data) < 10_000  # a few kilobytes claiming gigapixels
    tracemalloc.start()  # numpy reports its allocations to tracemalloc
    try:
        with pytest.raises(OversizedInputError, match=name.split()[-1]) as caught:
            decoder(which)(message(fmt, data))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert caught.value.problem is Problem.OVERSIZED_INPUT
    assert peak < 1_000_000, peak  # nothing sized by the claim was allocated


FUZZ_CASES = {
    "jpeg colour": ("rgb", lambda: compressed.encode_rgb(small_rgb(), "jpeg")),
    "png colour": ("rgb", lambda: compressed.encode_rgb(small_rgb(), "png")),
    "png 16UC1 depth": ("depth", lambda: compressed.encode_depth(small_depth_mm(), "png")),
    "png 32FC1 depth": ("depth", lambda: compressed.encode_depth(small_depth_mm().astype(np.float32) / 1e3)),
    "rvl 16UC1 depth": ("depth", lambda: compressed.encode_depth(small_depth_mm(), "rvl")),
}
"""Good 48x64 frames of every codec, whose headers the tests below make lie."""


@pytest.mark.parametrize("name", list(FUZZ_CASES))
def test_the_budget_is_the_callers(name: str) -> None:
    """A claim of exactly the budget decodes; one pixel less refuses it."""
    which, make = FUZZ_CASES[name]
    fmt, data = make()
    assert decoder(which)(message(fmt, data), max_pixels=HEIGHT * WIDTH).shape[:2] == (HEIGHT, WIDTH)
    with pytest.raises(OversizedInputError, match=f"{WIDTH}x{HEIGHT}"):
        decoder(which)(message(fmt, data), max_pixels=HEIGHT * WIDTH - 1)


@pytest.mark.parametrize("encoding", list(RAW_BOMBS))
def test_raw_images_claiming_more_than_the_budget_are_refused(encoding: str) -> None:
    factory = messages.rosbags_factory(typestore())
    header = messages.build_header(factory, 0, "cam")
    bomb = raw_bomb(factory, header, encoding)
    convert = messages.image_to_rgb if RAW_BOMBS[encoding] == "rgb" else messages.image_to_depth_m
    with pytest.raises(OversizedInputError, match="60000x60000"):
        convert(bomb)
    # within the budget, the same lie about the data length is truncated_data
    with pytest.raises(messages.TruncatedError):
        convert(raw_bomb(factory, header, encoding, side=100))
    image = small_rgb() if encoding == "rgb8" else small_depth_mm()
    if encoding == "32FC1":
        image = image.astype(np.float32)
    good = messages.build_image(factory, header, image, encoding)
    assert convert(good, max_pixels=HEIGHT * WIDTH).shape[:2] == (HEIGHT, WIDTH)
    with pytest.raises(OversizedInputError):
        convert(good, max_pixels=HEIGHT * WIDTH - 1)


@pytest.mark.parametrize("name", list(FUZZ_CASES))
def test_lying_sizes_give_an_image_within_budget_or_a_message_error(name: str) -> None:
    """Random sizes written into the header (bigger and smaller than the truth, with the rest of
    the bytes kept or cut), and random bytes flipped in the header: every outcome is an image
    within the budget or a MessageError, never another exception."""
    which, make = FUZZ_CASES[name]
    fmt, data = make()
    rng = np.random.default_rng(23)
    budget = 4 * HEIGHT * WIDTH
    outcomes: dict[str, int] = {}
    for trial in range(150):
        width, height = (int(v) for v in rng.integers(1, [4 * WIDTH, 4 * HEIGHT] if trial % 3 else 65535, 2))
        lying = bytearray(_with_size(name, data, width, height))
        if trial % 4 == 1:
            lying = lying[: int(rng.integers(12, len(lying)))]
        if trial % 4 == 2:
            for _ in range(3):
                lying[int(rng.integers(0, min(len(lying), 64)))] = int(rng.integers(0, 256))
        try:
            image = decoder(which)(message(fmt, bytes(lying)), max_pixels=budget)
        except MessageError as err:
            outcomes[err.problem.value] = outcomes.get(err.problem.value, 0) + 1
            continue
        assert image.shape[0] * image.shape[1] <= budget
        outcomes["decoded"] = outcomes.get("decoded", 0) + 1
    assert outcomes.get(Problem.OVERSIZED_INPUT.value, 0) > 10, outcomes


def _with_size(name: str, data: bytes, width: int, height: int) -> bytes:
    if name.startswith("jpeg"):
        return with_jpeg_size(data, width, height)
    if name.startswith("png colour"):
        return with_png_size(data, width, height)
    if name.startswith("png"):
        return data[:12] + with_png_size(data[12:], width, height)
    return data[:12] + struct.pack("<II", width, height) + data[20:]


def test_rvl_refuses_runs_that_do_not_cover_the_claim_before_allocating() -> None:
    """Runs of 16384x16384 pixels in a stream claimed as 1000x1000, and the reverse: refused with
    nothing sized by either allocated."""
    tracemalloc.start()
    try:
        with pytest.raises(rvl.RvlError, match="covers"):
            rvl.decode(rvl_zeros(16384, 16384), 1000, 1000)
        with pytest.raises(rvl.RvlError, match="covers"):
            rvl.decode(rvl_zeros(1000, 1000), 16384, 16384)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100_000, peak
    np.testing.assert_array_equal(rvl.decode(rvl_zeros(30, 20), 30, 20), np.zeros((20, 30), np.uint16))


def test_the_budget_is_at_most_a_few_times_the_camera_info() -> None:
    info = SimpleNamespace(width=640, height=480)
    assert pixel_budget(4096 * 4096, info) == CAMERA_INFO_SLACK * 640 * 480
    assert pixel_budget(1000, info) == 1000
    assert pixel_budget(4096 * 4096, None) == 4096 * 4096
    assert pixel_budget(4096 * 4096, SimpleNamespace(width=0, height=0)) == 4096 * 4096  # uncalibrated
    assert Settings().max_input_pixels == messages.DEFAULT_MAX_INPUT_PIXELS == 4096 * 4096


# -- replay ------------------------------------------------------------------------------------

K = np.array([[60.0, 0.0, 32.0], [0.0, 60.0, 24.0], [0.0, 0.0, 1.0]])
FRAMES = [(small_rgb(seed=seed), small_depth_mm(seed=seed)) for seed in range(2)]


@pytest.mark.parametrize("transport", ["compressed", "raw"])
def test_replay_segments_every_good_frame_and_counts_every_bomb(
    tmp_path: Path, segmenter: Segmenter, transport: str
) -> None:
    good, bombs = write_bomb_bag(tmp_path / "bombs", transport, FRAMES, K, rounds=3)
    report = replay(ReplayConfig(bag=tmp_path / "bombs", progress=False), segmenter)
    refused = {reason: n for reason, n in report.skipped.items() if Problem.OVERSIZED_INPUT.value in reason}
    assert report.frames == good and sum(refused.values()) == bombs, report.skipped
    assert sum(report.skipped.values()) == bombs  # nothing else went missing
    assert not report.problems


def test_replay_budget_follows_the_camera_info_and_the_flag(tmp_path: Path, segmenter: Segmenter) -> None:
    """A frame 3x3 times its camera_info's size is refused though under max_input_pixels; a
    smaller --max-input-pixels refuses the good frames too."""
    factory = messages.rosbags_factory(typestore())
    with BagWriter(tmp_path / "big") as writer:
        for i, scale in enumerate([1, 3, 1]):
            stamp = 1_700_000_000 * 10**9 + i * 100_000_000
            header = messages.build_header(factory, stamp, "cam")
            size = (HEIGHT * scale, WIDTH * scale)
            rgb, depth = small_rgb(*size), small_depth_mm(*size)
            writer.write(INFO_TOPIC, messages.build_camera_info(factory, header, K, HEIGHT, WIDTH), stamp)
            writer.write(DEPTH_TOPIC, messages.build_image(factory, header, depth, "16UC1"), stamp + 1)
            writer.write(RGB_TOPIC, messages.build_image(factory, header, rgb), stamp + 2)
    report = replay(ReplayConfig(bag=tmp_path / "big", progress=False), segmenter)
    assert report.frames == 2
    [(reason, count)] = report.skipped.items()
    assert count == 1 and reason.startswith(f"{RGB_TOPIC}: oversized_input") and "192x144" in reason
    tight = Settings(max_input_pixels=HEIGHT * WIDTH - 1)
    report = replay(ReplayConfig(bag=tmp_path / "big", progress=False, node=tight), segmenter)
    assert report.frames == 0 and sum(report.skipped.values()) == 3


def test_replay_cli_takes_the_budget(
    tmp_path: Path, tiny_onnx: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from asymfusion_ros.cli import main

    write_bomb_bag(tmp_path / "bombs", "raw", FRAMES, K)
    base = ["replay", str(tmp_path / "bombs"), "--model", str(tiny_onnx)]
    assert main([*base, "--max-input-pixels", "0"]) == 2
    assert "--max-input-pixels must be > 0" in capsys.readouterr().err
    assert main([*base, "--max-input-pixels", str(HEIGHT * WIDTH - 1)]) == 1  # every frame refused
    assert "oversized_input" in capsys.readouterr().out
