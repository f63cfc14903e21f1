"""Provides the backtest's maker orders (issue 19): where a resting post-only entry or exit ends.

A maker order is placed at a decision bar's close, at that close on the price grid (a buy rounds
down, a sell up, so it never crosses), and then walks the following bars, which is what the
exchange would do with it:
* a bar that trades through the limit by `maker_fill_ticks` ticks fills it at the limit
  (`execution/fills.py`'s `maker_filled`; a touch is not a fill, the queue ahead is unknown);
* otherwise, at that bar's close, an entry whose signal no longer stands is cancelled; an order
  that has rested `maker_timeout_bars` bars expires (an entry then crosses at the next open as a
  taker with `maker_fallback: taker`, else is dropped; an exit always crosses: a position is never
  left open past its exit decision); and one still wanted is re-priced to that close (a modify);
* while an exit rests, the position's stop is checked first in every bar: a stop that triggers
  cancels the exit (never a double close), and a bar that reaches both is taken as the stop (the
  worse of the two for the trader, since the order inside the bar is unknown).

The walks are per bar in Python, but an order rests a few bars, so they cost per order, not per bar.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from perpbot.config import ExecutionConfig
from perpbot.execution import fills

FILLED, TAKER, CANCELLED, EXPIRED, END = "filled", "taker", "cancelled", "expired", "end"


class MakerRules(NamedTuple):
    fill_ticks: float
    timeout_bars: int
    fallback_taker: bool
    sz_decimals: int

    @classmethod
    def from_config(cls, cfg: ExecutionConfig, sz_decimals: int) -> "MakerRules":
        return cls(float(cfg.maker_fill_ticks), cfg.maker_timeout_bars, cfg.maker_fallback == "taker", sz_decimals)


class Resting(NamedTuple):
    """How a resting order ended: `FILLED` in `bar` at `price`; `TAKER`: crossed at `bar`'s open;
    `CANCELLED` / `EXPIRED` at `bar`'s close; `END`: the data ended under it (bar n - 1, its close)."""

    outcome: str
    bar: int
    price: float
    reprices: int


@dataclass(slots=True)
class MakerCounts:
    """Maker orders of a run, for the report: a re-price is a modify, not a new order."""

    placed: int = 0
    filled: int = 0
    cancelled: int = 0
    expired: int = 0
    reprices: int = 0
    by_kind: dict[str, list[int]] = field(default_factory=lambda: {"entry": [0, 0], "exit": [0, 0]})

    def count(self, kind: str, outcome: str, reprices: int) -> None:
        self.placed += 1
        self.reprices += reprices
        placed_filled = self.by_kind[kind]
        placed_filled[0] += 1
        if outcome == FILLED:
            self.filled += 1
            placed_filled[1] += 1
        elif outcome in (CANCELLED, END):  # the end of the data cancels what still rests
            self.cancelled += 1
        else:  # expired, whether or not a taker then crossed
            self.expired += 1

    def report(self) -> dict[str, float | int]:
        rate = self.filled / self.placed if self.placed else 0.0
        out: dict[str, float | int] = {"placed": self.placed, "filled": self.filled, "cancelled": self.cancelled,
                                       "expired": self.expired, "reprices": self.reprices, "fill_rate": rate}
        for kind, (placed, filled) in self.by_kind.items():
            out[f"{kind}_fill_rate"] = filled / placed if placed else 0.0
        return out


def rest_entry(open_, high, low, close, holds, sign: float, k: int, rules: MakerRules) -> Resting:
    """A post-only entry placed at bar k's close while `holds[j]` (the side's entry signal) stands."""
    n = len(close)
    hi = min(n, k + rules.timeout_bars + 2)  # the bars it can rest through, and the one a fallback crosses at
    o, h, lo, c, held = (a[k:hi].tolist() for a in (open_, high, low, close, holds))  # Python floats: cheap reads
    limit, tick = fills.maker_quote(sign, c[0], rules.sz_decimals)
    for i in range(1, hi - k):
        if fills.maker_filled(sign, lo[i], h[i], limit, tick, rules.fill_ticks):
            return Resting(FILLED, k + i, limit, i - 1)
        if not held[i]:
            return Resting(CANCELLED, k + i, limit, i - 1)
        if i == rules.timeout_bars:
            if rules.fallback_taker and k + i + 1 < n:
                return Resting(TAKER, k + i + 1, o[i + 1], i - 1)
            return Resting(EXPIRED, k + i, limit, i - 1)
        limit, tick = fills.maker_quote(sign, c[i], rules.sz_decimals)
    return Resting(END, n - 1, close.item(n - 1), max(0, n - k - 2))


def rest_exit(open_, high, low, close, sign: float, d: int, stop: float, rules: MakerRules) -> Resting:
    """A post-only exit of a position of direction `sign` placed at bar d's close, under its stop.

    `CANCELLED` here means the stop fired in `bar` (at `price`, before slippage)."""
    n = len(close)
    hi = min(n, d + rules.timeout_bars + 2)
    o, h, lo, c = (a[d:hi].tolist() for a in (open_, high, low, close))
    limit, tick = fills.maker_quote(-sign, c[0], rules.sz_decimals)
    for i in range(1, hi - d):
        if fills.stop_touched(sign, lo[i], h[i], stop):
            return Resting(CANCELLED, d + i, fills.stop_fill(sign, o[i], stop), i - 1)
        if fills.maker_filled(-sign, lo[i], h[i], limit, tick, rules.fill_ticks):
            return Resting(FILLED, d + i, limit, i - 1)
        if i == rules.timeout_bars and d + i + 1 < n:
            return Resting(TAKER, d + i + 1, o[i + 1], i - 1)
        limit, tick = fills.maker_quote(-sign, c[i], rules.sz_decimals)
    return Resting(END, n - 1, close.item(n - 1), max(0, n - d - 2))
