"""Provides the database commands: `perpbot db check`, `perpbot db backup FILE` and
`perpbot db restore [FILE]` (the storage work itself is in data/storage.py)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from perpbot.cli.args import UsageError, command, load_config
from perpbot.config import Settings
from perpbot.errors import StorageCorrupt, StorageError


def _add_db(sub: Any) -> None:
    p = sub.add_parser(
        "db",
        help="check the database, back it up, or restore a backup",
        description="check: quick_check the database and report its size, free space, permissions and backups. "
        "backup FILE: a consistent copy with SQLite's online backup API, safe while the daemon runs. "
        "restore [FILE]: with the daemon stopped, move the database aside and put a backup in its place "
        "(default: the latest daily backup in <db dir>/backups).",
    )
    actions = p.add_subparsers(dest="db_action", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="quick_check the database; report size, free space, backups")
    backup = actions.add_parser("backup", help="copy the database to FILE (online: the daemon may keep running)")
    backup.add_argument("file", metavar="FILE", help="where the copy goes (a new file, or a folder)")
    restore = actions.add_parser("restore", help="put a backup in place of the database (stop the daemon first)")
    restore.add_argument("file", nargs="?", metavar="FILE", help="the backup (default: the latest daily backup)")
    for action in (check, backup, restore):
        action.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key")


@command(_add_db)
def _run_db(args: argparse.Namespace) -> int:
    settings = load_config(args)
    if getattr(args, "file", None) is not None and not args.file.strip():
        # Path("") is the current folder: `db backup ""` would write a copy there
        raise UsageError(f"db {args.db_action}: FILE is empty", f"name a file, e.g. `perpbot db {args.db_action} "
                         "~/perp-bot-backup.db`" if args.db_action == "backup" else "name a backup file, or none")
    if args.db_action == "check":
        return run_check(settings)
    if args.db_action == "backup":
        return run_backup(settings, Path(args.file).expanduser())
    return run_restore(settings, Path(args.file).expanduser() if args.file else None)


def run_check(settings: Settings) -> int:
    """Print what an operator wants to know about the database; StorageCorrupt (exit 2) when damaged."""
    from perpbot.data import storage

    db = settings.db_path
    if not db.is_file():
        raise StorageError(f"no database at {db}", "check data.db_path; `perpbot config-check` prints it")
    started = time.perf_counter()
    problems = storage.quick_check(db)
    took = time.perf_counter() - started
    size = sum(p.stat().st_size for p in (db, _beside(db, "-wal")) if p.exists())
    print(f"database   {db} ({size / 2**20:,.1f} MB with its WAL)")
    print(f"integrity  {'DAMAGED' if problems else 'ok'} (quick_check, {took:.2f} s)")
    for line in problems:
        print(f"           {line}")
    print(f"free space {storage.free_bytes(db.parent) / 2**30:,.2f} GB on {db.parent}")
    loose = [p.name for p in (db, _beside(db, "-wal"), _beside(db, "-shm"), settings.log_path)
             if p.exists() and p.stat().st_mode & 0o077]
    print(f"permissions {'readable by others: ' + ', '.join(loose) + ' (chmod 600 them)' if loose else 'ok (0600)'}")
    kept = storage.backups(db)
    latest = f", latest {kept[-1].name}" if kept else ""
    print(f"backups    {len(kept)} in {storage.backup_folder(db)}{latest} "
          f"(keeping data.backups = {settings.data.backups})")
    if problems:
        raise StorageCorrupt(f"the database {db} is damaged", storage.restore_hint(db))
    return 0


def run_backup(settings: Settings, dest: Path) -> int:
    """`db backup FILE`: an online copy to a new file (or into a folder, named by the time)."""
    from perpbot.clock import WallClock
    from perpbot.data import backups

    db = settings.db_path
    if dest.is_dir():
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(WallClock().now_ms() / 1000))
        dest = dest / f"{db.stem}-{stamp}.db"
    if not dest.parent.is_dir():
        raise StorageError(f"the folder {dest.parent} does not exist", "create it first, or give another FILE")
    if dest.exists():
        raise StorageError(f"{dest} already exists", "give a new file name (a backup never overwrites a file)")
    started = time.perf_counter()
    size = backups.online_backup(db, dest)
    print(f"backed up {db} to {dest} ({size / 2**20:,.1f} MB, quick_check ok) in {time.perf_counter() - started:.2f} s")
    return 0


def run_restore(settings: Settings, source: Path | None) -> int:
    """`db restore [FILE]`: with no daemon running, the backup replaces the database (the old one is kept)."""
    from perpbot.clock import WallClock
    from perpbot.data import backups, storage
    from perpbot.ipc.lock import DbLock

    db = settings.db_path
    if source is None:
        kept = storage.backups(db)
        if not kept:
            raise StorageError(f"no backups in {storage.backup_folder(db)}", "name one: `perpbot db restore FILE`")
        source = kept[-1]
    if source.resolve() == db.resolve():
        raise StorageError(f"{source} is the database itself", "name a backup file")
    with DbLock(db):  # refuses while a daemon or dashboard trades on this database
        aside = backups.restore(db, source, WallClock().now_ms())
    kept_as = f"; the previous database is kept as {aside}" if aside.exists() else ""
    print(f"restored {db} from {source}{kept_as}")
    return 0


def _beside(db: Path, suffix: str) -> Path:
    return db.with_name(db.name + suffix)
