"""Provides the database schema: forward migrations by `PRAGMA user_version` (Store.migrate applies them).

v1: candles, funding, prediction snapshots, trades, bot_state.
v2: the live ledger by fill identity. `fills` holds every exchange fill the bot has booked, keyed by
    the exchange's trade id (`tid`), with the trade(s) it changed; trades lose their UNIQUE
    constraints on cloids (a manual trade has none, an exit may take several orders), keeping one
    unique index on non-empty entry cloids. The rows earlier versions could leave behind are
    repaired: empty cloids become NULL, and several open trades on one symbol (a doubled
    position) are folded into the first (sizes, fees and funding added, the entry price their
    VWAP); the folded rows are kept with mode `merged` for the record.
v3: `remote_commands`, the audit trail of commands sent from Telegram.
v4: `maker_orders`, one row per maker order (issue 19) of paper and live trading: placed, then
    filled (with its fee), cancelled or expired, for `compare`'s fill rate and `review`'s fee split.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from perpbot import crashpoints

Step = str | Callable[[sqlite3.Connection], None]

_TRADES_V2 = """CREATE TABLE trades (
    id INTEGER PRIMARY KEY, mode TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
    size REAL NOT NULL, entry_time INTEGER NOT NULL, entry_price REAL NOT NULL,
    exit_time INTEGER, exit_price REAL, stop_price REAL,
    fees REAL NOT NULL DEFAULT 0, funding REAL NOT NULL DEFAULT 0, pnl REAL,
    exit_reason TEXT, entry_reason TEXT NOT NULL DEFAULT '',
    expected_entry_price REAL, expected_exit_price REAL,
    entry_cloid TEXT, exit_cloid TEXT)"""
_COLUMNS = ("id, mode, symbol, side, size, entry_time, entry_price, exit_time, exit_price, stop_price, fees, funding, "
            "pnl, exit_reason, entry_reason, expected_entry_price, expected_exit_price, entry_cloid, exit_cloid")
_FILLS = """CREATE TABLE IF NOT EXISTS fills (
    tid INTEGER PRIMARY KEY, hash TEXT NOT NULL, oid INTEGER NOT NULL, cloid TEXT, symbol TEXT NOT NULL,
    time INTEGER NOT NULL, px REAL NOT NULL, sz REAL NOT NULL, side TEXT NOT NULL, dir TEXT NOT NULL,
    start_position REAL NOT NULL, closed_pnl REAL NOT NULL, fee REAL NOT NULL,
    trade_id INTEGER, leg TEXT, leg_sz REAL NOT NULL DEFAULT 0,
    opened_id INTEGER, opened_sz REAL NOT NULL DEFAULT 0, source TEXT NOT NULL DEFAULT '')"""


def repair_live_ledger(conn: sqlite3.Connection) -> None:
    """v2: rebuild trades without cloid uniqueness, repair today's bad rows, add the fills table."""
    conn.execute("ALTER TABLE trades RENAME TO trades_v1")
    conn.execute(_TRADES_V2)
    conn.execute(f"INSERT INTO trades ({_COLUMNS}) SELECT {_COLUMNS} FROM trades_v1")
    conn.execute("DROP TABLE trades_v1")
    conn.execute("UPDATE trades SET entry_cloid=NULL WHERE entry_cloid=''")
    conn.execute("UPDATE trades SET exit_cloid=NULL WHERE exit_cloid=''")
    _fold_doubled_trades(conn)
    for statement in (
        "CREATE INDEX IF NOT EXISTS idx_trades_entry ON trades (entry_time)",
        "CREATE INDEX IF NOT EXISTS idx_trades_exit ON trades (exit_time)",
        "CREATE INDEX IF NOT EXISTS idx_trades_open ON trades (mode, exit_time, symbol)",
        "CREATE UNIQUE INDEX IF NOT EXISTS idx_trades_entry_cloid ON trades (entry_cloid) WHERE entry_cloid IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS idx_trades_exit_cloid ON trades (exit_cloid)",
        _FILLS,
        "CREATE INDEX IF NOT EXISTS idx_fills_trade ON fills (trade_id)",
        "CREATE INDEX IF NOT EXISTS idx_fills_opened ON fills (opened_id)",
        "CREATE INDEX IF NOT EXISTS idx_fills_time ON fills (time)",
    ):
        conn.execute(statement)


