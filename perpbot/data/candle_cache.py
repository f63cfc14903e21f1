"""Provides a column cache of stored candle series, for loads of hundreds of thousands of rows.

Reading a year of 1m candles row by row through sqlite3 costs about a second of Python
object churn; the backtest target is two seconds for the whole run. So a full series is
also kept as one `.npy` file next to the database (`<db dir>/.cache/candles/`), and reused
while the database still agrees with it: same row count, first and last bar time (an
query over the series' rows). Candle rows are only ever added (INSERT OR IGNORE), never
rewritten, so that fingerprint changes whenever the series does. The cache is derived data:
deleting it is always safe, and a cache that cannot be written (read-only directory) is simply
skipped.

That query scans the series (~150 ms for a year of 1m, per symbol: a fresh three-symbol backtest
spent half a second on it), so a `.seen` file beside each cache file keeps the fingerprint with
the database file's identity, size and modification time at the check. While the database file
is unchanged and its write-ahead log holds nothing (no commit since the last checkpoint: every
commit grows the log, every checkpoint rewrites the file), nothing was written, and the
fingerprint is taken from there; anything else asks SQLite again.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import numpy as np

from perpbot.clock import interval_ms
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
    path = _path(store, symbol, interval)
    stat = _db_stat(Path(store.path))
    seen = _seen(path, stat)
    if seen is None and not path.exists():  # a first load: no cache to check, the rows give the fingerprint
        cols = _first_load(store, symbol, interval, stat)
        if cols is None:
            return store.load_candles(symbol, interval, start, end)
    else:
        if seen is None:
            n, first, last = store.conn.execute(
                "SELECT count(*), min(t), max(t) FROM candles WHERE symbol=? AND interval=?", (symbol, interval)
            ).fetchone()
        else:
            n, first, last = seen
        if n < MIN_ROWS:
            return store.load_candles(symbol, interval, start, end)
        cols = _read(path, n, first, last)
        if seen is None and stat is not None:
            _remember(path, stat, (n, first, last))
        if cols is None:
            cols = _columns(_fetch(store, symbol, interval, n))
            _write(path, cols)
    t = cols[0]
    lo = 0 if start is None else int(np.searchsorted(t, start, side="left"))
    hi = len(t) if end is None else int(np.searchsorted(t, end, side="left"))
    prices = cols[1:, lo:hi].view(np.float64)  # each row a contiguous column: no copies
    return CandleArrays(t[lo:hi], *prices)


def prefetch(store: SeriesSource, series: list[tuple[str, str]]) -> None:
    """Write the missing cache files of several (symbol, interval) series side by side: a first
    multi-symbol backtest reads each symbol-year on a thread of its own (sqlite_columns.py, without
    the GIL), then `load_series` finds them cached. Series of fewer than MIN_ROWS rows, or without
    the compiled reader, are left to `load_series`."""
    stat = _db_stat(Path(store.path))  # before reading: a write meanwhile changes it, and a later load asks again
    big = [(sym, itv) for sym, itv in dict.fromkeys(series)
           if not _path(store, sym, itv).exists() and _at_least(store, sym, itv, MIN_ROWS)]
    if len(big) < 2:
        return
    from perpbot.data import sqlite_columns

    if not sqlite_columns.available():
        return
    jobs = [(sym, itv, 0, sqlite_columns.allocate(_expected(store, sym, itv))) for sym, itv in big]
    with ThreadPoolExecutor(len(big)) as pool:  # all at once: two rounds on two cores left one core idle
        read = pool.map(lambda job: sqlite_columns.read_candles(store.path, *job), jobs)
        for (sym, itv), cols in zip(big, read):  # each written as it comes, then let go
            if cols is not None and cols.shape[1]:
                _keep(_path(store, sym, itv), stat, cols)


def _first_load(store: SeriesSource, symbol: str, interval: str, stat: list[int] | None) -> np.ndarray | None:
    """A series never cached: its columns, read in one statement (one snapshot, so its row count and
    first and last bar are the fingerprint), cached; None below MIN_ROWS rows (SQLite serves those)."""
    if not _at_least(store, symbol, interval, MIN_ROWS):
        return None
    cols = _read_compiled(store, symbol, interval)
    if cols is None:
        cols = _columns(_fetch(store, symbol, interval))
    if cols.shape[1] < MIN_ROWS:  # rows deleted meanwhile (a repair): as before, SQLite serves them
        return None
    _keep(_path(store, symbol, interval), stat, cols)
    return cols


def _read_compiled(store: SeriesSource, symbol: str, interval: str) -> np.ndarray | None:
    from perpbot.data import sqlite_columns

    if not sqlite_columns.available():
        return None
    return sqlite_columns.read_candles(store.path, symbol, interval, _expected(store, symbol, interval))


def _expected(store: SeriesSource, symbol: str, interval: str) -> int:
    """The rows of a series without gaps from its first bar to its last (two index seeks): the usual
    count of a stored series, so its columns are allocated once."""
    # Two subqueries: SQLite seeks the index for a lone min() or max(), but scans the series for both in one.
    first, last = store.conn.execute("SELECT (SELECT min(t) FROM candles WHERE symbol=?1 AND interval=?2), "
                                     "(SELECT max(t) FROM candles WHERE symbol=?1 AND interval=?2)",
                                     (symbol, interval)).fetchone()
    try:
        return (last - first) // interval_ms(interval) + 1 if first is not None else 0
    except ValueError:  # an interval of another spelling: allocate as we go
        return 0


def _at_least(store: SeriesSource, symbol: str, interval: str, rows: int) -> bool:
    """Does the series hold `rows` rows or more? Counts no further (~10 ms at 50,000, not ~90 ms a year)."""
    (n,) = store.conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM candles WHERE symbol=? AND interval=? LIMIT ?)", (symbol, interval, rows)
    ).fetchone()
    return n >= rows


def _keep(path: Path, stat: list[int] | None, cols: np.ndarray) -> None:
    if stat is not None:
        _remember(path, stat, (cols.shape[1], int(cols[0, 0]), int(cols[0, -1])))
    _write(path, cols)


def _columns(rows: np.ndarray) -> np.ndarray:
    """The rows (DTYPE) as one int64 block of six contiguous columns: t, then the prices' bits."""
    cols = np.empty((len(DTYPE.names), len(rows)), dtype=np.int64)
    cols[0] = rows["t"]
    for i, name in enumerate(DTYPE.names[1:], start=1):
        cols[i] = rows[name].view(np.int64)
    return cols


