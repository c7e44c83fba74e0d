"""Reading what is there in an MCAP file that was never closed (recorder killed, power lost).

Such a file has no summary and no footer, so ``rosbags`` refuses it whole. Its records are
still a plain sequence (``opcode u8, length u64, body``) up to the point of the cut; this
module walks them and stops at the first incomplete one. It offers the small part of
``rosbags.highlevel.AnyReader`` that :class:`asymfusion_ros.bags.BagReader` uses.

A damaged file must not cost more memory than a sound one (a chunk bomb: a few compressed
bytes that claim, or inflate to, gigabytes). A chunk is decompressed only when its claimed
uncompressed size is plausible (:func:`implausible`): at most :data:`MAX_CHUNK_BYTES`, and
at most its codec's worst-case ratio times its compressed size; and it is inflated into at
most that many bytes. A chunk refused or damaged is passed over and said in
:attr:`SalvagedMcap.skipped_chunks`.
"""

from __future__ import annotations

import os
import struct
import sys
from binascii import crc32
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

from lz4.frame import LZ4FrameDecompressor
from rosbags.interfaces import (
    Connection,
    ConnectionExtRosbag2,
    MessageDefinition,
    MessageDefinitionFormat,
    Qos,
)
from rosbags.rosbag2 import ReaderError
from rosbags.rosbag2.storage_mcap import get_qos
from rosbags.typesys import Stores, get_types_from_idl, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

MAGIC = b"\x89MCAP0\r\n"
SCHEMA, CHANNEL, MESSAGE, CHUNK = 0x03, 0x04, 0x05, 0x06

MAX_CHUNK_BYTES = 1 << 30
"""No chunk is inflated beyond 1 GiB. rosbag2 and rosbags write chunks of a few MiB (a chunk
exceeds that only by one message, and a 4096x4096 32FC1 image, the node's default decode budget,
is 64 MiB); a claim of more is damage, or a bomb."""
WORST_RATIO = {"": 1, "lz4": 255, "zstd": 32768}
"""The most bytes one compressed byte can become, per MCAP codec: none, 1; an LZ4 sequence grows
its match by at most 255 bytes per length byte; a zstd block regenerates at most 128 KiB and
takes at least 4 bytes (an RLE block: 3-byte header, 1 byte). A larger claim cannot be true."""


class SalvageError(ValueError):
    """Not an MCAP file, not one written by ROS 2, or a record that does not parse."""


class _Record(NamedTuple):
    opcode: int
    body: bytes
    offset: int = 0
    """Of a top-level record: where it starts in the file."""


def _string(body: bytes, offset: int) -> tuple[str, int]:
    (size,) = struct.unpack_from("<I", body, offset)
    start = offset + 4
    return body[start : start + size].decode(), start + size


def _records(stream: BinaryIO) -> Iterator[_Record]:
    """Top-level records until the data ends or a record is cut short (or claims more bytes than
    the file has left: garbage, never read into memory)."""
    end = os.fstat(stream.fileno()).st_size
    while True:
        head = stream.read(9)
        if len(head) < 9:
            return
        opcode, size = struct.unpack("<BQ", head)
        start = stream.tell() - 9
        if size > end - stream.tell():
            return
        body = stream.read(size)
        if len(body) < size:
            return
        yield _Record(opcode, body, start)


class ChunkError(ValueError):
    """A chunk that is not decompressed: its claim implausible, its data damaged."""


def implausible(compression: str, compressed: int, claimed: int) -> str | None:
    """Why a chunk's claimed uncompressed size cannot be believed (checked before any byte is
    inflated), or None when it can."""
    if compression not in WORST_RATIO:
        return f"unknown compression {compression!r}"
    if claimed > MAX_CHUNK_BYTES:
        return f"claims {claimed} bytes uncompressed, over the {MAX_CHUNK_BYTES}-byte chunk limit"
    if claimed > WORST_RATIO[compression] * compressed:
        codec, ratio = compression or "uncompressed", WORST_RATIO[compression]
        return f"claims {claimed} bytes from {compressed} {codec} bytes (at most {ratio}x)"
    return None


def _inflate(data: bytes, compression: str, size: int) -> bytes:
    """What ``data`` decompresses to, never more than ``size + 1`` bytes (more: a lie)."""
    if not compression:
        return data
    parts, produced = [], 0
    while data and produced <= size:  # a frame after another, as a multi-frame stream holds
        inflater = zstd.ZstdDecompressor() if compression == "zstd" else LZ4FrameDecompressor()
        parts.append(inflater.decompress(data, max_length=size + 1 - produced))
        produced += len(parts[-1])
        if not inflater.eof:
            if produced <= size:
                raise ChunkError(f"{compression} data cut short after {produced} bytes")
            break
        data = inflater.unused_data
    return b"".join(parts)


def open_chunk(body: bytes) -> bytes:
    """A chunk record's records, decompressed and checked; ChunkError when it is not to be had."""
    _start, _end, size, crc = struct.unpack_from("<QQQI", body, 0)
    compression, offset = _string(body, 28)
    (length,) = struct.unpack_from("<Q", body, offset)
    data = body[offset + 8 : offset + 8 + length]
    if (why := implausible(compression, len(data), size)) is not None:
        raise ChunkError(why)
    try:
        raw = _inflate(data, compression, size)
    except (zstd.ZstdError, RuntimeError, EOFError) as err:  # lz4 raises RuntimeError
        raise ChunkError(f"damaged {compression} data: {err}") from err
    if len(raw) != size:
        raise ChunkError(f"holds {'more' if len(raw) > size else len(raw)} bytes, not the {size} claimed")
    if crc and crc32(raw) != crc:
        raise ChunkError("checksum mismatch")
    return raw


