"""Storage faults for tests: a size-capped filesystem when the sandbox allows one, else SQLite's own
"database or disk is full" raised at the store's boundary.

`small_disk(path, mb)` mounts a tmpfs of `mb` megabytes (root only, and only where mounting is
allowed); `DiskFull` makes every write statement of the store fail with a genuine SQLITE_FULL
error, produced by a real SQLite database capped with `PRAGMA max_page_count`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from perpbot.data import storage

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "PRAGMA USER_VERSION =")


def genuine_full_error() -> sqlite3.OperationalError:
    """The error SQLite raises when a database cannot grow: a 1-page database asked to grow."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE TABLE t (x BLOB)")
        conn.execute("PRAGMA max_page_count = 2")
        conn.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
    except sqlite3.OperationalError as exc:
        assert exc.sqlite_errorname == "SQLITE_FULL"
        return exc
    finally:
        conn.close()
    raise AssertionError("a capped database took a write")


class DiskFull:
    """While `full`, the store's write statements fail as on a full disk; reads still work."""

    def __init__(self, monkeypatch: Any) -> None:
        self.full = False
        self.writes_refused = 0
        for name in ("execute", "executemany"):
            monkeypatch.setattr(storage.GuardedConnection, name, self._guard(getattr(storage.GuardedConnection, name)))

    def _guard(self, original: Any) -> Any:
        def run(conn: storage.GuardedConnection, sql: str, *args: Any) -> Any:
            if self.full and sql.lstrip().upper().startswith(_WRITES):
                self.writes_refused += 1
                error = genuine_full_error()
                raise storage.translate(error, conn.db_path) from error
            return original(conn, sql, *args)

        return run


def can_mount() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0 and subprocess.run(
        ["which", "mount"], capture_output=True).returncode == 0


@contextlib.contextmanager
def small_disk(path: Path, mb: int) -> Iterator[Path]:
    """A tmpfs of `mb` MB mounted at `path` (raises OSError where mounting is not allowed)."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={mb}m,mode=0700", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise OSError(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(folder: Path) -> Path:
    """Write a filler file until the filesystem is full; returns it (delete it to free the space)."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1_048_576, 65_536, 4096, 512):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                continue  # ENOSPC at this size: top up with smaller writes
    finally:
        os.close(fd)
    return filler


def remount(path: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True, capture_output=True)
