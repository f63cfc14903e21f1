"""The candle column cache (perpbot/data/candle_cache.py): its fingerprint, and when it skips asking SQLite."""

from __future__ import annotations

import numpy as np

from perpbot.data import candle_cache
from perpbot.data.db import Store

START = 1_704_067_200_000
MIN = 60_000


def _rows(symbol: str, n: int, start: int = START) -> list[tuple]:
    t = start + np.arange(n, dtype=np.int64) * MIN
    return [(symbol, "1m", int(x), 1.0, 2.0, 0.5, 1.5, 1.0, 1) for x in t.tolist()]


def _store(path, n: int) -> Store:
    store = Store(path)
    store.migrate()
    store.insert_candle_rows(_rows("BTC", n))
    store.close()  # the last connection checkpoints its log into the file
    return Store(path)


def _count_queries(store: Store) -> list[str]:
    seen: list[str] = []
    store.conn.set_trace_callback(lambda sql: seen.append(sql) if "count(*)" in sql else None)
    return seen


def test_an_unchanged_database_is_not_counted_again(tmp_path, monkeypatch):
    monkeypatch.setattr(candle_cache, "MIN_ROWS", 100)
    store = _store(tmp_path / "a.db", 500)
    counted = _count_queries(store)
    first = candle_cache.load_series(store, "BTC", "1m")
    assert len(counted) == 1 and len(first.t) == 500
    store.close()
    store = Store(tmp_path / "a.db")  # a fresh process on the same, untouched file
    counted = _count_queries(store)
    again = candle_cache.load_series(store, "BTC", "1m", START + 10 * MIN, START + 20 * MIN)
    assert counted == []
    np.testing.assert_array_equal(again.t, first.t[10:20])


def test_rows_added_in_the_middle_are_seen(tmp_path, monkeypatch):
    monkeypatch.setattr(candle_cache, "MIN_ROWS", 100)
    store = Store(tmp_path / "b.db")
    store.migrate()
    store.insert_candle_rows(_rows("BTC", 300))
    store.insert_candle_rows(_rows("BTC", 300, START + 400 * MIN))  # a gap of 100 bars
    store.close()
    store = Store(tmp_path / "b.db")
    assert len(candle_cache.load_series(store, "BTC", "1m").t) == 600
    store.insert_candle_rows(_rows("BTC", 100, START + 300 * MIN))  # the gap filled: same first and last
    counted = _count_queries(store)
    assert len(candle_cache.load_series(store, "BTC", "1m").t) == 700  # the log holds the commit: asked
    assert len(counted) == 1
    store.close()
    store = Store(tmp_path / "b.db")  # checkpointed into the file: its state changed, asked again
    counted = _count_queries(store)
    assert len(candle_cache.load_series(store, "BTC", "1m").t) == 700
    assert len(counted) == 1


def test_a_broken_fingerprint_file_asks_sqlite(tmp_path, monkeypatch):
    monkeypatch.setattr(candle_cache, "MIN_ROWS", 100)
    store = _store(tmp_path / "c.db", 200)
    candle_cache.load_series(store, "BTC", "1m")
    seen = next((tmp_path / ".cache" / "candles").glob("*.seen"))
    seen.write_text("{not json")
    counted = _count_queries(store)
    assert len(candle_cache.load_series(store, "BTC", "1m").t) == 200
    assert len(counted) == 1
