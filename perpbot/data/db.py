"""Provides the SQLite store: schema, migrations and every read and write the bot makes.

sqlite-utils is used here and nowhere else. Each thread gets its own connection (the Store
can be shared between threads); WAL lets the dashboard read while the daemon writes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any


from perpbot.data import storage
from perpbot.data.ledger_store import _TRADE_COLUMNS, LedgerStore, _trade_from_row, _trade_row
from perpbot.data.market_store import MarketStore
from perpbot.data.schema import SCHEMA_VERSION, apply_migrations
from perpbot.errors import StorageError
from perpbot.models import Trade

if TYPE_CHECKING:
    import sqlite_utils

_REMOTE_COLUMNS = ("id", "at_ms", "channel", "chat_id", "user_id", "user_name", "command", "result", "detail",
                   "finished_ms")


class Store(MarketStore, LedgerStore):
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
