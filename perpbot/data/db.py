"""Provides the SQLite store: schema, migrations and every read and write the bot makes.

sqlite-utils is used here and nowhere else. Each thread gets its own connection (the Store
can be shared between threads); WAL lets the dashboard read while the daemon writes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from perpbot.data import storage
from perpbot.data.ledger_store import _TRADE_COLUMNS, LedgerStore, _trade_from_row, _trade_row
from perpbot.data.schema import SCHEMA_VERSION, apply_migrations
from perpbot.errors import StorageError
from perpbot.models import Candle, FundingRate, Trade

if TYPE_CHECKING:
    import sqlite_utils

_REMOTE_COLUMNS = ("id", "at_ms", "channel", "chat_id", "user_id", "user_name", "command", "result", "detail",
                   "finished_ms")


@dataclass(frozen=True, slots=True)
class CandleArrays:
    """A window of candles as float64 columns (t as int64 epoch ms), oldest first."""

    t: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.t)

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[float]]) -> "CandleArrays":
        if not rows:
            empty = np.empty(0)
            return cls(np.empty(0, dtype=np.int64), empty, empty, empty, empty, empty)
        arr = np.asarray(rows, dtype=np.float64)
        return cls(arr[:, 0].astype(np.int64), *(np.ascontiguousarray(arr[:, i]) for i in range(1, 6)))

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(
            {"open": self.open, "high": self.high, "low": self.low, "close": self.close, "volume": self.volume},
            index=pd.to_datetime(self.t, unit="ms", utc=True),
        )


@dataclass(frozen=True, slots=True)
class PredictionSnapshot:
    source: str
    market_id: str
    question: str
    probability: float | None
    status: str  # ok | closed | error | missing
    fetched_at: int
    detail: str = ""


class Store(LedgerStore):
    """The bot's SQLite database.

    Args:
        path: database file (created with its directory unless read_only).
        read_only: open without write access (the dashboard attached to a daemon).
    """

    def __init__(self, path: str | Path, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._local = threading.local()
        if read_only:
            if not self.path.is_file():
                raise StorageError(f"database {self.path} does not exist", "start the daemon or run backfill first")
        else:
            storage.prepare(self.path)  # folder 0700, file 0600 (its -wal and -shm follow)
            self.migrate()

    # --- connections -------------------------------------------------------------------

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    @property
    def db(self) -> "sqlite_utils.Database":
        # Imported here: sqlite_utils pulls in pandas (~0.3 s), which most commands never need.
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    def _connect(self) -> sqlite3.Connection:
        try:
            if self.read_only:
                conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10, check_same_thread=False,
                                       factory=storage.GuardedConnection)
            else:
                conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False,
                                       factory=storage.GuardedConnection)
            conn.db_path = self.path
            if not self.read_only:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
        except StorageError:
            raise
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open database {self.path}: {exc}", "check data.db_path and its permissions") from exc
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def migrate(self) -> int:
        """Bring the schema up to SCHEMA_VERSION (idempotent). Returns the version."""
        conn = self.conn
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"database {self.path} has schema v{version}, newer than this perp-bot (v{SCHEMA_VERSION})",
                "upgrade perp-bot",
            )
        apply_migrations(conn, version)
        return SCHEMA_VERSION

    # --- candles -----------------------------------------------------------------------

    def insert_candles(self, candles: Iterable[Candle]) -> int:
        """Insert candles, ignoring ones already stored. Returns the count of new rows."""
        rows = [(c.symbol, c.interval, c.t, c.open, c.high, c.low, c.close, c.volume, c.trades) for c in candles]
        return self.insert_candle_rows(rows)

    def insert_candle_rows(self, rows: Sequence[tuple[Any, ...]]) -> int:
        """Insert (symbol, interval, t, o, h, l, c, v, n) tuples in one transaction."""
        if not rows:
            return 0
        conn = self.conn
        before = conn.total_changes
        with conn:
            conn.executemany("INSERT OR IGNORE INTO candles VALUES (?,?,?,?,?,?,?,?,?)", rows)
        return conn.total_changes - before

    def latest_candle_time(self, symbol: str, interval: str) -> int | None:
        row = self.conn.execute(
            "SELECT max(t) FROM candles WHERE symbol=? AND interval=?", (symbol, interval)
        ).fetchone()
        return row[0]

    def first_candle_time(self, symbol: str, interval: str) -> int | None:
        row = self.conn.execute(
            "SELECT min(t) FROM candles WHERE symbol=? AND interval=?", (symbol, interval)
        ).fetchone()
        return row[0]

    def count_candles(self, symbol: str, interval: str) -> int:
        return self.conn.execute(
            "SELECT count(*) FROM candles WHERE symbol=? AND interval=?", (symbol, interval)
        ).fetchone()[0]

    def latest_candles(self, symbol: str, interval: str, n: int, before: int | None = None) -> CandleArrays:
        """The latest n candles (with bar open time < before, if given), oldest first."""
        end = before if before is not None else 2**62
        rows = self.conn.execute(
            "SELECT t, open, high, low, close, volume FROM candles WHERE symbol=? AND interval=? AND t<? "
            "ORDER BY t DESC LIMIT ?",
            (symbol, interval, end, n),
        ).fetchall()
        rows.reverse()
        return CandleArrays.from_rows(rows)

    def load_candles(self, symbol: str, interval: str, start: int | None = None, end: int | None = None) -> CandleArrays:
        """Candles with start <= t < end (either bound optional), oldest first."""
        rows = self.conn.execute(
            "SELECT t, open, high, low, close, volume FROM candles WHERE symbol=? AND interval=? AND t>=? AND t<? "
            "ORDER BY t",
            (symbol, interval, start if start is not None else -(2**62), end if end is not None else 2**62),
        ).fetchall()
        return CandleArrays.from_rows(rows)

    def count_candles_between(self, symbol: str, interval: str, start: int, end: int) -> int:
        """Rows of one series with start <= t < end (an index range count)."""
        return self.conn.execute(
            "SELECT count(*) FROM candles WHERE symbol=? AND interval=? AND t>=? AND t<?", (symbol, interval, start, end)
        ).fetchone()[0]

    def count_candles_since(self, symbol: str, interval: str, start: int) -> int:
        """Rows of one series with t >= start (an index range count)."""
        return self.conn.execute(
            "SELECT count(*) FROM candles WHERE symbol=? AND interval=? AND t>=?", (symbol, interval, start)
        ).fetchone()[0]

    def candle_symbols(self) -> list[tuple[str, str, int]]:
        """(symbol, interval, rows) for every stored series."""
        return self.conn.execute(
            "SELECT symbol, interval, count(*) FROM candles GROUP BY symbol, interval ORDER BY symbol, interval"
        ).fetchall()

    def find_gaps(self, symbol: str, interval_ms: int, interval: str, start: int | None = None) -> list[tuple[int, int]]:
        """Missing stretches as (first missing bar, last missing bar) open times."""
        t = self.load_candles(symbol, interval, start=start).t
        if len(t) < 2:
            return []
        steps = np.diff(t)
        idx = np.nonzero(steps > interval_ms)[0]
        return [(int(t[i] + interval_ms), int(t[i + 1] - interval_ms)) for i in idx]

    def candle_gaps(self, symbol: str, interval: str, interval_ms: int, start: int | None = None) -> list[tuple[int, int]]:
        """Like find_gaps, fast enough for a year of 1m bars on every backfill.

        A count against the span answers the usual "no gaps" case from the index alone;
        only a series with holes pays for reading its open times.
        """
        lo = start if start is not None else -(2**62)
        n, first, last = self.conn.execute(
            "SELECT count(*), min(t), max(t) FROM candles WHERE symbol=? AND interval=? AND t>=?", (symbol, interval, lo)
        ).fetchone()
        if n < 2 or (last - first) // interval_ms + 1 == n:
            return []
        cur = self.conn.execute(
            "SELECT t FROM candles WHERE symbol=? AND interval=? AND t>=? ORDER BY t", (symbol, interval, lo)
        )
        t = np.fromiter((row[0] for row in cur), dtype=np.int64, count=n)
        idx = np.nonzero(np.diff(t) > interval_ms)[0]
        return [(int(t[i] + interval_ms), int(t[i + 1] - interval_ms)) for i in idx]

    # --- funding -----------------------------------------------------------------------

    def insert_funding(self, rates: Iterable[FundingRate]) -> int:
        rows = [(r.symbol, r.time, r.rate, r.premium) for r in rates]
        if not rows:
            return 0
        conn = self.conn
        before = conn.total_changes
        with conn:
            conn.executemany("INSERT OR IGNORE INTO funding_rates VALUES (?,?,?,?)", rows)
        return conn.total_changes - before

    def latest_funding_time(self, symbol: str) -> int | None:
        return self.conn.execute("SELECT max(time) FROM funding_rates WHERE symbol=?", (symbol,)).fetchone()[0]

    def first_funding_time(self, symbol: str) -> int | None:
        return self.conn.execute("SELECT min(time) FROM funding_rates WHERE symbol=?", (symbol,)).fetchone()[0]

    def count_funding(self, symbol: str, start: int | None = None) -> int:
        """Funding rows of one symbol (with time >= start, if given)."""
        return self.conn.execute(
            "SELECT count(*) FROM funding_rates WHERE symbol=? AND time>=?",
            (symbol, start if start is not None else -(2**62)),
        ).fetchone()[0]

    def load_funding(self, symbol: str, start: int | None = None, end: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(times int64, hourly rates float64) with start <= time < end."""
        rows = self.conn.execute(
            "SELECT time, rate FROM funding_rates WHERE symbol=? AND time>=? AND time<? ORDER BY time",
            (symbol, start if start is not None else -(2**62), end if end is not None else 2**62),
        ).fetchall()
        if not rows:
            return np.empty(0, dtype=np.int64), np.empty(0)
        arr = np.asarray(rows, dtype=np.float64)
        return arr[:, 0].astype(np.int64), arr[:, 1].copy()

    # --- trades ------------------------------------------------------------------------

    def insert_trade(self, trade: Trade) -> int:
        """Store a new (usually open) trade and set its id. Returns the id."""
        values = _trade_row(trade)
        values.pop("id")
        with self.conn:
            cur = self.conn.execute(
                f"INSERT INTO trades ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                tuple(values.values()),
            )
        trade.id = int(cur.lastrowid or 0)
        return trade.id

    def update_trade(self, trade: Trade) -> None:
        """Write every field of a stored trade (after a fill, a stop move, or the exit)."""
        if trade.id is None:
            raise StorageError("update_trade needs a stored trade (id is None)")
        values = _trade_row(trade)
        trade_id = values.pop("id")
        with self.conn:
            self.conn.execute(
                f"UPDATE trades SET {', '.join(f'{k}=?' for k in values)} WHERE id=?",
                (*values.values(), trade_id),
            )

    def trade_by_cloid(self, cloid: str) -> Trade | None:
        row = self.conn.execute(
            f"SELECT {', '.join(_TRADE_COLUMNS)} FROM trades WHERE entry_cloid=? OR exit_cloid=?", (cloid, cloid)
        ).fetchone()
        return _trade_from_row(row) if row else None

    def open_trades(self, mode: str | None = None) -> list[Trade]:
        sql = f"SELECT {', '.join(_TRADE_COLUMNS)} FROM trades WHERE exit_time IS NULL"
        args: tuple[Any, ...] = ()
        if mode:
            sql += " AND mode=?"
            args = (mode,)
        return [_trade_from_row(r) for r in self.conn.execute(sql + " ORDER BY entry_time", args)]

    def closed_trades(self, start: int | None = None, end: int | None = None, mode: str | None = None) -> list[Trade]:
        """Trades that exited with start <= exit_time < end, oldest first."""
        sql = f"SELECT {', '.join(_TRADE_COLUMNS)} FROM trades WHERE exit_time IS NOT NULL AND exit_time>=? AND exit_time<?"
        args: list[Any] = [start if start is not None else -(2**62), end if end is not None else 2**62]
        if mode:
            sql += " AND mode=?"
            args.append(mode)
        return [_trade_from_row(r) for r in self.conn.execute(sql + " ORDER BY exit_time, id", args)]

    def recent_trades(self, limit: int = 50, mode: str | None = None) -> list[Trade]:
        """The newest trades (open or closed), newest first."""
        sql = f"SELECT {', '.join(_TRADE_COLUMNS)} FROM trades"
        args: list[Any] = []
        if mode:
            sql += " WHERE mode=?"
            args.append(mode)
        sql += " ORDER BY coalesce(exit_time, entry_time) DESC, id DESC LIMIT ?"
        args.append(limit)
        return [_trade_from_row(r) for r in self.conn.execute(sql, args)]

    # --- bot state ---------------------------------------------------------------------

    def get_state(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM bot_state WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_state(self, key: str, value: Any, now_ms: int = 0) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT INTO bot_state (key, value, updated_at) VALUES (?,?,?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at",
                (key, json.dumps(value), now_ms),
            )

    def delete_state(self, key: str) -> None:
        with self.conn:
            self.conn.execute("DELETE FROM bot_state WHERE key=?", (key,))

    # --- remote commands (audit) ------------------------------------------------------

    def add_remote_command(self, at_ms: int, channel: str, chat_id: str, user_id: str, user_name: str,
                           command: str, result: str, detail: str = "") -> int:
        """Record one remote command as it arrives (result "running" until finish_remote_command). Returns its id."""
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO remote_commands (at_ms, channel, chat_id, user_id, user_name, command, result, detail) "
                "VALUES (?,?,?,?,?,?,?,?)", (at_ms, channel, chat_id, user_id, user_name, command, result, detail))
        return int(cur.lastrowid or 0)

    def finish_remote_command(self, record_id: int, result: str, detail: str, finished_ms: int) -> None:
        with self.conn:
            self.conn.execute("UPDATE remote_commands SET result=?, detail=?, finished_ms=? WHERE id=?",
                              (result, detail, finished_ms, record_id))

    def remote_commands(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest audit records, newest first."""
        rows = self.conn.execute(f"SELECT {', '.join(_REMOTE_COLUMNS)} FROM remote_commands ORDER BY id DESC LIMIT ?",
                                 (limit,))
        return [dict(zip(_REMOTE_COLUMNS, row)) for row in rows]

    # --- prediction snapshots ----------------------------------------------------------

    def insert_snapshots(self, snapshots: Iterable[PredictionSnapshot]) -> int:
        rows = [
            (s.source, s.market_id, s.question, s.probability, s.status, s.fetched_at, s.detail) for s in snapshots
        ]
        with self.conn:
            self.conn.executemany(
                "INSERT INTO prediction_snapshots (source, market_id, question, probability, status, fetched_at, detail) "
                "VALUES (?,?,?,?,?,?,?)",
                rows,
            )
        return len(rows)

    def latest_snapshots(self, at_ms: int | None = None, only_ok: bool = False) -> list[PredictionSnapshot]:
        """The newest snapshot per (source, market) fetched at or before at_ms."""
        at = at_ms if at_ms is not None else 2**62
        status = "AND status='ok'" if only_ok else ""
        rows = self.conn.execute(
            f"""SELECT source, market_id, question, probability, status, max(fetched_at), detail
                FROM prediction_snapshots WHERE fetched_at<=? {status}
                GROUP BY source, market_id ORDER BY source, market_id""",
            (at,),
        ).fetchall()
        return [PredictionSnapshot(*r) for r in rows]

    def snapshots_between(self, start: int, end: int) -> list[PredictionSnapshot]:
        rows = self.conn.execute(
            "SELECT source, market_id, question, probability, status, fetched_at, detail FROM prediction_snapshots "
            "WHERE fetched_at>=? AND fetched_at<? ORDER BY fetched_at, id",
            (start, end),
        ).fetchall()
        return [PredictionSnapshot(*r) for r in rows]
