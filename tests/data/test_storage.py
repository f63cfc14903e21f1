"""Storage edges: private files, the startup check, faults as StorageError, backups and restore,
and the `perpbot db` commands. A real size-capped filesystem (tmpfs) where the sandbox allows
mounting one; SQLite's own SQLITE_FULL at the store's boundary everywhere."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from fakes.storage_faults import DiskFull, can_mount, fill, remount, small_disk
from perpbot.cli import main
from perpbot.clock import DAY_MS, FakeClock
from perpbot.data import backups, storage
from perpbot.data.db import Store
from perpbot.errors import StorageCorrupt, StorageError, StorageWriteError
from perpbot.ipc.lock import DbLock
from perpbot.models import Side, Trade
from perpbot.ops.storage_watch import StorageWatch

T0 = 1_704_067_200_000


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _filled_store(path: Path, rows: int = 20_000) -> Store:
    store = Store(path)
    store.insert_candle_rows([("BTC", "1m", T0 + i * 60_000, 1.0, 2.0, 0.5, 1.5, 3.0, 1) for i in range(rows)])
    return store


def _corrupt_middle(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(size // 2 - (size // 2) % 4096)
        f.write(os.urandom(16_384))


def _trade() -> Trade:
    return Trade(symbol="BTC", side=Side.LONG, size=0.1, entry_time=T0, entry_price=100.0, mode="paper")


# --- private files ------------------------------------------------------------------------------


def test_the_data_folder_and_every_file_in_it_are_private(tmp_path):
    db = tmp_path / "new" / "deeper" / "bot.db"
    store = _filled_store(db, rows=10)
    store.set_state("k", 1)
    DbLock(db).acquire()
    from perpbot.ops.logging import setup_logging

    setup_logging(file_path=db.parent / "perp-bot.log", stdout="off")
    import logging

    logging.getLogger("t").warning("hello")
    backups.online_backup(db, storage.daily_backup_path(db, T0))
    try:
        assert _mode(tmp_path / "new") == 0o700 and _mode(db.parent) == 0o700
        for name in ("bot.db", "bot.db-wal", "bot.db-shm", "bot.db.lock", "perp-bot.log"):
            assert _mode(db.parent / name) == 0o600, name
        assert _mode(db.parent / "backups") == 0o700
        assert _mode(storage.daily_backup_path(db, T0)) == 0o600
    finally:
        store.close()
        setup_logging(stdout="off")


def test_a_world_readable_database_of_ours_is_tightened(tmp_path):
    db = tmp_path / "bot.db"
    Store(db).close()
    for suffix in ("", "-wal", "-shm"):
        if db.with_name(db.name + suffix).exists():
            os.chmod(db.with_name(db.name + suffix), 0o644)
    Store(db).close()
    assert _mode(db) == 0o600
    assert _mode(tmp_path) == stat.S_IMODE(tmp_path.stat().st_mode)  # a folder we did not create is left alone


def test_a_file_where_the_folder_should_be_is_one_clear_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(StorageError, match=r"afile is a file, not a folder") as info:
        Store(tmp_path / "afile" / "sub" / "bot.db")
    assert "data.db_path" in info.value.hint
    with pytest.raises(StorageError, match="is a folder, not a database file"):
        Store(tmp_path)


# --- the startup check --------------------------------------------------------------------------


def test_a_sound_database_passes_the_startup_check(tmp_path):
    _filled_store(tmp_path / "bot.db").close()
    assert storage.check_storage(tmp_path / "bot.db") == []
    assert storage.quick_check(tmp_path / "bot.db") == []


def test_a_damaged_database_is_refused_with_how_to_restore_the_latest_backup(tmp_path):
    db = tmp_path / "bot.db"
    store = _filled_store(db)
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    with pytest.raises(StorageCorrupt, match="no backup in"):
        _corrupt_copy_and_check(db, tmp_path / "nobackup")
    backup = storage.daily_backup_path(db, T0)
    backups.online_backup(db, backup)
    _corrupt_middle(db)
    with pytest.raises(StorageCorrupt, match=r"is damaged \(quick_check: .+\); perp-bot will not trade on it") as info:
        storage.check_storage(db)
    assert "perpbot db restore" in info.value.hint and str(backup) in info.value.hint


def _corrupt_copy_and_check(db: Path, folder: Path) -> None:
    folder.mkdir()
    copy = folder / db.name
    copy.write_bytes(db.read_bytes())
    _corrupt_middle(copy)
    storage.check_storage(copy)


def test_garbage_instead_of_a_database_is_damage_not_a_traceback(tmp_path):
    db = tmp_path / "bot.db"
    db.write_bytes(os.urandom(8192))
    with pytest.raises(StorageCorrupt, match="file is not a database"):
        storage.check_storage(db)
    with pytest.raises(StorageCorrupt, match="file is not a database"):
        Store(db)


def test_low_free_space_warns_and_too_little_refuses(tmp_path, monkeypatch):
    monkeypatch.setattr(storage, "free_bytes", lambda folder: 100 * 2**20)
    assert storage.check_storage(tmp_path / "bot.db") == [f"low disk space: 100 MB free on {tmp_path}"]
    monkeypatch.setattr(storage, "free_bytes", lambda folder: 5 * 2**20)
    with pytest.raises(StorageWriteError, match=r"only 5.0 MB free on .* \(perp-bot needs 16 MB\)"):
        storage.check_storage(tmp_path / "bot.db")


# --- faults while writing -----------------------------------------------------------------------


def test_a_full_disk_at_the_store_boundary_is_a_storage_write_error(tmp_path, monkeypatch):
    store = _filled_store(tmp_path / "bot.db", rows=10)
    disk = DiskFull(monkeypatch)
    disk.full = True
    try:
        with pytest.raises(StorageWriteError, match=r"the disk holding .*bot.db is full \(database or disk is full\)"):
            store.insert_trade(_trade())
        with pytest.raises(StorageWriteError):
            store.set_state("k", 1)
        assert store.count_candles("BTC", "1m") == 10  # reads still work
        disk.full = False
        store.insert_trade(_trade())  # and the same write works once there is room
        assert len(store.open_trades()) == 1
    finally:
        store.close()


needs_mount = pytest.mark.skipif(not can_mount(), reason="mounting a size-capped tmpfs needs root")


@needs_mount
def test_a_really_full_disk(tmp_path):
    with small_disk(tmp_path / "disk", 24) as disk:
        db = disk / "bot.db"
        store = _filled_store(db, rows=100)
        (warning,) = storage.check_storage(db)
        assert warning.startswith("low disk space: 2") and warning.endswith(f" MB free on {disk}")
        filler = fill(disk)
        with pytest.raises(StorageWriteError, match="the disk is full"):
            storage.check_storage(db)
        with pytest.raises(StorageWriteError, match="is full"):
            store.insert_candle_rows([("ETH", "1m", T0 + i * 60_000, 1.0, 2.0, 0.5, 1.5, 3.0, 1) for i in range(5000)])
        assert store.count_candles("ETH", "1m") == 0 and store.count_candles("BTC", "1m") == 100  # nothing half-written
        filler.unlink()
        store.insert_candle_rows([("ETH", "1m", T0, 1.0, 2.0, 0.5, 1.5, 3.0, 1)])
        store.close()


@needs_mount
def test_a_read_only_database_is_refused_before_trading(tmp_path):
    with small_disk(tmp_path / "disk", 24) as disk:
        db = disk / "bot.db"
        _filled_store(db, rows=10).close()
        remount(disk, "ro")
        try:
            with pytest.raises(StorageWriteError, match=r"cannot write in .*: the filesystem is read-only"):
                storage.check_storage(db)
        finally:
            remount(disk, "rw")


# --- backups and restore ------------------------------------------------------------------------


def test_an_online_backup_is_a_sound_standalone_copy(tmp_path):
    db = tmp_path / "bot.db"
    store = _filled_store(db, rows=500)
    store.insert_trade(_trade())  # still in the WAL: the backup must see it
    size = backups.online_backup(db, tmp_path / "copy.db")
    store.close()
    copy = sqlite3.connect(tmp_path / "copy.db")
    try:
        assert copy.execute("SELECT count(*) FROM candles").fetchone() == (500,)
        assert copy.execute("SELECT count(*) FROM trades").fetchone() == (1,)
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    finally:
        copy.close()
    assert size == (tmp_path / "copy.db").stat().st_size and not (tmp_path / "copy.db.partial").exists()


def test_a_backup_of_a_damaged_database_is_not_kept(tmp_path):
    db = tmp_path / "bot.db"
    store = _filled_store(db)
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    _corrupt_middle(db)
    with pytest.raises(StorageCorrupt, match="backup not made"):
        backups.online_backup(db, tmp_path / "copy.db")
    assert not (tmp_path / "copy.db").exists() and not (tmp_path / "copy.db.partial").exists()


def test_the_watch_backs_up_daily_and_keeps_the_last_n(tmp_path):
    db = tmp_path / "bot.db"
    _filled_store(db, rows=10).close()
    clock, events = FakeClock(T0 + 3_600_000), []
    watch = StorageWatch(db, keep=7, events=lambda e, f: events.append((e, f)), clock=clock)
    done = []
    for _ in range(10):
        done += watch.check()
        done += watch.check()  # a second look the same day does nothing
        clock.advance(DAY_MS / 1000)
    assert done.count("backup") == 10
    kept = storage.backups(db)
    assert [p.name for p in kept] == [f"bot-2024-01-{d:02d}.db" for d in range(4, 11)]
    assert events == []


def test_a_failed_backup_alerts_and_is_tried_again_an_hour_later(tmp_path, monkeypatch):
    db = tmp_path / "bot.db"
    _filled_store(db, rows=10).close()
    clock, events = FakeClock(T0), []
    watch = StorageWatch(db, keep=3, events=lambda e, f: events.append((e, f)), clock=clock)

    def no_room(src, dest, verify=True):
        raise StorageWriteError(f"cannot write in {dest.parent}: the disk is full", "free disk space")

    monkeypatch.setattr("perpbot.ops.storage_watch.online_backup", no_room)
    assert watch.check() == ["backup_failed"]
    assert watch.check() == []  # not again before the hour is up
    text = (f"daily backup of the database failed: cannot write in {db.parent / 'backups'}: the disk is full; "
            "trying again in an hour")
    assert events == [("error", {"text": text, "hint": "free disk space"})]
    monkeypatch.undo()
    clock.advance(3600)
    assert watch.check() == ["backup"]


def test_low_disk_space_alerts_once_and_its_end_once(tmp_path, monkeypatch):
    free = {"bytes": 10 * 2**30}
    monkeypatch.setattr("perpbot.ops.storage_watch.free_bytes", lambda folder: free["bytes"])
    events = []
    watch = StorageWatch(tmp_path / "bot.db", keep=0, events=lambda e, f: events.append(f["text"]))
    assert watch.check() == []
    free["bytes"] = 100 * 2**20
    assert watch.check() == ["low_space"] and watch.check() == []
    free["bytes"] = 300 * 2**20  # above the line but inside the margin: still low
    assert watch.check() == []
    free["bytes"] = 2 * 2**30
    assert watch.check() == ["space_ok"]
    assert events == [f"low disk space: 100 MB free on {tmp_path}; writes stop when it is full",
                      f"disk space ok again: 2048 MB free on {tmp_path}"]


def test_restore_puts_the_backup_in_place_and_keeps_the_old_file(tmp_path):
    db = tmp_path / "bot.db"
    store = _filled_store(db, rows=50)
    store.close()
    backup = storage.daily_backup_path(db, T0)
    backups.online_backup(db, backup)
    store = Store(db)
    store.insert_trade(_trade())  # written after the backup
    store.close()
    aside = backups.restore(db, backup, T0)
    assert aside.name == "bot.db.before-restore-20240101-000000" and aside.exists()
    restored = Store(db)
    try:
        assert restored.count_candles("BTC", "1m") == 50 and restored.open_trades() == []
    finally:
        restored.close()


# --- perpbot db -----------------------------------------------------------------------------------


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(f"data:\n  db_path: {tmp_path / 'data' / 'bot.db'}\n")
    return path


def test_db_check_reports_a_sound_database(config, tmp_path, capsys):
    _filled_store(tmp_path / "data" / "bot.db", rows=10).close()
    assert main(["--config", str(config), "db", "check"]) == 0
    out = capsys.readouterr().out
    assert "integrity  ok (quick_check" in out and "permissions ok (0600)" in out
    assert "backups    0 in" in out and "keeping data.backups = 7" in out


def test_db_check_names_damage_and_the_way_back(config, tmp_path, capsys):
    db = tmp_path / "data" / "bot.db"
    store = _filled_store(db)
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    _corrupt_middle(db)
    assert main(["--config", str(config), "db", "check"]) == 2
    captured = capsys.readouterr()
    assert "integrity  DAMAGED" in captured.out
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("perpbot: error: the database") and "perpbot db restore" in err[0]


def test_db_backup_then_restore(config, tmp_path, capsys):
    db = tmp_path / "data" / "bot.db"
    _filled_store(db, rows=10).close()
    target = tmp_path / "b.db"
    assert main(["--config", str(config), "db", "backup", str(target)]) == 0
    assert f"backed up {db} to {target}" in capsys.readouterr().out
    assert main(["--config", str(config), "db", "backup", str(target)]) == 2  # never overwrites
    assert "already exists" in capsys.readouterr().err
    assert main(["--config", str(config), "db", "restore"]) == 2  # no daily backups yet
    assert "no backups in" in capsys.readouterr().err
    with DbLock(db):
        assert main(["--config", str(config), "db", "restore", str(target)]) == 2
        assert "another perp-bot daemon is already running" in capsys.readouterr().err
    assert main(["--config", str(config), "db", "restore", str(target)]) == 0
    assert f"restored {db} from {target}; the previous database is kept as" in capsys.readouterr().out


@pytest.mark.parametrize("content", [b"root:x:0:0:root:/root:/bin/bash\n", b""], ids=["text", "empty"])
def test_restoring_a_file_that_is_not_a_database_says_so_and_touches_nothing(config, tmp_path, capsys, content):
    db = tmp_path / "data" / "bot.db"
    _filled_store(db, rows=10).close()
    before = db.read_bytes()
    source = tmp_path / "passwd"
    source.write_bytes(content)
    assert main(["--config", str(config), "db", "restore", str(source)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and f"{source} is not a SQLite database" in err[0] and "damaged" not in err[0]
    assert db.read_bytes() == before and not list(db.parent.glob("*before-restore*"))


def test_db_backup_with_an_empty_file_name_writes_nothing(config, tmp_path, capsys, monkeypatch):
    _filled_store(tmp_path / "data" / "bot.db", rows=10).close()
    monkeypatch.chdir(tmp_path)
    assert main(["--config", str(config), "db", "backup", ""]) == 2
    assert "db backup: FILE is empty" in capsys.readouterr().err
    assert not list(tmp_path.glob("bot-*.db"))
