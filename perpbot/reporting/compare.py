"""Provides the paper/live versus backtest comparison: one-to-one trade matching and the pnl gap.

`compare_trades` is pure over two lists of `Trade`. Trades match when symbol and side agree and
their entry times are within a tolerance; each pair is taken greedily by the smallest entry-time
difference, so every trade is used at most once. What is left is "missed" (the backtest traded,
the bot did not) or "extra" (the bot traded, the backtest did not).

The pnl gap (bot minus backtest) is split exactly into causes. For a matched pair with side
sign s, sizes q, entry/exit prices e/x (a = bot, b = backtest):
    size        s * (x_b - e_b) * (q_a - q_b)
    entry price -s * (e_a - e_b) * q_a
    exit price  s * (x_a - x_b) * q_a
    fees        -(fees_a - fees_b)          fees and funding are costs (positive = paid), as
    funding     -(funding_a - funding_b)    Trade.pnl is net of both
    other       whatever the parts above leave (e.g. rounding of stored pnl)
plus, over the period, `missed_trades` = -(pnl of missed trades) and `extra_trades` = pnl of
extra trades. The causes always add up to the gap.

Bot trades still open are matched (so their backtest twin is not called missed) but kept out of
every pnl figure, since the bot's side has no exit yet.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from perpbot.errors import PerpbotError
from perpbot.models import Trade

BPS = 10_000.0
CAUSES = ("missed_trades", "extra_trades", "entry_price", "exit_price", "size", "fees", "funding", "other")


@dataclass(frozen=True, slots=True)
class PnlCauses:
    """The pnl gap split by cause (USD, bot minus backtest)."""

    missed_trades: float = 0.0
    extra_trades: float = 0.0
    entry_price: float = 0.0
    exit_price: float = 0.0
    size: float = 0.0
    fees: float = 0.0
    funding: float = 0.0
    other: float = 0.0

    @property
    def total(self) -> float:
        return sum(getattr(self, name) for name in CAUSES)

    def __add__(self, other: "PnlCauses") -> "PnlCauses":
        return PnlCauses(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def to_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in CAUSES}


@dataclass(frozen=True, slots=True)
class MatchedTrade:
    """A bot trade and its backtest twin."""

    actual: Trade
    backtest: Trade

    @property
    def is_open(self) -> bool:
        return self.actual.exit_time is None

    @property
    def entry_delay_ms(self) -> int:
        """Bot entry time minus backtest entry time (positive: the bot was late)."""
        return self.actual.entry_time - self.backtest.entry_time

    @property
    def exit_delay_ms(self) -> int | None:
        if self.actual.exit_time is None or self.backtest.exit_time is None:
            return None
        return self.actual.exit_time - self.backtest.exit_time

    @property
    def entry_diff_bps(self) -> float:
        """How much worse the bot's entry price was, in bps of the backtest's (negative: better)."""
        a, b = self.actual, self.backtest
        return a.side.sign * (a.entry_price - b.entry_price) / b.entry_price * BPS

    @property
    def exit_diff_bps(self) -> float | None:
        """How much worse the bot's exit price was, in bps of the backtest's (negative: better)."""
        a, b = self.actual, self.backtest
        if a.exit_price is None or b.exit_price is None:
            return None
        return -a.side.sign * (a.exit_price - b.exit_price) / b.exit_price * BPS

    @property
    def pnl_gap(self) -> float | None:
        if self.is_open:
            return None
        return float(self.actual.pnl or 0.0) - float(self.backtest.pnl or 0.0)

    @property
    def causes(self) -> PnlCauses:
        """The pair's pnl gap split by cause (all zero while the bot's side is open)."""
        a, b = self.actual, self.backtest
        if self.is_open or a.exit_price is None or b.exit_price is None:
            return PnlCauses()
        s = a.side.sign
        parts = PnlCauses(
            size=s * (b.exit_price - b.entry_price) * (a.size - b.size),
            entry_price=-s * (a.entry_price - b.entry_price) * a.size,
            exit_price=s * (a.exit_price - b.exit_price) * a.size,
            fees=-(a.fees - b.fees),
            funding=-(a.funding - b.funding),
        )
        return parts + PnlCauses(other=(self.pnl_gap or 0.0) - parts.total)

    def to_dict(self) -> dict[str, Any]:
        a, b = self.actual, self.backtest
        return {
            "symbol": a.symbol, "side": a.side.value, "open": self.is_open,
            "entry_time": a.entry_time, "backtest_entry_time": b.entry_time, "entry_delay_ms": self.entry_delay_ms,
            "exit_time": a.exit_time, "backtest_exit_time": b.exit_time, "exit_delay_ms": self.exit_delay_ms,
            "entry_price": a.entry_price, "backtest_entry_price": b.entry_price, "entry_diff_bps": self.entry_diff_bps,
            "exit_price": a.exit_price, "backtest_exit_price": b.exit_price, "exit_diff_bps": self.exit_diff_bps,
            "size": a.size, "backtest_size": b.size, "exit_reason": a.exit_reason,
            "backtest_exit_reason": b.exit_reason, "pnl": a.pnl, "backtest_pnl": b.pnl, "pnl_gap": self.pnl_gap,
            "causes": self.causes.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Slippage:
    """Fill price against the price the decision expected, adverse in bps (positive: worse)."""

    entry_bps: float | None  # mean over trades that recorded expected_entry_price
    exit_bps: float | None
    entries: int
    exits: int

    def to_dict(self) -> dict[str, Any]:
        return {"entry_bps": self.entry_bps, "exit_bps": self.exit_bps, "entries": self.entries, "exits": self.exits}


def slippage(trades: Iterable[Trade]) -> Slippage:
    """Mean adverse slippage of entries and exits against their expected prices."""
    entry, exit_ = [], []
    for t in trades:
        if t.expected_entry_price:
            entry.append(t.side.sign * (t.entry_price - t.expected_entry_price) / t.expected_entry_price * BPS)
        if t.expected_exit_price and t.exit_price is not None:
            exit_.append(-t.side.sign * (t.exit_price - t.expected_exit_price) / t.expected_exit_price * BPS)
    return Slippage(_mean(entry), _mean(exit_), len(entry), len(exit_))


@dataclass(frozen=True, slots=True)
class Comparison:
    """Bot trades against backtest trades over one period."""

    tolerance_ms: int
    matched: tuple[MatchedTrade, ...]
    missed: tuple[Trade, ...]  # backtest trades the bot did not take
    extra: tuple[Trade, ...]  # bot trades the backtest did not take (open ones included)
    actual_slippage: Slippage
    backtest_slippage: Slippage
    maker: dict[str, dict[str, Any]] | None = None  # maker orders: {"bot": maker_fill(...), "backtest": ...}

    @property
    def actual_pnl(self) -> float:
        """Net pnl of the bot's closed trades."""
        closed = [m.actual for m in self.matched if not m.is_open] + [t for t in self.extra if t.exit_time is not None]
        return sum(float(t.pnl or 0.0) for t in closed)

    @property
    def backtest_pnl(self) -> float:
        """Net pnl of the backtest trades, less those whose bot twin is still open."""
        return sum(float(m.backtest.pnl or 0.0) for m in self.matched if not m.is_open) + sum(
            float(t.pnl or 0.0) for t in self.missed)

    @property
    def pnl_gap(self) -> float:
        return self.actual_pnl - self.backtest_pnl

    @property
    def causes(self) -> PnlCauses:
        total = PnlCauses(
            missed_trades=-sum(float(t.pnl or 0.0) for t in self.missed),
            extra_trades=sum(float(t.pnl or 0.0) for t in self.extra if t.exit_time is not None),
        )
        for pair in self.matched:
            total = total + pair.causes
        return total

    @property
    def match_rate(self) -> float | None:
        """Matched trades over all backtest trades (None when the backtest traded nothing)."""
        n = len(self.matched) + len(self.missed)
        return len(self.matched) / n if n else None

    @property
    def exit_reason_mismatches(self) -> int:
        return sum(1 for m in self.matched if not m.is_open and m.actual.exit_reason != m.backtest.exit_reason)

    def to_dict(self) -> dict[str, Any]:
        closed = [m for m in self.matched if not m.is_open]
        return {
            "tolerance_ms": self.tolerance_ms, "matched": len(self.matched), "missed": len(self.missed),
            "extra": len(self.extra), "match_rate": self.match_rate, "actual_pnl": self.actual_pnl,
            "backtest_pnl": self.backtest_pnl, "pnl_gap": self.pnl_gap, "causes": self.causes.to_dict(),
            "mean_entry_delay_ms": _mean([m.entry_delay_ms for m in self.matched]),
            "mean_exit_delay_ms": _mean([m.exit_delay_ms for m in closed]),
            "mean_entry_diff_bps": _mean([m.entry_diff_bps for m in self.matched]),
            "mean_exit_diff_bps": _mean([m.exit_diff_bps for m in closed]),
            "exit_reason_mismatches": self.exit_reason_mismatches,
            "maker_fill_rate": None if self.maker is None else {k: v["fill_rate"] for k, v in self.maker.items()},
            "maker_orders": self.maker,
            "actual_slippage": self.actual_slippage.to_dict(), "backtest_slippage": self.backtest_slippage.to_dict(),
            "pairs": [m.to_dict() for m in self.matched],
            "missed_trades": [_trade_dict(t) for t in self.missed],
            "extra_trades": [_trade_dict(t) for t in self.extra],
        }


