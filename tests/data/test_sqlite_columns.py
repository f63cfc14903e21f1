"""The compiled SQLite reader (perpbot/data/sqlite_columns.py) and the cache's first loads that use it:
the same columns as sqlite3's rows, bit for bit, or None (and sqlite3 reads) when it cannot."""

from __future__ import annotations

import json

import numpy as np
import pytest

from perpbot.data import candle_cache, sqlite_columns
from perpbot.data.db import Store

START = 1_704_067_200_000
MIN = 60_000

pytestmark = pytest.mark.skipif(not sqlite_columns.available(), reason="SQLite is not a shared library here")


def _store(path, symbols=("BTC",), n: int = 700, seed: int = 5) -> Store:
    rng = np.random.default_rng(seed)
    store = Store(path)
    store.migrate()
    for sym in symbols:
        t = START + np.arange(n, dtype=np.int64) * MIN
        prices = rng.lognormal(0.0, 2.0, (n, 4))
        prices[::7] = np.round(prices[::7])  # integral reals: SQLite stores these as integers
        prices[3, :] = [1e-300, 5e-324, 1.7e308, 0.0]  # extremes and a subnormal
        volume = np.where(np.arange(n) % 3 == 0, 1.0, rng.random(n))
        store.insert_candle_rows([(sym, "1m", int(ti), *map(float, p), float(v), 1)
                                  for ti, p, v in zip(t.tolist(), prices, volume)])
    store.close()  # checkpointed: the file alone holds the rows
    return Store(path)


def _rows_as_columns(store: Store, symbol: str) -> np.ndarray:
    return candle_cache._columns(candle_cache._fetch(store, symbol, "1m"))


def test_the_columns_are_sqlite3s_bit_for_bit(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_columns, "MIN_CAPACITY", 64)  # grows ten times on the way
    store = _store(tmp_path / "a.db")
    cols = sqlite_columns.read_candles(store.path, "BTC", "1m")
    assert cols is not None and cols.flags.c_contiguous
    np.testing.assert_array_equal(cols, _rows_as_columns(store, "BTC"))


def test_an_unknown_series_reads_empty_and_a_missing_file_reads_none(tmp_path):
    store = _store(tmp_path / "b.db")
    assert sqlite_columns.read_candles(store.path, "ETH", "1m").shape == (6, 0)
    assert sqlite_columns.read_candles(tmp_path / "none.db", "BTC", "1m") is None


def test_a_value_of_another_type_is_left_to_sqlite3(tmp_path):
    store = _store(tmp_path / "c.db")
    with store.conn:
        store.conn.execute("UPDATE candles SET high='n/a' WHERE symbol='BTC' AND t=?", (START + 5 * MIN,))
    assert sqlite_columns.read_candles(store.path, "BTC", "1m") is None


def test_prefetch_writes_what_one_by_one_loads_write(tmp_path, monkeypatch):
    monkeypatch.setattr(candle_cache, "MIN_ROWS", 100)
    (tmp_path / "one").mkdir()
    (tmp_path / "both").mkdir()
    one = _store(tmp_path / "one" / "m.db", ("BTC", "ETH"))
    both = _store(tmp_path / "both" / "m.db", ("BTC", "ETH"))
    for sym in ("BTC", "ETH"):
        candle_cache.load_series(one, sym, "1m")
    candle_cache.prefetch(both, [("BTC", "1m"), ("ETH", "1m"), ("SOL", "1m")])  # SOL: no rows, left alone
    written = sorted(p.name for p in (tmp_path / "both" / ".cache" / "candles").iterdir())
    assert written == sorted(p.name for p in (tmp_path / "one" / ".cache" / "candles").iterdir())
    assert len(written) == 4
    for name in written:  # the columns, and the fingerprints (beside each file's own identity)
        a, b = ((tmp_path / d / ".cache" / "candles" / name).read_bytes() for d in ("both", "one"))
        assert a == b if name.endswith(".npy") else json.loads(a)["series"] == json.loads(b)["series"]
    for sym in ("BTC", "ETH"):
        got = candle_cache.load_series(both, sym, "1m", START + 10 * MIN, START + 20 * MIN)
        np.testing.assert_array_equal(got.close, _rows_as_columns(both, sym)[4, 10:20].view(np.float64))


def test_a_first_load_below_the_cache_size_reads_through_sqlite3(tmp_path, monkeypatch):
    monkeypatch.setattr(candle_cache, "MIN_ROWS", 1_000)
    store = _store(tmp_path / "d.db", n=999)
    candle_cache.prefetch(store, [("BTC", "1m")])
    got = candle_cache.load_series(store, "BTC", "1m")
    assert len(got) == 999 and not (tmp_path / ".cache").exists()
