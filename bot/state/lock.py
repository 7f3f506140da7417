"""One process per state file: an flock on a sibling "<state>.lock" file that names its holder.

The kernel drops the lock when the holder exits, however it exits (kill -9 included), so a
stale lock file never keeps the next start-up out.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

__all__ = ["ProcessLock", "lock_path"]


def lock_path(state: Path) -> Path:
    return state.with_name(state.name + ".lock")


class ProcessLock:
    """Held from `acquire()` until `release()` (or the process ends)."""

    def __init__(self, state: Path) -> None:
        self.path = lock_path(state)
        self._fd: int | None = None

    def acquire(self) -> int | None:
        """Takes the lock; returns None, or the pid of the process holding it (0: unknown)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            return int(holder) if holder.isdigit() else 0
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return None

    def release(self) -> None:
        # The file stays: unlinking it would race with a process that has just opened it and
        # would then lock an inode nobody else can see.
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None
