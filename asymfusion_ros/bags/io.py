"""Reading and writing rosbags with ``rosbags``: no ROS install, no rclpy.

Replay and make-bag see bags only through this module, so every failure of the storage
layer (a truncated MCAP, a garbage sqlite3 file, a message that does not deserialise)
reaches them as one error class, :class:`BagReadError`, naming the bag at fault.
A bag that breaks part-way through is read up to the break; the break is kept in
:attr:`BagReader.read_error` so callers report what they skipped instead of crashing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator
from contextlib import suppress
from enum import Enum
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

from rosbags.convert.converter import migrate_message
from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.interfaces import (
    Connection,
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag1 import ReaderError as Reader1Error
from rosbags.rosbag2 import ReaderError as Reader2Error
from rosbags.rosbag2 import StoragePlugin, Writer, WriterError
from rosbags.serde import SerdeError
from rosbags.typesys import Stores, TypesysError, get_typestore
from rosbags.typesys.store import Typestore

from asymfusion_ros.bags.mcap_salvage import SalvagedMcap, SalvageError

_READ_ERRORS = (
    AnyReaderError,
    Reader1Error,
    Reader2Error,
    SerdeError,
    TypesysError,
    sqlite3.DatabaseError,
    SalvageError,
    OSError,
)
"""What reading a bad file raises: rosbags' documented errors (its readers', (de)serialiser's
and type system's), sqlite3's for a damaged .db3 that rosbags passes on, our MCAP salvage's,
and the OS's for a file that cannot be read. Anything else is a bug of ours and surfaces."""

_NO_DURATION = QosTime(sec=0x7FFFFFFF, nsec=0xFFFFFFFF)
LATCHED_QOS = Qos(
    history=QosHistory.KEEP_LAST,
    depth=1,
    reliability=QosReliability.RELIABLE,
    durability=QosDurability.TRANSIENT_LOCAL,
    deadline=_NO_DURATION,
    lifespan=_NO_DURATION,
    liveliness=QosLiveliness.AUTOMATIC,
    liveliness_lease_duration=_NO_DURATION,
    avoid_ros_namespace_conventions=False,
)
"""Offered QoS of latched topics (``segmentation/classes``): ``ros2 bag play`` keeps them latched."""


class BagReadError(RuntimeError):
    """A bag cannot be read, or lacks what was asked of it."""


class BagFormat(Enum):
    """Storage formats of rosbag2 that we write."""

    MCAP = "mcap"
    SQLITE3 = "sqlite3"

    @property
    def plugin(self) -> StoragePlugin:
        return StoragePlugin.MCAP if self is BagFormat.MCAP else StoragePlugin.SQLITE3


@cache
def typestore() -> Typestore:
    """Message classes and CDR (de)serialisers for the messages we write (ROS 2 Humble and later)."""
    return get_typestore(Stores.ROS2_HUMBLE)


class TopicSummary(NamedTuple):
    """One topic of a bag: its message type and how many messages it holds."""

    topic: str
    msgtype: str
    msgcount: int


class BagMessage(NamedTuple):
    """One message as stored: ``log_ns`` is the recording time, not the header stamp."""

    topic: str
    msgtype: str
    log_ns: int
    raw: bytes
    connection: Connection


