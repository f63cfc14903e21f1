"""Provides the one-daemon-per-database lock: an flock on `<db>.lock` beside the database.

flock is released by the kernel when the holder dies (even kill -9), so a crashed daemon never
leaves a lock behind; the pid written into the file is only for the error message. The file
itself is never deleted: unlinking a lock file lets two processes lock two different inodes.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

from perpbot.data.storage import ensure_private_dir, fix_hint, os_reason
from perpbot.errors import StorageError
from perpbot.ipc.server import DaemonRunning

log = logging.getLogger(__name__)


class DbLock:
    """Exclusive, non-blocking ownership of one SQLite database by one daemon.

    Args:
        db_path: the database; the lock file is `<db dir>/<db name>.lock`.
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        self.path = self.db_path.with_name(self.db_path.name + ".lock")
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or fail at once.

        Raises:
            DaemonRunning: another process (or another DbLock here) holds it.
            StorageError: the lock file cannot be created.
        """
        if self._fd is not None:
            return
        ensure_private_dir(self.path.parent)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)  # O_CLOEXEC by default: children don't inherit it
        except OSError as exc:
            raise StorageError(f"cannot create the lock file {self.path}: {os_reason(exc)}",
                               fix_hint(exc, self.path)) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # EWOULDBLOCK: held by someone else
            holder = _read_pid(fd)
            os.close(fd)
            who = f", pid {holder}" if holder else ""
            raise DaemonRunning(f"another perp-bot daemon is already running (database {self.db_path}{who})") from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as exc:  # a full disk: the lock is held, only the pid for error messages is missing
            log.warning("lock_pid_not_written", extra={"path": str(self.path), "error": os_reason(exc)})
        self._fd = fd
        log.debug("database lock taken", extra={"path": str(self.path)})

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # no stale pid for the next error message
        except OSError:
            pass  # _read_pid then shows an old pid at worst; the kernel drops the flock regardless
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> DbLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
        return int(text) if text else None
    except (OSError, ValueError):  # a half-written or foreign file: the message just omits the pid
        return None
