"""One daemon per database: the flock, its release, and the kernel freeing a killed holder's lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from perpbot.ipc.lock import DbLock
from perpbot.ipc.server import DaemonRunning

_HOLDER = """
import sys, time
from pathlib import Path
from perpbot.ipc.lock import DbLock
DbLock(Path(sys.argv[1])).acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_second_lock_on_same_db_refuses(tmp_path: Path) -> None:
    db = tmp_path / "perp_bot.db"
    with DbLock(db) as first:
        assert first.path == tmp_path / "perp_bot.db.lock"
        with pytest.raises(DaemonRunning) as info:
            DbLock(db).acquire()
        assert info.value.message == f"another perp-bot daemon is already running (database {db}, pid {os.getpid()})"
        assert "data.db_path" in info.value.hint
    DbLock(tmp_path / "other.db").acquire()  # other databases are independent


def test_release_allows_reacquire(tmp_path: Path) -> None:
    db = tmp_path / "perp_bot.db"
    lock = DbLock(db)
    lock.acquire()
    lock.release()
    lock.release()  # idempotent
    with DbLock(db) as again:
        assert again.held
    lock.acquire()
    assert lock.held
    lock.release()


def test_killed_holders_lock_is_freed(tmp_path: Path) -> None:
    db = tmp_path / "perp_bot.db"
    child = subprocess.Popen([sys.executable, "-c", _HOLDER, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        with pytest.raises(DaemonRunning, match=f"pid {child.pid}"):
            DbLock(db).acquire()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=5)
        if child.stdout is not None:
            child.stdout.close()
    with DbLock(db) as lock:  # no cleanup by the dead process was needed
        assert lock.held
        assert (tmp_path / "perp_bot.db.lock").read_text() == f"{os.getpid()}\n"
