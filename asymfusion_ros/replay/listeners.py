"""Which addresses a process and its descendants listen on, read from Linux's ``/proc``.

The local ``replay --ray`` run starts a Ray of its own (GCS, raylet, agents, workers: all
children of this process) and must open nothing beyond loopback; it checks that here after
Ray has started, and the tests watch a whole run with the same function. A socket listens
when it is a TCP socket in state LISTEN or an unconnected UDP socket. Each process's table is
read from ``/proc/PID/net``, so a process in another network namespace is read in its own.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

PROC = Path("/proc")
_TCP_LISTEN = "0A"
_UDP_UNCONNECTED = "07"
TABLES = ("tcp", "tcp6", "udp", "udp6")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Listener(NamedTuple):
    """One listening socket of process ``pid``."""

    pid: int
    protocol: str
    """``tcp`` or ``udp``."""
    address: IPAddress
    port: int
    process: str = "?"
    """The process's command name (``raylet``, ``gcs_server``)."""

    @property
    def loopback(self) -> bool:
        """Reachable from this machine only: 127.0.0.0/8, ::1, or 127.x mapped into IPv6."""
        address = self.address
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return address.is_loopback

    def __str__(self) -> str:
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.protocol} {host}:{self.port} (pid {self.pid}, {self.process})"


def parse_address(field: str) -> tuple[IPAddress, int]:
    """``0100007F:1F90`` (or a 32-digit IPv6 address) as /proc/net writes it: 32-bit words in
    the machine's byte order (little-endian on every platform ROS 2 supports), port big-endian."""
    host, port = field.split(":")
    words = bytes.fromhex(host)
    raw = b"".join(words[i : i + 4][::-1] for i in range(0, len(words), 4))
    return ipaddress.ip_address(raw), int(port, 16)


def parse_table(text: str, protocol: str) -> dict[int, tuple[IPAddress, int]]:
    """The listening sockets of one ``/proc/net/{tcp,tcp6,udp,udp6}`` table, by inode."""
    wanted = _TCP_LISTEN if protocol == "tcp" else _UDP_UNCONNECTED
    found = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != wanted:
            continue
        if protocol == "udp" and parse_address(fields[2])[1] != 0:
            continue  # a connected UDP socket only talks to its peer
        found[int(fields[9])] = parse_address(fields[1])
    return found


def children(pids: Iterable[int]) -> set[int]:
    """``pids`` and every process below them (walking each process's parent id)."""
    parents: dict[int, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it ended while we looked
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree = set(pids)
    while grown := {pid for pid, parent in parents.items() if parent in tree and pid not in tree}:
        tree |= grown
    return tree


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        for fd in (PROC / str(pid) / "fd").iterdir():
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    except OSError:
        pass  # ended, or a file descriptor closed while we looked
    return inodes


def _tables(pid: int) -> dict[int, tuple[str, IPAddress, int]]:
    sockets = {}
    for table in TABLES:
        protocol = table.rstrip("6")
        try:
            text = (PROC / str(pid) / "net" / table).read_text()
        except OSError:
            continue  # no IPv6 in this kernel, or the process ended
        for inode, (address, port) in parse_table(text, protocol).items():
            sockets[inode] = (protocol, address, port)
    return sockets


def listeners(root: int) -> list[Listener]:
    """Every socket that process ``root`` or a descendant of it listens on."""
    found = []
    by_namespace: dict[str, dict[int, tuple[str, IPAddress, int]]] = {}
    for pid in sorted(children([root])):
        inodes = _socket_inodes(pid)
        if not inodes:
            continue
        try:
            namespace = os.readlink(PROC / str(pid) / "ns" / "net")
        except OSError:
            continue
        if namespace not in by_namespace:
            by_namespace[namespace] = _tables(pid)
        table = by_namespace[namespace]
        name = process_name(pid)
        found += [Listener(pid, *table[inode], name) for inode in sorted(inodes & table.keys())]
    return found


def process_name(pid: int) -> str:
    """The process's command name (``raylet``, ``gcs_server``), or ``?`` once it has ended."""
    try:
        return (PROC / str(pid) / "comm").read_text().strip()
    except OSError:
        return "?"


def can_inspect() -> bool:
    """This system has the ``/proc`` this module reads (Linux)."""
    return (PROC / "self" / "net" / "tcp").is_file() and (PROC / "self" / "fd").is_dir()
