"""Provides the copies an operator relies on: an online backup of the live database (SQLite's
backup API, verified with quick_check before it replaces anything), pruning old daily backups,
and restoring one in place of the database (the old file set moves aside, nothing is deleted).

Where backups live and how they are named is in storage.py (`backup_folder`, `backups`,
`daily_backup_path`), which error messages need too.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from perpbot.data.storage import (
    CORRUPT_CODES,
    backup_folder,
    backups,
    ensure_private_dir,
    fix_hint,
    os_reason,
    private_file,
    quick_check,
    restore_hint,
    translate,
)
from perpbot.errors import StorageCorrupt, StorageError


def online_backup(db_path: Path, dest: Path, verify: bool = True) -> int:
    """Copy the live database to `dest` with SQLite's online backup API (safe while the daemon writes).

    The copy is written beside `dest` first, checked with quick_check (a damaged copy never
    replaces a good one), made 0600, and then renamed into place.

    Returns:
        The size of the copy in bytes.

    Raises:
        StorageError: the source is missing or damaged, or the copy cannot be written.
    """
    if not db_path.is_file():
        raise StorageError(f"no database at {db_path}", "check data.db_path; `perpbot config-check` prints it")
    ensure_private_dir(dest.parent)
    partial = dest.with_name(dest.name + ".partial")
    try:
        _copy(db_path, partial)
        if verify:
            problems = quick_check(partial)
            if problems:
                raise StorageCorrupt(f"the database {db_path} is damaged (quick_check: {problems[0]}); backup not made",
                                     restore_hint(db_path))
        os.replace(partial, dest)
        _sync_dir(dest.parent)
    finally:
        partial.unlink(missing_ok=True)
    return dest.stat().st_size


def _copy(src: Path, dest: Path) -> None:
    dest.unlink(missing_ok=True)
    private_file(dest)
    source = sqlite3.connect(src, timeout=10)
    target = sqlite3.connect(dest, timeout=10)
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    except sqlite3.Error as exc:
        raise _translated_copy(exc, src, dest) from exc
    finally:
        target.close()
        source.close()


def _translated_copy(exc: sqlite3.Error, src: Path, dest: Path) -> Exception:
    primary = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
    if primary in CORRUPT_CODES:
        return translate(exc, src) or exc
    return translate(exc, dest) or StorageError(f"backup to {dest} failed: {exc}")


def _sync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a folder; the rename itself is done
    finally:
        os.close(fd)


def prune_backups(db_path: Path, keep: int) -> list[Path]:
    """Delete the oldest daily backups beyond `keep`; returns what was removed."""
    kept = backups(db_path)
    gone = kept[: max(len(kept) - keep, 0)]
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


def restore(db_path: Path, source: Path, now_ms: int) -> Path:
    """Put `source` (a backup) in place of the database; the old file set moves aside, nothing is deleted.

    The caller holds the database lock (no daemon runs). Returns where the old database went.

    Raises:
        StorageError: the backup is missing or damaged, or a file cannot be moved or written.
    """
    if not source.is_file():
        raise StorageError(f"no backup at {source}", f"list them with `ls {backup_folder(db_path)}`")
    if not _is_sqlite(source):  # an empty file passes quick_check; /etc/passwd is "not a database"
        raise StorageError(f"{source} is not a SQLite database, so not a backup of perp-bot's",
                           f"name a backup file (`ls {backup_folder(db_path)}`); the database was not touched")
    problems = quick_check(source)
    if problems:
        raise StorageCorrupt(f"the backup {source} is damaged (quick_check: {problems[0]}); the database was not "
                             "touched", "pick another backup: `perpbot db restore FILE`")
    stamp = datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc).strftime("%Y%m%d-%H%M%S")
    aside = db_path.with_name(f"{db_path.name}.before-restore-{stamp}")
    try:
        for suffix in ("", "-wal", "-shm"):
            old = db_path.with_name(db_path.name + suffix)
            if old.exists():
                os.replace(old, aside.with_name(aside.name + suffix))
    except OSError as exc:
        raise StorageError(f"cannot move {db_path} aside: {os_reason(exc)}", fix_hint(exc, db_path)) from exc
    _copy(source, db_path.with_name(db_path.name + ".partial"))
    os.replace(db_path.with_name(db_path.name + ".partial"), db_path)
    _sync_dir(db_path.parent)
    return aside


def _is_sqlite(path: Path) -> bool:
    """The file starts with SQLite's header (what every database and backup of ours does)."""
    try:
        with open(path, "rb") as f:
            return f.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False
