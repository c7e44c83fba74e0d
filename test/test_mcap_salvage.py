"""The salvage of an unfinished MCAP file refuses chunk bombs: a chunk whose claimed size is
implausible is never inflated, one that inflates past its claim is stopped there, and each is
passed over and said, while every sound chunk is still read."""

from __future__ import annotations

import json
import struct
import sys
import tracemalloc
from binascii import crc32
from pathlib import Path

import pytest
from lz4.frame import compress as lz4_compress

from asymfusion_ros.bags import BagReader
from asymfusion_ros.bags.mcap_salvage import (
    CHUNK,
    MAGIC,
    MAX_CHUNK_BYTES,
    ChunkError,
    SalvagedMcap,
    implausible,
    open_chunk,
)
from asymfusion_ros.cli import main
from asymfusion_ros.replay import make_bag

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

DATA_END = 0x0F
GIB = 1 << 30


def _chunk(compression: str, data: bytes, claimed: int, crc: int = 0) -> bytes:
    """A chunk record's body: start, end, uncompressed size and crc, compression, records."""
    name = compression.encode()
    return (
        struct.pack("<QQQI", 0, 1, claimed, crc)
        + struct.pack("<I", len(name))
        + name
        + (struct.pack("<Q", len(data)) + data)
    )


def _record(opcode: int, body: bytes) -> bytes:
    return struct.pack("<BQ", opcode, len(body)) + body


def _zeros_zstd(size: int) -> bytes:
    """``size`` zero bytes, zstd-compressed a MiB at a time (never held whole)."""
    compressor, block = zstd.ZstdCompressor(), bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(size // len(block))]
    return b"".join([*parts, compressor.flush()])


def _top_records(data: bytes) -> list[tuple[int, bytes]]:
    """The top-level records of a whole MCAP file, up to its DataEnd."""
    records, position = [], len(MAGIC)
    while True:
        opcode, size = struct.unpack_from("<BQ", data, position)
        if opcode == DATA_END:
            return records
        records.append((opcode, data[position + 9 : position + 9 + size]))
        position += 9 + size


def test_claims_are_checked_against_a_cap_and_the_codecs_worst_ratio() -> None:
    assert implausible("zstd", 1000, 1000 * 32768) is None
    assert "at most 32768x" in str(implausible("zstd", 1000, 1000 * 32768 + 1))
    assert "at most 255x" in str(implausible("lz4", 1000, 256_000))
    assert implausible("", 1000, 1000) is None and implausible("", 1000, 1001) is not None
    assert "chunk limit" in str(implausible("zstd", 1 << 20, MAX_CHUNK_BYTES + 1))
    assert "unknown compression" in str(implausible("brotli", 10, 10))


@pytest.mark.parametrize(
    ("compression", "data", "claimed", "why"),
    [
        ("zstd", zstd.compress(b"x" * 100), 1 << 40, "chunk limit"),  # a claim of 1 TiB
        ("lz4", lz4_compress(b"x" * 100), 500 * 1024, "at most 255x"),
        ("zstd", _zeros_zstd(2 * GIB), 1000, "holds more"),  # 2 GiB behind a claim of 1000 bytes
        ("lz4", lz4_compress(bytes(64 << 20)), 2000, "holds more"),
        ("zstd", zstd.compress(b"x" * 100)[:-3], 100, "zstd data cut short"),
        ("lz4", b"\x04\x22\x4d\x18garbage", 100, "damaged lz4"),
    ],
)
def test_a_bomb_or_damaged_chunk_is_refused_without_inflating_it(
    compression: str, data: bytes, claimed: int, why: str
) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ChunkError, match=why):
            open_chunk(_chunk(compression, data, claimed))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # never more than a few MiB held, whatever the chunk claims or holds


def test_a_sound_chunk_opens_and_its_checksum_is_checked() -> None:
    raw = b"records" * 1000
    for compression, data in [("zstd", zstd.compress(raw)), ("lz4", lz4_compress(raw)), ("", raw)]:
        assert open_chunk(_chunk(compression, data, len(raw), crc32(raw))) == raw
    with pytest.raises(ChunkError, match="checksum"):
        open_chunk(_chunk("zstd", zstd.compress(raw), len(raw), crc32(raw) ^ 1))


def unfinished_with_bombs(path: Path, source: Path) -> int:
    """``path``: the MCAP file of the bag ``source`` with a chunk claiming 1 TiB and one holding
    2 GiB of zeros behind a small claim between its chunks, cut before its summary (a recorder
    killed); returns the number of messages of ``source``."""
    data = next(source.glob("*.mcap")).read_bytes()
    records = _top_records(data)
    bombs = [
        _record(CHUNK, _chunk("zstd", zstd.compress(b"x" * 100), 1 << 40)),
        _record(CHUNK, _chunk("zstd", _zeros_zstd(2 * GIB), 4096)),
    ]
    first_chunk = next(i for i, (opcode, _) in enumerate(records) if opcode == CHUNK)
    kept = [_record(opcode, body) for opcode, body in records]
    path.write_bytes(MAGIC + b"".join([*kept[: first_chunk + 1], *bombs, *kept[first_chunk + 1 :]]))
    with BagReader(source) as bag:
        return sum(topic.msgcount for topic in bag.topics().values())


@pytest.fixture(scope="module")
def bombed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    root = tmp_path_factory.mktemp("bombs")
    make_bag.write_synthetic_bag(root / "whole", frames=40, rate_hz=30.0, size=(240, 320), seed=3)
    return root / "bombed.mcap", unfinished_with_bombs(root / "bombed.mcap", root / "whole")


def test_an_unfinished_file_with_bombs_gives_every_sound_chunk(bombed: tuple[Path, int]) -> None:
    path, messages = bombed
    salvaged = SalvagedMcap(path)
    reasons = list(salvaged.skipped_chunks.values())
    assert len(reasons) == 2 and "chunk limit" in reasons[0] and "holds more" in reasons[1]
    assert sum(c.msgcount for c in salvaged.connections) == messages
    assert sum(1 for _ in salvaged.messages()) == messages
    with BagReader(path) as bag:
        assert bag.salvaged is not None and "passed over 2 chunk(s)" in bag.salvaged
        assert sum(1 for _ in bag.messages()) == messages


def test_replaying_it_alone_is_partial_and_says_why(
    bombed: tuple[Path, int], tiny_onnx: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = bombed
    status = main(["replay", str(path), "--model", str(tiny_onnx), "--backend", "onnxruntime", "--json"])
    out, err = capsys.readouterr()
    assert status == 1 and "1 partial" in err and "Traceback" not in err
    report = json.loads(out)
    assert report["frames"] == 40  # every sound chunk's frames
    [entry] = report["bags"]
    assert entry["status"] == "partial" and "passed over 2 chunk(s)" in entry["reason"]
