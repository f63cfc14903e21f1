"""Provides a column cache of stored candle series, for loads of hundreds of thousands of rows.

Reading a year of 1m candles row by row through sqlite3 costs about a second of Python
object churn; the backtest target is two seconds for the whole run. So a full series is
also kept as one `.npy` file next to the database (`<db dir>/.cache/candles/`), and reused
while the database still agrees with it: same row count, first and last bar time (an
index-only query). Candle rows are only ever added (INSERT OR IGNORE), never rewritten, so
that fingerprint changes whenever the series does. The cache is derived data: deleting it is
always safe, and a cache that cannot be written (read-only directory) is simply skipped.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Protocol

import numpy as np

from perpbot.data.frames import CandleArrays

log = logging.getLogger(__name__)

DTYPE = np.dtype([("t", "<i8"), ("open", "<f8"), ("high", "<f8"), ("low", "<f8"), ("close", "<f8"), ("volume", "<f8")])
MIN_ROWS = 50_000  # below this SQLite is fast enough and a file is not worth it


class SeriesSource(Protocol):
    """The store the cache sits beside (data/db.py's Store): its file and connection."""

    path: Path

    @property
    def conn(self) -> sqlite3.Connection: ...

    def load_candles(self, symbol: str, interval: str, start: int | None = None,
                     end: int | None = None) -> CandleArrays: ...


def load_series(store: SeriesSource, symbol: str, interval: str, start: int | None = None,
                end: int | None = None) -> CandleArrays:
    """Candles with start <= t < end, oldest first: from the cache when valid, else SQLite."""
    n, first, last = store.conn.execute(
        "SELECT count(*), min(t), max(t) FROM candles WHERE symbol=? AND interval=?", (symbol, interval)
    ).fetchone()
    if n < MIN_ROWS:
        return store.load_candles(symbol, interval, start, end)
    path = _path(store, symbol, interval)
    arr = _read(path, n, first, last)
    if arr is None:
        arr = _fetch(store, symbol, interval, n)
        _write(path, arr)
    lo = 0 if start is None else int(np.searchsorted(arr["t"], start, side="left"))
    hi = len(arr) if end is None else int(np.searchsorted(arr["t"], end, side="left"))
    part = arr[lo:hi]
    return CandleArrays(*(np.ascontiguousarray(part[name]) for name in DTYPE.names))


def _path(store: SeriesSource, symbol: str, interval: str) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in f"{symbol}-{interval}")
    return Path(store.path).parent / ".cache" / "candles" / f"{Path(store.path).stem}-{safe}.npy"


def _read(path: Path, n: int, first: int, last: int) -> np.ndarray | None:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if arr.dtype != DTYPE or len(arr) != n or int(arr["t"][0]) != first or int(arr["t"][-1]) != last:
        return None
    return arr


def _fetch(store: SeriesSource, symbol: str, interval: str, n: int) -> np.ndarray:
    cur = store.conn.execute(
        "SELECT t, open, high, low, close, volume FROM candles WHERE symbol=? AND interval=? ORDER BY t",
        (symbol, interval),
    )
    return np.fromiter(cur, dtype=DTYPE, count=n)


def _write(path: Path, arr: np.ndarray) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            np.save(fh, arr, allow_pickle=False)
        os.replace(tmp, path)  # atomic: a reader sees the old file or the new one
    except OSError as exc:
        log.debug("candle cache not written", extra={"path": str(path), "error": str(exc)})
        tmp.unlink(missing_ok=True)
