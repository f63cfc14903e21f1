"""Provides the event loop's maker-order steps (issue 19), mixed into engine.py's simulation.

A resting entry's whole life is known when it is placed (backtest/maker.py walks the bars it rests
through), so the loop schedules one event for its end: a fill at the open of the bar that fills it
(or of the bar a taker fallback crosses at), or, when it is cancelled or expires, the close where
that happens, ahead of that close's decisions, which is when its slot frees. While it rests, the
symbol counts as open for `risk.max_positions` and for its own coin, as a pending entry does.
"""

from __future__ import annotations

from perpbot.backtest.maker import FILLED, TAKER, MakerCounts, MakerRules, rest_entry
from perpbot.config import Settings
from perpbot.execution import fills
from perpbot.models import Side

EXIT_FILL, ENTRY_FILL, STOP = 0, 2, 3  # PHASES within one timestamp (engine.py), decisions are 1


def maker_mode(settings: Settings) -> bool:
    """Does any order of this run rest as a maker?"""
    return "maker" in (settings.execution.entry_order, settings.execution.exit_order)


class MakerLoop:
    """The maker half of engine.py's `_Simulation` (which supplies the heap, the symbols and the costs)."""

    def _init_maker(self) -> None:
        ex = self.settings.execution
        self.maker_entries, self.maker_exits = ex.entry_order == "maker", ex.exit_order == "maker"
        self.maker_counts = MakerCounts()
        self.fees_by_kind = [0.0, 0.0]  # maker, taker
        if maker_mode(self.settings):
            for s in self.syms:
                s.maker = MakerRules.from_config(ex, self.data.sz_decimals_of(s.name))

    def _rest_entry(self, s, side: Side, k: int, size_factor: float) -> None:
        """A post-only entry rests from bar k's close; its end is known now (backtest/maker.py)."""
        f = s.sig.frame
        long = side is Side.LONG
        rest = rest_entry(f.open, f.high, f.low, f.close, s.sig.long_entry if long else s.sig.short_entry,
                          1.0 if long else -1.0, k, s.maker)
        self.maker_counts.count("entry", rest.outcome, rest.reprices)
        s.pending = (side, k, rest.bar, size_factor, self.reasons[side], rest)
        if rest.outcome in (FILLED, TAKER):
            self._push(s, f.time.item(rest.bar), ENTRY_FILL, "fill", rest.bar)
        else:  # cancelled or expired at that bar's close: the slot frees before that close's decisions
            self._push(s, s.sig.close_time.item(rest.bar), EXIT_FILL, "unrest", rest.bar)

    def _entry_gone(self, s, bar: int, now: int) -> None:
        """A resting entry was cancelled or expired at `bar`'s close: decide again from the next bar."""
        s.pending = None
        self._schedule_entry(s, bar + 1)
        self._wake_waiting(now)

    def _fee(self, size: float, price: float, maker: bool) -> float:
        fee = fills.maker_fee(size, price, self.costs.maker_fee) if maker else self.costs.fee(size, price)
        self.fees_by_kind[0 if maker else 1] += fee
        return fee

    def maker_report(self) -> dict:
        """The run's maker orders and its fees split maker/taker, for the metrics ({} in taker mode)."""
        if not maker_mode(self.settings):
            return {}
        return {"maker_orders": self.maker_counts.report(),
                "fees_maker": self.fees_by_kind[0], "fees_taker": self.fees_by_kind[1]}