def _path(store: SeriesSource, symbol: str, interval: str) -> Path:
    # ".cols": column by column (earlier files held rows, 48 bytes each, and pulling a column out
    # of them cost ~70 ms a symbol-year; they are left alone and rebuilt under the new name).
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in f"{symbol}-{interval}")
    return Path(store.path).parent / ".cache" / "candles" / f"{Path(store.path).stem}-{safe}.cols.npy"


def _db_stat(db: Path) -> list[int] | None:
    """The database file's identity, size and modification time, or None while its log holds
    commits not yet checkpointed into it (or when it cannot be read)."""
    try:
        st = db.stat()
        wal = Path(f"{db}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            return None
    except OSError:
        return None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def _seen(path: Path, stat: list[int] | None) -> tuple[int, int, int] | None:
    """The fingerprint checked against the database when it was last in this very state, or None."""
    if stat is None:
        return None
    try:
        raw = json.loads(path.with_suffix(".seen").read_text())
        if raw["db"] == stat:
            n, first, last = (int(v) for v in raw["series"])
            return n, first, last
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _remember(path: Path, stat: list[int], series: tuple[int, int, int]) -> None:
    """Record the fingerprint with the database state it was read in (taken before the query: a
    write in between changes the state, and the next load asks again)."""
    seen = path.with_suffix(".seen")
    tmp = seen.with_name(f"{seen.name}.{os.getpid()}.tmp")
    try:
        seen.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"db": stat, "series": list(series)}))
        os.replace(tmp, seen)
    except OSError as exc:
        log.debug("candle cache fingerprint not written", extra={"path": str(seen), "error": str(exc)})
        tmp.unlink(missing_ok=True)


def _read(path: Path, n: int, first: int, last: int) -> np.ndarray | None:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if (arr.dtype != np.int64 or arr.shape != (len(DTYPE.names), n) or int(arr[0, 0]) != first
            or int(arr[0, -1]) != last):
        return None
    return arr


def _fetch(store: SeriesSource, symbol: str, interval: str, n: int = -1) -> np.ndarray:
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
