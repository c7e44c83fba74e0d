"""File helpers shared by the export and the engine cache: atomic writes and content hashes."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one, never a part.

    Temporary file in the same folder, fsync, ``os.replace``. The temporary file is created
    with mode 0666, which the kernel reduces by the umask (the usual permissions), not
    mkstemp's 0600: bundles and engines are read by other users (a ROS node's service
    account, a colcon install). The umask is never changed, as reading it with ``os.umask``
    would do for every thread of the process.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