def _fold_doubled_trades(conn: sqlite3.Connection) -> None:
    """Fold every open trade after the first on a (mode, symbol) into the first one."""
    doubled = conn.execute("SELECT mode, symbol FROM trades WHERE exit_time IS NULL AND mode != 'merged' "
                           "GROUP BY mode, symbol HAVING count(*) > 1").fetchall()
    for mode, symbol in doubled:
        rows = conn.execute("SELECT id, side, size, entry_price, fees, funding, entry_time FROM trades "
                            "WHERE exit_time IS NULL AND mode=? AND symbol=? ORDER BY entry_time, id",
                            (mode, symbol)).fetchall()
        keep, rest = rows[0], [r for r in rows[1:] if r[1] == rows[0][1]]
        size = keep[2] + sum(r[2] for r in rest)
        price = (keep[2] * keep[3] + sum(r[2] * r[3] for r in rest)) / size if size else keep[3]
        conn.execute("UPDATE trades SET size=?, entry_price=?, fees=?, funding=? WHERE id=?",
                     (size, price, keep[4] + sum(r[4] for r in rest), keep[5] + sum(r[5] for r in rest), keep[0]))
        for r in rest:
            conn.execute("UPDATE trades SET mode='merged', exit_time=?, exit_price=entry_price, exit_reason='merged', "
                         "pnl=0, entry_reason=entry_reason || ? WHERE id=?", (r[6], f" (merged into #{keep[0]})", r[0]))


SCHEMA_VERSION = 4

MIGRATIONS: dict[int, list[Step]] = {
    1: [
        """CREATE TABLE IF NOT EXISTS candles (
            symbol TEXT NOT NULL, interval TEXT NOT NULL, t INTEGER NOT NULL,
            open REAL NOT NULL, high REAL NOT NULL, low REAL NOT NULL, close REAL NOT NULL,
            volume REAL NOT NULL, n INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (symbol, interval, t)) WITHOUT ROWID""",
        """CREATE TABLE IF NOT EXISTS funding_rates (
            symbol TEXT NOT NULL, time INTEGER NOT NULL, rate REAL NOT NULL,
            premium REAL NOT NULL DEFAULT 0,
            PRIMARY KEY (symbol, time)) WITHOUT ROWID""",
        """CREATE TABLE IF NOT EXISTS prediction_snapshots (
            id INTEGER PRIMARY KEY, source TEXT NOT NULL, market_id TEXT NOT NULL,
            question TEXT NOT NULL DEFAULT '', probability REAL, status TEXT NOT NULL DEFAULT 'ok',
            fetched_at INTEGER NOT NULL, detail TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX IF NOT EXISTS idx_pred_market ON prediction_snapshots (source, market_id, fetched_at)",
        "CREATE INDEX IF NOT EXISTS idx_pred_time ON prediction_snapshots (fetched_at)",
        """CREATE TABLE IF NOT EXISTS trades (
            id INTEGER PRIMARY KEY, mode TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
            size REAL NOT NULL, entry_time INTEGER NOT NULL, entry_price REAL NOT NULL,
            exit_time INTEGER, exit_price REAL, stop_price REAL,
            fees REAL NOT NULL DEFAULT 0, funding REAL NOT NULL DEFAULT 0, pnl REAL,
            exit_reason TEXT, entry_reason TEXT NOT NULL DEFAULT '',
            expected_entry_price REAL, expected_exit_price REAL,
            entry_cloid TEXT UNIQUE, exit_cloid TEXT UNIQUE)""",
        "CREATE INDEX IF NOT EXISTS idx_trades_entry ON trades (entry_time)",
        "CREATE INDEX IF NOT EXISTS idx_trades_exit ON trades (exit_time)",
        "CREATE INDEX IF NOT EXISTS idx_trades_open ON trades (mode, exit_time, symbol)",
        """CREATE TABLE IF NOT EXISTS bot_state (
            key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL DEFAULT 0)""",
    ],
    2: [repair_live_ledger],
    # The audit trail of remote commands (Telegram): who sent what, when, and what came of it.
    3: [
        """CREATE TABLE IF NOT EXISTS remote_commands (
            id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, channel TEXT NOT NULL, chat_id TEXT NOT NULL,
            user_id TEXT NOT NULL, user_name TEXT NOT NULL DEFAULT '', command TEXT NOT NULL,
            result TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '', finished_ms INTEGER)""",
        "CREATE INDEX IF NOT EXISTS idx_remote_commands_time ON remote_commands (at_ms)",
    ],
    4: [
        """CREATE TABLE IF NOT EXISTS maker_orders (
            cloid TEXT PRIMARY KEY, mode TEXT NOT NULL, symbol TEXT NOT NULL, kind TEXT NOT NULL,
            side TEXT NOT NULL, size REAL NOT NULL, limit_px REAL NOT NULL, placed_ms INTEGER NOT NULL,
            outcome TEXT NOT NULL DEFAULT 'resting', ended_ms INTEGER, fee REAL NOT NULL DEFAULT 0)""",
        "CREATE INDEX IF NOT EXISTS idx_maker_orders_placed ON maker_orders (mode, placed_ms)",
    ],
}


def apply_migrations(conn: sqlite3.Connection, version: int) -> None:
    """Apply every migration after `version`, each in one explicit transaction (sqlite3 would not begin
    one before DDL), so a process killed mid-migration leaves the previous version intact."""
    for target in range(version + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for step in MIGRATIONS[target]:
                if callable(step):
                    step(conn)
                else:
                    conn.execute(step)
                crashpoints.reached("migration")
            conn.execute(f"PRAGMA user_version = {target}")
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
