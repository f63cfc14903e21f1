"""Schema migrations: v1 databases with the rows earlier versions could write are repaired, atomically."""

from __future__ import annotations

import sqlite3

import pytest

from perpbot import crashpoints
from perpbot.data import schema
from perpbot.data.db import Store


def _v1_database(path) -> None:
    """A database as perp-bot v1 left it, holding today's bad rows."""
    conn = sqlite3.connect(path)
    for statement in schema.MIGRATIONS[1]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    rows = [
        # mode, symbol, side, size, entry_time, entry_price, exit_time, pnl, fees, entry_cloid, exit_cloid
        ("live", "ETH", "long", 2.0, 1_000, 100.0, 5_000, 3.0, 0.2, "0x7062" + "a" * 28, ""),  # an empty exit cloid
        ("live", "SOL", "short", 10.0, 2_000, 50.0, None, None, 0.1, "0x7062" + "b" * 28, None),  # a doubled position:
        ("live", "SOL", "short", 10.0, 3_000, 52.0, None, None, 0.1, "0x7062" + "c" * 28, None),  # two open trades
        ("paper", "SOL", "long", 1.0, 2_500, 51.0, None, None, 0.0, "0x7062" + "d" * 28, None),  # another mode: kept
    ]
    conn.executemany("INSERT INTO trades (mode, symbol, side, size, entry_time, entry_price, exit_time, pnl, fees, "
                     "entry_cloid, exit_cloid) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.commit()
    conn.close()


def test_a_v1_database_with_bad_rows_is_repaired(tmp_path):
    path = tmp_path / "old.db"
    _v1_database(path)
    store = Store(path)
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    [eth] = store.closed_trades(mode="live")
    assert eth.exit_cloid is None and eth.pnl == 3.0
    [sol] = store.open_trades(mode="live")
    assert (sol.size, sol.entry_price, sol.fees) == (20.0, pytest.approx(51.0), pytest.approx(0.2))
    [merged] = store.recent_trades(10, mode="merged")
    assert merged.entry_reason.endswith(f"(merged into #{sol.id})") and merged.pnl == 0
    assert len(store.open_trades(mode="paper")) == 1
    # No more uniqueness on exit cloids (an exit may take several orders); entry cloids stay unique.
    store.conn.execute("UPDATE trades SET exit_cloid='0x1' WHERE id IN (1, 2)")
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("UPDATE trades SET entry_cloid=? WHERE id=3", (sol.entry_cloid,))
    assert store.migrate() == schema.SCHEMA_VERSION  # idempotent
    store.close()


class Killed(BaseException):
    pass


def test_a_migration_killed_midway_leaves_the_old_version_and_runs_again(tmp_path):
    path = tmp_path / "old.db"
    _v1_database(path)
    seen = []

    def die(name: str) -> None:
        seen.append(name)
        if name == "migration":
            raise Killed

    crashpoints.arm(die)
    try:
        with pytest.raises(Killed):
            Store(path)
    finally:
        crashpoints.arm(None)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM trades").fetchone()[0] == 4  # nothing half-done
    conn.close()
    store = Store(path)
    assert len(store.open_trades(mode="live")) == 1 and store.fill_totals() == (0, 0.0, 0.0)
    store.close()
