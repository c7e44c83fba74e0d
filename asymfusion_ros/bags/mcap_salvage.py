"""Reading what is there in an MCAP file that was never closed (recorder killed, power lost).

Such a file has no summary and no footer, so ``rosbags`` refuses it whole. Its records are
still a plain sequence (``opcode u8, length u64, body``) up to the point of the cut; this
module walks them and stops at the first incomplete one. It offers the small part of
``rosbags.highlevel.AnyReader`` that :class:`asymfusion_ros.bags.BagReader` uses.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

from rosbags.interfaces import (
    Connection,
    ConnectionExtRosbag2,
    MessageDefinition,
    MessageDefinitionFormat,
    Qos,
)
from rosbags.rosbag2 import ReaderError
from rosbags.rosbag2.storage_mcap import decompress, get_qos
from rosbags.typesys import Stores, get_types_from_idl, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

MAGIC = b"\x89MCAP0\r\n"
SCHEMA, CHANNEL, MESSAGE, CHUNK = 0x03, 0x04, 0x05, 0x06


class SalvageError(ValueError):
    """Not an MCAP file, not one written by ROS 2, or a record that does not parse."""


class _Record(NamedTuple):
    opcode: int
    body: bytes


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
        if size > end - stream.tell():
            return
        body = stream.read(size)
        if len(body) < size:
            return
        yield _Record(opcode, body)


def _chunk_records(body: bytes) -> Iterator[_Record]:
    """The records inside a chunk (decompressed; a damaged chunk yields nothing)."""
    _start, _end, size, crc = struct.unpack_from("<QQQI", body, 0)
    compression, offset = _string(body, 28)
    (length,) = struct.unpack_from("<Q", body, offset)
    data = body[offset + 8 : offset + 8 + length]
    try:
        raw = decompress(data, compression, size, crc)
    except Exception:  # a damaged chunk (any decompressor error) is where the salvage stops
        return
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
        for record in _records(stream):
            if record.opcode == CHUNK:
                yield from _chunk_records(record.body)
            else:
                yield record

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
