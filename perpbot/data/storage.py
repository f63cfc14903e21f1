"""Provides the storage edges an operator meets: SQLite faults as clear errors, private files and
folders, the startup check (writable, free space, quick_check), and where backups live (the
copying itself is in backups.py).

db.py owns the schema and the queries; its connections are `GuardedConnection`s from here, so a
full disk, a read-only file or a damaged page surfaces as a `StorageWriteError` or
`StorageCorrupt` naming the file and the fix, never as a raw sqlite3 traceback.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from perpbot.errors import StorageCorrupt, StorageError, StorageWriteError

log = logging.getLogger(__name__)

MIN_FREE_BYTES = 16 * 2**20
"""Below this much free space the daemon refuses to start: a day of candles and trades must fit."""
LOW_FREE_BYTES = 256 * 2**20
"""Below this much free space the daemon warns (at start, and by alert while it runs)."""
BACKUP_DIR = "backups"
_PROBE_NAME = ".perpbot-write-probe"

# Primary SQLite result codes (the low byte of the extended code).
_FULL, _IOERR, _READONLY, _BUSY, _LOCKED, _CANTOPEN, _PERM, _NOMEM, _PROTOCOL = 13, 10, 8, 5, 6, 14, 3, 7, 15
CORRUPT_CODES = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB


# --- sqlite errors as our errors --------------------------------------------------------------


def translate(exc: sqlite3.Error, path: Path | str) -> StorageError | None:
    """The StorageError an operator can act on for a SQLite fault, or None for a program error."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    primary = code & 0xFF
    folder = Path(path).parent
    if primary in CORRUPT_CODES:
        return StorageCorrupt(f"the database {path} is damaged ({exc})", restore_hint(Path(path)))
    if primary == _FULL:
        return StorageWriteError(f"the disk holding {path} is full ({exc})",
                                 f"free space on {folder}; perp-bot retries the write")
    if primary == _READONLY:
        return StorageWriteError(f"the database {path} is read-only ({exc})",
                                 "make the file and its folder writable by this user, on a read-write filesystem")
    if primary in (_CANTOPEN, _PERM):
        return StorageWriteError(f"cannot open the database {path} ({exc})",
                                 f"make {path} and its folder readable and writable by this user (SQLite needs "
                                 "the folder writable even to read a WAL database)")
    if primary in (_IOERR, _NOMEM, _PROTOCOL):
        return StorageWriteError(f"cannot write the database {path} ({exc})",
                                 f"check the disk and free space on {folder} (and `dmesg` for I/O errors)")
    if primary in (_BUSY, _LOCKED):
        return StorageWriteError(f"the database {path} is locked by another process ({exc})",
                                 "stop the other program writing to it")
    return None


class GuardedConnection(sqlite3.Connection):
    """A sqlite3 connection whose storage faults are raised as StorageError (with the file named).

    Set `db_path` after connecting. Only the statement calls and the commits are guarded: a fault
    reading rows from a cursor (rare: a damaged page) still raises sqlite3.DatabaseError, which
    the CLI's boundary reports in one line.
    """

    db_path: Path | str = "database"

    def execute(self, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        try:
            return super().execute(*args)
        except sqlite3.Error as exc:
            raise _translated(exc, self.db_path) from exc

    def executemany(self, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        try:
            return super().executemany(*args)
        except sqlite3.Error as exc:
            raise _translated(exc, self.db_path) from exc

    def commit(self) -> None:
        try:
            super().commit()
        except sqlite3.Error as exc:
            raise _translated(exc, self.db_path) from exc

    def __exit__(self, *exc_info: Any) -> Any:  # `with conn:` commits here (in C, not through commit())
        try:
            return super().__exit__(*exc_info)
        except sqlite3.Error as exc:
            raise _translated(exc, self.db_path) from exc


def _translated(exc: sqlite3.Error, path: Path | str) -> Exception:
    return translate(exc, path) or exc


# --- private folders and files ------------------------------------------------------------------


def ensure_private_dir(folder: Path) -> None:
    """Create `folder` and any missing parents with mode 0700 (existing folders are left alone).

    Raises:
        StorageError: a file stands where a folder should be, or the folder cannot be created.
    """
    missing: list[Path] = []
    here = folder
    while not here.exists() and not here.is_symlink() and here != here.parent:
        missing.append(here)
        here = here.parent
    if not here.is_dir():
        raise StorageError(f"cannot use {folder}: {here} is a file, not a folder",
                           "move that file, or set data.db_path to a path inside a folder")
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue  # made meanwhile (another process): fine if it is a folder
        except OSError as exc:
            raise StorageError(f"cannot create the folder {path}: {os_reason(exc)}", fix_hint(exc, path)) from exc


def private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 if missing; tighten an existing file of ours to 0600.

    SQLite gives the -wal and -shm files the database file's mode, so they follow.

    Raises:
        StorageError: the file cannot be created.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
    except IsADirectoryError:
        raise StorageError(f"{path} is a folder, not a database file", "set data.db_path to a file name") from None
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) and path.is_file():
            return  # an existing file we may not write: the write check names the problem
        raise StorageError(f"cannot create {path}: {os_reason(exc)}", fix_hint(exc, path)) from exc
    tighten(path)


def tighten(path: Path) -> None:
    """Drop group and other permissions from a file we own (a database or log from an older version)."""
    try:
        st = path.stat()
        if st.st_uid == os.getuid() and st.st_mode & 0o077:
            os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)
            log.info("file_permissions_tightened", extra={"path": str(path)})
    except OSError as exc:  # a read-only filesystem: the write check will say so
        log.debug("cannot tighten permissions", extra={"path": str(path), "error": str(exc)})


