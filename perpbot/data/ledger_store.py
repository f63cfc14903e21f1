"""Provides the Store's live ledger: trades and the exchange fills booked into them, by fill identity.

Every exchange fill the bot accounts for is one `fills` row keyed by its `tid`, naming the trade it
changed (`trade_id`, with `leg` open or close and the size, `leg_sz`) and, for a fill that flipped
the position, the trade its rest opened (`opened_id`, `opened_sz`). A fill and the trade rows it
changes are written in one transaction, so a process killed at any point has booked a fill wholly
or not at all, and a fill is never booked twice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from perpbot.data.records import Fill
from perpbot.models import Side, Trade

_TRADE_COLUMNS = (
    "id", "mode", "symbol", "side", "size", "entry_time", "entry_price", "exit_time", "exit_price",
    "stop_price", "fees", "funding", "pnl", "exit_reason", "entry_reason", "expected_entry_price",
    "expected_exit_price", "entry_cloid", "exit_cloid",
)


@dataclass(frozen=True, slots=True)
class FillLink:
    """How one fill was booked: the trade it changed first, and a trade its rest opened (a flip)."""

    trade: Trade | None  # None: a fill of a position the ledger does not know (unattributed)
    leg: str | None  # open | close
    leg_sz: float
    opened: Trade | None = None
    opened_sz: float = 0.0
    source: str = ""  # bot | manual | other-bot


@dataclass(frozen=True, slots=True)
class CloseLegs:
    """The closing fills booked to one trade: size, notional and realized pnl (gross of fees)."""

    size: float = 0.0
    notional: float = 0.0
    closed_pnl: float = 0.0


class LedgerStore:
    """The trades and fills half of Store (it supplies `conn`)."""

    conn: sqlite3.Connection

    # --- maker orders (schema v4) --------------------------------------------------------------

    def maker_placed(self, cloid: str, mode: str, symbol: str, kind: str, side: str, size: float, limit_px: float,
                     placed_ms: int) -> None:
        """A maker order rests (placing the same cloid again keeps the first row)."""
        with self.conn:
            self.conn.execute("INSERT OR IGNORE INTO maker_orders (cloid, mode, symbol, kind, side, size, limit_px, "
                              "placed_ms) VALUES (?,?,?,?,?,?,?,?)",
                              (cloid, mode, symbol, kind, side, size, limit_px, placed_ms))

    def maker_ended(self, cloid: str, outcome: str, ended_ms: int, fee: float = 0.0) -> None:
        """A maker order is done: filled (with the fee its fills paid), cancelled or expired."""
        with self.conn:
            self.conn.execute("UPDATE maker_orders SET outcome=?, ended_ms=?, fee=fee+? WHERE cloid=?",
                              (outcome, ended_ms, fee, cloid))

    def maker_orders(self, mode: str, start_ms: int | None = None, end_ms: int | None = None) -> list[dict]:
        """Maker orders placed in [start_ms, end_ms), oldest first."""
        rows = self.conn.execute(
            "SELECT cloid, symbol, kind, side, size, limit_px, placed_ms, outcome, ended_ms, fee FROM maker_orders "
            "WHERE mode=? AND placed_ms>=? AND placed_ms<? ORDER BY placed_ms, cloid",
            (mode, start_ms if start_ms is not None else -2**62, end_ms if end_ms is not None else 2**62))
        keys = ("cloid", "symbol", "kind", "side", "size", "limit_px", "placed_ms", "outcome", "ended_ms", "fee")
        return [dict(zip(keys, r)) for r in rows]

    def fees_of_cloid(self, cloid: str) -> float:
        """The fees the booked fills of one order paid."""
        row = self.conn.execute("SELECT COALESCE(SUM(fee), 0) FROM fills WHERE cloid=?", (cloid,)).fetchone()
        return float(row[0])

    def open_trade(self, symbol: str, mode: str) -> Trade | None:
        """The open trade on `symbol` (the oldest, should a damaged ledger hold several)."""
        row = self.conn.execute(
            f"SELECT {', '.join(_TRADE_COLUMNS)} FROM trades WHERE exit_time IS NULL AND mode=? AND symbol=? "
            "ORDER BY entry_time, id LIMIT 1", (mode, symbol)).fetchone()
        return _trade_from_row(row) if row else None

    def trade_by_id(self, trade_id: int) -> Trade | None:
        row = self.conn.execute(f"SELECT {', '.join(_TRADE_COLUMNS)} FROM trades WHERE id=?", (trade_id,)).fetchone()
        return _trade_from_row(row) if row else None

    def open_trades_by_symbol(self, mode: str) -> dict[str, list[Trade]]:
        """Open trades per symbol, oldest first."""
        out: dict[str, list[Trade]] = {}
        for row in self.conn.execute(f"SELECT {', '.join(_TRADE_COLUMNS)} FROM trades WHERE exit_time IS NULL "
                                     "AND mode=? ORDER BY entry_time, id", (mode,)):
            trade = _trade_from_row(row)
            out.setdefault(trade.symbol, []).append(trade)
        return out

    def known_tids(self, tids: Iterable[int]) -> set[int]:
        """Which of these fills are booked already."""
        wanted = list(tids)
        known: set[int] = set()
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            rows = self.conn.execute(f"SELECT tid FROM fills WHERE tid IN ({','.join('?' * len(chunk))})", chunk)
            known.update(r[0] for r in rows)
        return known

    def close_legs(self, trade_id: int) -> CloseLegs:
        size, notional, pnl = self.conn.execute(
            "SELECT coalesce(sum(leg_sz), 0), coalesce(sum(px * leg_sz), 0), coalesce(sum(closed_pnl), 0) "
            "FROM fills WHERE trade_id=? AND leg='close'", (trade_id,)).fetchone()
        return CloseLegs(float(size), float(notional), float(pnl))

    def book_fill(self, fill: Fill, link: FillLink, changed: Sequence[Trade]) -> None:
        """In one transaction: insert the new trades among `changed` (setting their ids), update the
        others, and record `fill` with its link."""
        with self.conn:
            for trade in changed:
                values = _trade_row(trade)
                trade_id = values.pop("id")
                if trade_id is None:
                    cur = self.conn.execute(f"INSERT INTO trades ({', '.join(values)}) "
                                            f"VALUES ({', '.join('?' * len(values))})", tuple(values.values()))
                    trade.id = int(cur.lastrowid or 0)
                else:
                    self.conn.execute(f"UPDATE trades SET {', '.join(f'{k}=?' for k in values)} WHERE id=?",
                                      (*values.values(), trade_id))
            self.conn.execute(
                "INSERT INTO fills (tid, hash, oid, cloid, symbol, time, px, sz, side, dir, start_position, closed_pnl, "
                "fee, trade_id, leg, leg_sz, opened_id, opened_sz, source) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (fill.tid, fill.hash, fill.oid, fill.cloid, fill.symbol, fill.time, fill.px, fill.sz, fill.side.value,
                 fill.dir, fill.start_position, fill.closed_pnl, fill.fee,
                 link.trade.id if link.trade is not None else None, link.leg, link.leg_sz,
                 link.opened.id if link.opened is not None else None, link.opened_sz, link.source))

    def fill_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM fills").fetchone()[0])

    def fill_totals(self) -> tuple[int, float, float]:
        """(fills booked, their realized pnl, their fees) over the whole ledger."""
        n, pnl, fee = self.conn.execute(
            "SELECT count(*), coalesce(sum(closed_pnl), 0), coalesce(sum(fee), 0) FROM fills").fetchone()
        return int(n), float(pnl), float(fee)


def _trade_row(trade: Trade) -> dict[str, Any]:
    row = {name: getattr(trade, name) for name in _TRADE_COLUMNS}
    row["side"] = trade.side.value
    return row


def _trade_from_row(row: Sequence[Any]) -> Trade:
    values = dict(zip(_TRADE_COLUMNS, row))
    values["side"] = Side(values["side"])
    return Trade(**values)
