"""An output bag whose writer died (its process killed, out of memory): made readable, or removed.

rosbags writes ``metadata.yaml`` and the MCAP summary when a bag is closed, so a writer killed
before leaves a folder that no reader opens whole (and that the next run would refuse to
overwrite). What :class:`BagReader` can still read of it (every complete MCAP record, or the
committed rows of a .db3) is copied into a new bag of the same format, which then takes the
old one's place; when nothing can be read, the folder is removed.
"""

from __future__ import annotations

import shutil
from enum import Enum
from pathlib import Path
from typing import NamedTuple

from rosbags.interfaces import QosDurability

from asymfusion_ros.bags.io import BagFormat, BagReader, BagReadError, BagWriter


class Recovery(str, Enum):
    """What became of a dead writer's bag."""

    ABSENT = "absent"
    """It had not been created yet."""
    CLOSED = "closed"
    """It had been closed before the writer died: readable as it is."""
    COMPLETED = "completed"
    """Rewritten, readable, with every message that could be read."""
    REMOVED = "removed"
    """Nothing in it could be read."""


class Recovered(NamedTuple):
    recovery: Recovery
    messages: int | None = None
    """Messages in the completed bag (None unless ``COMPLETED``)."""

    def describe(self, path: Path) -> str:
        """One clause for a report: what became of the bag at ``path``."""
        if self.recovery is Recovery.COMPLETED:
            return f"its output bag {path} was completed with the {self.messages} messages written before"
        if self.recovery is Recovery.REMOVED:
            return f"its output bag {path} was removed: nothing in it could be read"
        if self.recovery is Recovery.CLOSED:
            return f"its output bag {path} had been closed and is readable"
        return "no output bag had been started"


def _latched(connection: object) -> bool:
    profiles = getattr(getattr(connection, "ext", None), "offered_qos_profiles", None) or []
    return any(qos.durability is QosDurability.TRANSIENT_LOCAL for qos in profiles)


def _copy(source_path: Path, target_path: Path, fmt: BagFormat) -> int:
    """Every readable message of ``source_path`` into a new bag; BagReadError when none is."""
    count = 0
    with BagReader(source_path) as source, BagWriter(target_path, fmt) as target:
        for message in source.messages():
            target.copy(message, source.reader.typestore, latched=_latched(message.connection))
            count += 1
    if count == 0:
        raise BagReadError(f"no message of {source_path} could be read")
    return count


def recover_bag(path: Path, fmt: BagFormat) -> Recovered:
    """Make the bag a dead writer left at ``path`` readable, or remove it."""
    if not path.exists():
        return Recovered(Recovery.ABSENT)
    if (path / "metadata.yaml").is_file():
        return Recovered(Recovery.CLOSED)
    work = path.with_name(f".{path.name}.recovering")
    shutil.rmtree(work, ignore_errors=True)
    try:
        count = _copy(path, work / path.name, fmt)
    except BagReadError:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(path)
        return Recovered(Recovery.REMOVED)
    shutil.rmtree(path)
    (work / path.name).rename(path)
    work.rmdir()
    return Recovered(Recovery.COMPLETED, count)
