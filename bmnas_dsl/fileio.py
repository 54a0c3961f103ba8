"""Atomic file writes: a failed or interrupted command never leaves a truncated file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write to a temporary file beside `path`, fsync it, then rename it over `path`."""
    target = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
        )
    except OSError as exc:  # report the file the user asked for, not our temporary name
        raise OSError(exc.errno, exc.strerror, str(target)) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        replace_atomic(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_atomic(tmp: str | Path, target: str | Path) -> None:
    """Rename a finished temporary file over `target`, with the mode a new file (or the
    replaced one) would have rather than mkstemp's private 0600."""
    target = Path(target)
    if target.exists():
        os.chmod(tmp, target.stat().st_mode & 0o7777)
    else:
        os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, target)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