class BagReader:
    """A ROS 1 or ROS 2 bag (directory, ``.mcap``, ``.db3`` or ``.bag``) opened for reading.

    A context manager; every storage failure becomes :class:`BagReadError`. Iteration
    stops at the first unreadable record and keeps the reason in :attr:`read_error`; an
    MCAP file without its summary (recording cut short) is read up to the cut
    (:attr:`salvaged` says so).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.read_error: str | None = None
        self.salvaged: str | None = None
        self._migrations: dict[str, object] = {}  # rosbags' cache of ROS 1 -> ROS 2 field plans
        """Set when only the complete records of an unfinished MCAP file could be read."""
        self._reader: AnyReader | SalvagedMcap | None = None

    def __enter__(self) -> BagReader:
        if not self.path.exists():
            raise BagReadError(f"bag not found: {self.path}")
        source = self._storage_file() or self.path
        try:
            reader = AnyReader([source], default_typestore=typestore())
            reader.open()
        except FileNotFoundError as err:
            raise BagReadError(f"{self.path} is not a rosbag (directory, .mcap, .db3, .bag): {err}") from err
        except _READ_ERRORS as err:
            self._reader = self._salvage(err)
            return self
        self._reader = reader
        return self

    def _storage_file(self) -> Path | None:
        """The one .mcap/.db3 of a bag directory without metadata.yaml (rosbag2 writes it last)."""
        if not self.path.is_dir() or (self.path / "metadata.yaml").exists():
            return None
        files = [*self.path.glob("*.mcap"), *self.path.glob("*.db3")]
        return files[0] if len(files) == 1 else None

    def _salvage(self, err: BaseException) -> SalvagedMcap:
        """The readable part of an MCAP file that was never closed, else BagReadError for ``err``."""
        reason = f"cannot open bag {self.path}: {err or type(err).__name__}"
        files = sorted(self.path.glob("*.mcap")) if self.path.is_dir() else [self.path]
        if len(files) != 1 or files[0].suffix != ".mcap":
            raise BagReadError(reason) from err
        try:
            salvaged = SalvagedMcap(files[0])
        except _READ_ERRORS as salvage_err:
            raise BagReadError(reason) from salvage_err
        skipped = ""
        if salvaged.skipped_chunks:
            offset, why = next(iter(salvaged.skipped_chunks.items()))
            skipped = (
                f"; passed over {len(salvaged.skipped_chunks)} chunk(s), the first at byte {offset}: {why}"
            )
        if not any(c.msgcount for c in salvaged.connections):
            raise BagReadError(f"{reason}; no complete message in it{skipped}") from err
        count = sum(c.msgcount for c in salvaged.connections)
        self.salvaged = f"{files[0]} is unfinished ({err}); read its {count} complete messages{skipped}"
        return salvaged

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            with suppress(*_READ_ERRORS):  # closing a broken file must not hide why we are here
                reader.close()

    @property
    def reader(self) -> AnyReader | SalvagedMcap:
        if self._reader is None:
            raise BagReadError(f"bag {self.path} is not open")
        return self._reader

    @property
    def is_ros1(self) -> bool:
        return not self.reader.is2

    @property
    def start_ns(self) -> int:
        return int(self.reader.start_time)

    @property
    def end_ns(self) -> int:
        return int(self.reader.end_time)

    def topics(self) -> dict[str, TopicSummary]:
        """Every topic with a single message type, by name."""
        out: dict[str, TopicSummary] = {}
        for conn in self.reader.connections:
            known = out.get(conn.topic)
            count = conn.msgcount + (known.msgcount if known else 0)
            out[conn.topic] = TopicSummary(conn.topic, conn.msgtype, count)
        return dict(sorted(out.items()))

    def connections(self, topics: Collection[str] | None = None) -> list[Connection]:
        return [c for c in self.reader.connections if topics is None or c.topic in topics]

    def messages(
        self, topics: Collection[str] | None = None, start_ns: int | None = None, stop_ns: int | None = None
    ) -> Iterator[BagMessage]:
        """Messages of ``topics`` (all when None) in recording order within [start_ns, stop_ns).

        Stops at the first unreadable record; :attr:`read_error` then says where and why.
        """
        connections = self.connections(topics)
        if not connections:
            return
        last_ns = start_ns
        try:
            stream = self.reader.messages(connections=connections, start=start_ns, stop=stop_ns)
            for conn, log_ns, raw in stream:
                last_ns = log_ns
                yield BagMessage(conn.topic, conn.msgtype, log_ns, raw, conn)
        except _READ_ERRORS as err:
            where = f"after t={last_ns} ns" if last_ns is not None else "at its start"
            self.read_error = f"bag {self.path} unreadable {where}: {err or type(err).__name__}"

    def first(self, topic: str) -> Any | None:
        """The first message of ``topic``, deserialised (None when it has none or it is unreadable)."""
        for message in self.messages([topic]):
            try:
                return self.deserialize(message)
            except BagReadError:
                return None
        return None

    def as_ros2(self, message: BagMessage) -> Any:
        """A ROS 1 bag's message as the ROS 2 (Humble) type of that name, fields matched by name as
        ``rosbags-convert`` does (``K`` -> ``k``, ``seq`` dropped), to copy into a rosbag2.

        Raises BagReadError for a message that does not deserialise or a type ROS 2 lacks.
        """
        ours = typestore()
        if message.msgtype not in ours.types:
            raise BagReadError(f"{message.topic}: {message.msgtype} has no ROS 2 definition to copy it as")
        msg = self.deserialize(message)
        store = self.reader.typestore
        return migrate_message(store, ours, message.msgtype, message.msgtype, self._migrations, msg)

    def deserialize(self, message: BagMessage) -> Any:
        try:
            return self.reader.deserialize(message.raw, message.msgtype)
        except (AnyReaderError, SerdeError) as err:  # AnyReader wraps SerdeError, the salvage does not
            raise BagReadError(f"{message.topic} at t={message.log_ns} ns in {self.path}: {err}") from err


class BagWriter:
    """A rosbag2 being written; topics are added on first use from the message's own type.

    A context manager that always closes the bag, so an interrupted run still leaves a
    readable bag (metadata.yaml and the MCAP summary are written on close).
    """

    def __init__(self, path: str | Path, fmt: BagFormat = BagFormat.MCAP) -> None:
        self.path = Path(path)
        self.format = fmt
        self.counts: dict[str, int] = {}
        try:
            self._writer = Writer(self.path, version=Writer.VERSION_LATEST, storage_plugin=fmt.plugin)
        except WriterError as err:  # the bag exists already
            raise BagReadError(f"cannot create bag {self.path}: {err}") from err
        self._connections: dict[str, Connection] = {}

    def __enter__(self) -> BagWriter:
        try:
            self._writer.open()
        except (WriterError, OSError) as err:
            raise BagReadError(f"cannot create bag {self.path}: {err}") from err
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._writer.close()

    def add_topic(
        self, topic: str, msgtype: str, *, store: Typestore | None = None, latched: bool = False
    ) -> Connection:
        """Register ``topic`` (once); ``store`` gives the definition of a type not in ours."""
        conn = self._connections.get(topic)
        if conn is None:
            qos = [LATCHED_QOS] if latched else []
            conn = self._writer.add_connection(
                topic, msgtype, typestore=store or typestore(), offered_qos_profiles=qos
            )
            self._connections[topic] = conn
            self.counts[topic] = 0
        return conn

    def write(self, topic: str, msg: Any, stamp_ns: int, *, latched: bool = False) -> None:
        """Serialise ``msg`` (a rosbags message object) to CDR and store it at ``stamp_ns``."""
        msgtype = msg.__msgtype__
        conn = self.add_topic(topic, msgtype, latched=latched)
        self.write_raw(conn, typestore().serialize_cdr(msg, msgtype), stamp_ns)

    def copy(self, message: BagMessage, store: Typestore, *, latched: bool = False) -> None:
        """Store a message of another bag as recorded: its CDR, its log time; ``store`` is that
        bag's typestore (the definition of a type not in ours)."""
        conn = self.add_topic(message.topic, message.msgtype, store=store, latched=latched)
        self.write_raw(conn, message.raw, message.log_ns)

    def write_raw(self, conn: Connection, data: bytes | memoryview, stamp_ns: int) -> None:
        """Store already serialised CDR ``data`` (copying a topic from another bag)."""
        self._writer.write(conn, stamp_ns, data)
        self.counts[conn.topic] += 1