def prepare(db_path: Path) -> None:
    """The folder (0700) and the database file (0600) exist before SQLite opens it."""
    ensure_private_dir(db_path.parent)
    private_file(db_path)
    for suffix in ("-wal", "-shm"):
        extra = db_path.with_name(db_path.name + suffix)
        if extra.exists():
            tighten(extra)


def os_reason(exc: OSError) -> str:
    """A short reason for an OSError ("the disk is full", "permission denied", ...)."""
    reasons = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
               errno.EROFS: "the filesystem is read-only", errno.EACCES: "permission denied",
               errno.EPERM: "permission denied", errno.ENOTDIR: "a part of the path is a file, not a folder",
               errno.EEXIST: "a file is in the way"}
    return reasons.get(exc.errno or 0, exc.strerror or str(exc))


def fix_hint(exc: OSError, path: Path) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"free disk space on {path.parent}"
    if exc.errno == errno.EROFS:
        return "mount the filesystem read-write, or set data.db_path on a writable disk"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"make {path.parent} writable by this user, or set data.db_path elsewhere"
    return "check data.db_path"


# --- the startup check ----------------------------------------------------------------------------


def free_bytes(folder: Path) -> int:
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


def check_writable(folder: Path) -> None:
    """Write, sync and remove a small file in `folder`: the disk takes writes now.

    Raises:
        StorageWriteError: naming why (disk full, read-only, permission denied).
    """
    probe = folder / f"{_PROBE_NAME}-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"\0" * 65536)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise StorageWriteError(f"cannot write in {folder}: {os_reason(exc)}", fix_hint(exc, probe)) from exc
    finally:
        try:
            probe.unlink(missing_ok=True)
        except OSError:
            pass  # a read-only folder: the probe was never made, and the error above says why


def check_space(folder: Path, minimum: int = MIN_FREE_BYTES) -> str | None:
    """A warning when free space is low; None when ample.

    Raises:
        StorageWriteError: less than `minimum` bytes are free.
    """
    free = free_bytes(folder)
    if free < minimum:
        raise StorageWriteError(f"only {free / 2**20:.1f} MB free on {folder} "
                                f"(perp-bot needs {minimum / 2**20:.0f} MB)",
                                f"free disk space on {folder}")
    if free < LOW_FREE_BYTES:
        return f"low disk space: {free / 2**20:.0f} MB free on {folder}"
    return None


def quick_check(db_path: Path, limit: int = 10) -> list[str]:
    """`PRAGMA quick_check`: [] when the file is sound, else what SQLite found (at most `limit` lines).

    Raises:
        StorageError: the file cannot be opened at all (permissions, a read-only folder), which
            says nothing about its state.
    """
    rows = None
    for uri in (f"file:{db_path}", f"file:{db_path}?mode=ro"):  # read-only media: the second may still open
        conn = sqlite3.connect(uri, uri=True, timeout=10)
        try:
            rows = conn.execute(f"PRAGMA quick_check({int(limit)})").fetchall()
            break
        except sqlite3.DatabaseError as exc:
            primary = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
            if primary in CORRUPT_CODES:  # "file is not a database", a damaged header or schema
                return [str(exc)]
            error = exc
        finally:
            conn.close()
    if rows is None:
        raise StorageError(f"cannot open the database {db_path} to check it ({error})",
                           f"check the permissions of {db_path} and {db_path.parent}")
    found = [line.strip() for r in rows for line in str(r[0]).splitlines()]
    found = [line for line in found if line and not line.startswith("***")]  # "*** in database main ***"
    return [] if found == ["ok"] else found[:limit]


def refuse_if_corrupt(db_path: Path) -> None:
    """Raises StorageCorrupt (with how to restore the latest backup) when quick_check finds damage."""
    if not db_path.is_file() or db_path.stat().st_size == 0:
        return
    problems = quick_check(db_path)
    if problems:
        raise StorageCorrupt(f"the database {db_path} is damaged (quick_check: {problems[0]}); perp-bot will not "
                             "trade on it", restore_hint(db_path))


def check_storage(db_path: Path) -> list[str]:
    """Before trading: the folder exists privately, takes a write, has room, and the file is sound.

    Returns:
        Warnings (low disk space).

    Raises:
        StorageError: the folder cannot be made or written, the disk is (nearly) full.
        StorageCorrupt: quick_check found damage.
    """
    ensure_private_dir(db_path.parent)
    check_writable(db_path.parent)
    warning = check_space(db_path.parent)
    refuse_if_corrupt(db_path)
    return [warning] if warning else []


# --- where backups live --------------------------------------------------------------------------------------


def backup_folder(db_path: Path) -> Path:
    return db_path.parent / BACKUP_DIR


def backups(db_path: Path) -> list[Path]:
    """The daily backups of this database, oldest first."""
    folder = backup_folder(db_path)
    if not folder.is_dir():
        return []
    return sorted(folder.glob(f"{db_path.stem}-????-??-??.db"))


def daily_backup_path(db_path: Path, now_ms: int) -> Path:
    day = datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")
    return backup_folder(db_path) / f"{db_path.stem}-{day}.db"


def restore_hint(db_path: Path) -> str:
    kept = backups(db_path)
    if kept:
        return f"stop perp-bot, then `perpbot db restore` puts back the latest backup ({kept[-1]})"
    return (f"no backup in {backup_folder(db_path)}: restore one you made with `perpbot db restore FILE`, "
            f"or move {db_path.name} away to start a fresh database (the trade history stays in the old file)")