def maker_fill(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Counts of maker orders (the store's maker_orders rows) and their fill rate: filled over those
    that ended (an order still resting has no outcome yet)."""
    counts = {"placed": 0, "filled": 0, "cancelled": 0, "expired": 0}
    for row in rows:
        counts["placed"] += 1
        if row["outcome"] in counts:
            counts[row["outcome"]] += 1
    ended = counts["filled"] + counts["cancelled"] + counts["expired"]
    return {**counts, "fill_rate": counts["filled"] / ended if ended else None}


def _mean(values: Sequence[float | int | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _trade_dict(t: Trade) -> dict[str, Any]:
    return {"symbol": t.symbol, "side": t.side.value, "size": t.size, "entry_time": t.entry_time,
            "entry_price": t.entry_price, "exit_time": t.exit_time, "exit_price": t.exit_price,
            "exit_reason": t.exit_reason, "pnl": t.pnl}


def match_trades(actual: Sequence[Trade], backtest: Sequence[Trade], tolerance_ms: int) -> list[tuple[int, int]]:
    """(actual index, backtest index) pairs: same symbol and side, entries within tolerance_ms,
    the closest entry times paired first (ties: the earlier bot trade), each trade used once."""
    by_key: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for j, b in enumerate(backtest):
        by_key.setdefault((b.symbol, b.side.value), []).append((b.entry_time, j))
    for entries in by_key.values():
        entries.sort()
    candidates: list[tuple[int, int, int, int]] = []
    for i, a in enumerate(actual):
        entries = by_key.get((a.symbol, a.side.value), [])
        lo = bisect.bisect_left(entries, (a.entry_time - tolerance_ms, -1))
        hi = bisect.bisect_right(entries, (a.entry_time + tolerance_ms, len(backtest)))
        candidates.extend((abs(a.entry_time - t), a.entry_time, i, j) for t, j in entries[lo:hi])
    candidates.sort()
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs = []
    for _, _, i, j in candidates:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j))
    return sorted(pairs)


def compare_trades(actual: Sequence[Trade], backtest: Sequence[Trade], tolerance_ms: int = 30 * 60_000) -> Comparison:
    """Match bot trades to backtest trades one to one and explain the pnl gap.

    Args:
        actual: the bot's (paper or live) trades over the period, open ones included.
        backtest: the backtest's trades over the same period.
        tolerance_ms: the largest entry-time difference that still counts as the same trade
            (the CLI uses two bars of the strategy timeframe).
    """
    pairs = match_trades(actual, backtest, tolerance_ms)
    paired_a = {i for i, _ in pairs}
    paired_b = {j for _, j in pairs}
    return Comparison(
        tolerance_ms=tolerance_ms,
        matched=tuple(MatchedTrade(actual[i], backtest[j]) for i, j in pairs),
        missed=tuple(b for j, b in enumerate(backtest) if j not in paired_b),
        extra=tuple(a for i, a in enumerate(actual) if i not in paired_a),
        actual_slippage=slippage(actual),
        backtest_slippage=slippage(backtest),
    )


def comparison_period(actual: Sequence[Trade], start_ms: int | None, end_ms: int | None,
                      tolerance_ms: int) -> tuple[int, int]:
    """[start, end) of the comparison: the given bounds, else the span the bot traded.

    Without --from the period opens one tolerance before the bot's first entry (so a backtest
    entry a little earlier still finds its twin); without --to it closes at the bot's last
    entry or exit.
    """
    if start_ms is None:
        start_ms = min(t.entry_time for t in actual) - tolerance_ms
    if end_ms is None:
        end_ms = max(t.exit_time or t.entry_time for t in actual) + 1
    if end_ms <= start_ms:
        raise PerpbotError("the comparison period is empty", "--to must be after --from")
    return start_ms, end_ms
