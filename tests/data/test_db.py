"""The SQLite store: schema, idempotent inserts, windows, trades and state."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from perpbot.data.db import Store
from perpbot.data.schema import MIGRATIONS, SCHEMA_VERSION
from perpbot.errors import StorageError
from perpbot.models import Candle, FundingRate, Side, Trade


def _candles(n, start=0, symbol="BTC"):
    return [Candle(symbol, "1m", start + i * 60_000, 100 + i, 101 + i, 99 + i, 100.5 + i, 1.0) for i in range(n)]


def test_insert_is_idempotent_and_windows_are_ordered(store):
    assert store.insert_candles(_candles(100)) == 100
    assert store.insert_candles(_candles(100)) == 0
    window = store.latest_candles("BTC", "1m", 10)
    assert len(window) == 10
    assert np.all(np.diff(window.t) == 60_000)
    assert window.close[-1] == 100.5 + 99
    assert store.latest_candle_time("BTC", "1m") == 99 * 60_000


def test_gaps_are_found(store):
    rows = _candles(10)
    store.insert_candles(rows[:4] + rows[7:])
    assert store.find_gaps("BTC", 60_000, "1m") == [(4 * 60_000, 6 * 60_000)]


def test_migrate_is_idempotent_and_read_only_refuses_writes(store, settings):
    assert store.migrate() == SCHEMA_VERSION == store.conn.execute("PRAGMA user_version").fetchone()[0]
    ro = Store(settings.db_path, read_only=True)
    assert ro.count_candles("BTC", "1m") == 0
    with pytest.raises(Exception):
        ro.insert_candles(_candles(1))


def test_a_v1_database_gains_the_remote_commands_table_and_keeps_its_rows(tmp_path):
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)
    with conn:
        for statement in MIGRATIONS[1]:
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        conn.execute("INSERT INTO bot_state (key, value) VALUES ('k', '1')")
    conn.close()
    store = Store(path)
    try:
        assert store.get_state("k") == 1
        first = store.add_remote_command(10, "telegram", "111", "111", "ann", "/pause", "running")
        store.finish_remote_command(first, "ok", '{"paused": true}', 12)
        store.add_remote_command(20, "telegram", "9", "9", "eve", "/flatten", "unauthorized", "another chat")
        newest, oldest = store.remote_commands()
        assert (newest["command"], newest["result"], newest["finished_ms"]) == ("/flatten", "unauthorized", None)
        assert oldest == {"id": first, "at_ms": 10, "channel": "telegram", "chat_id": "111", "user_id": "111",
                          "user_name": "ann", "command": "/pause", "result": "ok", "detail": '{"paused": true}',
                          "finished_ms": 12}
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    finally:
        store.close()


def test_read_only_missing_db_is_a_clear_error(tmp_path):
    with pytest.raises(StorageError, match="does not exist"):
        Store(tmp_path / "nope.db", read_only=True)


def test_trades_round_trip(store):
    trade = Trade("ETH", Side.SHORT, 2.0, 1000, 3000.0, stop_price=3060.0, entry_cloid="0x" + "1" * 32)
    store.insert_trade(trade)
    assert [t.id for t in store.open_trades()] == [trade.id]
    trade.exit_time, trade.exit_price, trade.pnl, trade.exit_reason = 5000, 2900.0, 199.0, "signal"
    store.update_trade(trade)
    assert store.open_trades() == []
    (closed,) = store.closed_trades(0, 10_000)
    assert closed.side is Side.SHORT and closed.exit_reason == "signal"
    assert store.trade_by_cloid("0x" + "1" * 32).id == trade.id


def test_state_and_funding(store):
    store.set_state("cooldown:BTC", {"until": 123})
    assert store.get_state("cooldown:BTC") == {"until": 123}
    assert store.get_state("missing", 5) == 5
    assert store.insert_funding([FundingRate("BTC", 3_600_000, 0.0001)]) == 1
    times, rates = store.load_funding("BTC")
    assert times.tolist() == [3_600_000] and rates.tolist() == [0.0001]