def _chunk_records(raw: bytes) -> Iterator[_Record]:
    """The records inside a decompressed chunk."""
    position = 0
    while position + 9 <= len(raw):
        opcode, record_size = struct.unpack_from("<BQ", raw, position)
        yield _Record(opcode, raw[position + 9 : position + 9 + record_size])
        position += 9 + record_size


def _qos(metadata: bytes) -> list[Qos]:
    """A channel's offered QoS (a latched topic's TRANSIENT_LOCAL); none when it does not parse."""
    try:
        return get_qos(metadata)
    except (ReaderError, KeyError, TypeError, ValueError):
        return []


class SalvagedMcap:
    """The readable prefix of an unfinished ROS 2 MCAP file, with AnyReader's reading API."""

    is2 = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self.schemas: dict[int, tuple[str, str, str]] = {}
        self.channels: dict[int, Connection] = {}
        self.counts: dict[int, int] = {}
        self.start_time = 2**63 - 1
        self.end_time = 0
        self.typestore: Typestore = get_typestore(Stores.EMPTY)
        self.skipped_chunks: dict[int, str] = {}
        """The chunks passed over (file offset: why): a claim not believed, or damaged data."""
        with path.open("rb") as stream:
            if stream.read(8) != MAGIC:
                raise SalvageError(f"{path} is not an MCAP file")
            try:
                self._index(stream)
            except (struct.error, UnicodeDecodeError) as err:
                raise SalvageError(f"{path}: a record does not parse: {err}") from err
        types = {}
        for name, encoding, text in self.schemas.values():
            types.update(
                get_types_from_msg(text, name) if encoding == "ros2msg" else get_types_from_idl(text)
            )
        self.typestore.register(types)
        self.connections = [c._replace(msgcount=self.counts.get(c.id, 0)) for c in self.channels.values()]

    def _index(self, stream: BinaryIO) -> None:
        for record in self._all(stream):
            if record.opcode == SCHEMA:
                self._schema(record.body)
            elif record.opcode == CHANNEL:
                self._channel(record.body)
            elif record.opcode == MESSAGE:
                channel_id, _seq, log_time = struct.unpack_from("<HIQ", record.body, 0)
                self.counts[channel_id] = self.counts.get(channel_id, 0) + 1
                self.start_time = min(self.start_time, log_time)
                self.end_time = max(self.end_time, log_time + 1)

    def _all(self, stream: BinaryIO) -> Iterator[_Record]:
        """Every record, those of the chunks that can be opened in their place."""
        for record in _records(stream):
            if record.opcode != CHUNK:
                yield record
                continue
            try:
                raw = open_chunk(record.body)
            except ChunkError as err:
                self.skipped_chunks[record.offset] = str(err)
                continue
            yield from _chunk_records(raw)

    def _schema(self, body: bytes) -> None:
        (schema_id,) = struct.unpack_from("<H", body, 0)
        name, offset = _string(body, 2)
        encoding, offset = _string(body, offset)
        (size,) = struct.unpack_from("<I", body, offset)
        self.schemas[schema_id] = (name, encoding, body[offset + 4 : offset + 4 + size].decode())

    def _channel(self, body: bytes) -> None:
        channel_id, schema_id = struct.unpack_from("<HH", body, 0)
        topic, offset = _string(body, 4)
        encoding, offset = _string(body, offset)
        (size,) = struct.unpack_from("<I", body, offset)
        qos = _qos(body[offset + 4 : offset + 4 + size])
        schema = self.schemas.get(schema_id)
        if schema is None or encoding != "cdr":
            return  # not a ROS 2 channel: nothing we could deserialise
        name, schema_encoding, text = schema
        fmt = MessageDefinitionFormat.MSG if schema_encoding == "ros2msg" else MessageDefinitionFormat.IDL
        self.channels[channel_id] = Connection(
            channel_id,
            topic,
            name,
            MessageDefinition(fmt, text),
            "",
            0,
            ConnectionExtRosbag2("cdr", qos),
            self,
        )

    def messages(
        self, connections: Collection[Connection] = (), start: int | None = None, stop: int | None = None
    ) -> Iterator[tuple[Connection, int, bytes]]:
        wanted = {c.id: c for c in connections} if connections else self.channels
        with self.path.open("rb") as stream:
            stream.seek(8)
            for record in self._all(stream):
                if record.opcode != MESSAGE:
                    continue
                channel_id, _seq, log_time = struct.unpack_from("<HIQ", record.body, 0)
                if (
                    channel_id in wanted
                    and (start is None or log_time >= start)
                    and (stop is None or log_time < stop)
                ):
                    yield wanted[channel_id], log_time, record.body[22:]

    def deserialize(self, rawdata: bytes, typ: str) -> object:
        return self.typestore.deserialize_cdr(rawdata, typ)

    def close(self) -> None:
        """Nothing stays open between calls."""
