"""Provides the backtest's decision table (`perpbot backtest --decisions FILE.csv`): the live table, per bar.

Every bar of the tested range, for every symbol, gets the row the live engine would publish
(signals/decisions.py): the values, `decide` on them given the position the backtest held at
that close, and the risk verdict. The backtest's event loop judges only the bars where an
answer can change, so a bar it skipped inherits the refusal it is waiting out (the loop skips
exactly while that refusal holds); a bar whose entry is waiting for its fill says
`pending_order`, as live does, and an allowed entry that never filled because its size is below
the minimum order says `size`, as live amends it (without an entry delay, where that is the only
reason a fill is skipped; with one, `signal_gone` is possible too and the row is left as decided).
"""

from __future__ import annotations

import bisect
import csv
import math
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from perpbot.backtest.engine import simulate
from perpbot.backtest.market import History, MarketData, SymbolFrame, load_market
from perpbot.backtest.results import BacktestResult
from perpbot.config import Settings, StrategyConfig
from perpbot.errors import PerpbotError
from perpbot.models import Side, Trade
from perpbot.signals.decisions import ENTRIES, FIELDS, TIMEOUT, DecisionRow, decision_row
from perpbot.signals.engine import BarValues, compute_indicators, decide

__all__ = ["backtest_with_decisions", "decision_table", "write_decisions_csv"]


def backtest_with_decisions(settings: Settings, store: History, symbols: list[str], start_ms: int | None,
                            end_ms: int | None, timeframe: str | None = None,
                            progress=None) -> tuple[BacktestResult, list[DecisionRow]]:
    """`run_backtest` that also returns the per-bar decision table (the event loop runs)."""
    data = load_market(settings, store, symbols, start_ms, end_ms, timeframe)
    snapshots = store.snapshots_between(data.start_ms - 86_400_000, data.end_ms) if settings.prediction.enabled else []
    decided: list[tuple[str, int, str]] = []
    result = simulate(data, settings, progress=progress, snapshots=snapshots, refusals=decided)
    return result, decision_table(data, settings, result.trades, decided)


def decision_table(data: MarketData, settings: Settings, trades: list[Trade],
                   decided: list[tuple[str, int, str]]) -> list[DecisionRow]:
    """Rows in time order (symbols in data order within a bar) from the first tested bar on."""
    by_symbol: dict[str, dict[int, str]] = {}
    for symbol, bar, verdict in decided:
        by_symbol.setdefault(symbol, {})[bar] = verdict
    rows: list[DecisionRow] = []
    for symbol, frame in data.frames.items():
        mine = [t for t in trades if t.symbol == symbol]
        rows.extend(_symbol_rows(symbol, frame, data, settings, mine, by_symbol.get(symbol, {})))
    order = {s: i for i, s in enumerate(data.frames)}
    rows.sort(key=lambda r: (r.bar_time, order[r.symbol]))
    return rows


def _positions(frame: SymbolFrame, interval_ms: int, trades: list[Trade], delay: int, decided: dict[int, str]
               ) -> tuple[list[Side | None], np.ndarray, set[int], set[int]]:
    """Per bar: the side held at its close, whether an entry awaits its fill; entry decision bars; timeout bars.

    `delay` < 0: entries rest as maker orders, so a trade's decision is the last accepted one before it."""
    accepted = sorted(bar for bar, verdict in decided.items() if verdict == "ok")
    n = len(frame.time)
    close_time = frame.time + interval_ms
    held: list[Side | None] = [None] * n
    pending = np.zeros(n, dtype=bool)
    entered, timeouts = set(), set()
    for t in trades:
        first = int(np.searchsorted(frame.time, t.entry_time))
        exit_ms = t.exit_time if t.exit_time is not None else int(close_time[-1])
        last = int(np.searchsorted(close_time, exit_ms, side="right")) - 1
        held[first:last + 1] = [t.side] * max(0, last + 1 - first)
        decision_bar = first - 1 - delay if delay >= 0 else _last_before(accepted, first)
        entered.add(decision_bar)
        pending[decision_bar + 1:first] = True
        if t.exit_reason == "timeout":
            timeouts.add(last)
    return held, pending, entered, timeouts


def _last_before(bars: list[int], bar: int) -> int:
    i = bisect.bisect_left(bars, bar)
    return bars[i - 1] if i else bar - 1


def _symbol_rows(symbol: str, frame: SymbolFrame, data: MarketData, settings: Settings, trades: list[Trade],
                 decided: dict[int, str]) -> list[DecisionRow]:
    params: StrategyConfig = settings.strategy
    ind = compute_indicators(frame.high, frame.low, frame.close, params)
    ex = settings.execution
    # a maker entry waits for its fill, like a delayed one: an allowed decision without a trade is no sizing skip
    delayed = ex.entry_delay_bars > 0 or ex.entry_order == "maker"
    held, pending, entered, timeouts = _positions(frame, data.interval_ms, trades,
                                                  -1 if ex.entry_order == "maker" else ex.entry_delay_bars, decided)
    cols = [frame.close.tolist(), ind.z.tolist(), ind.upper.tolist(), ind.lower.tolist(), ind.rsi.tolist(),
            ind.adx.tolist(), ind.hurst.tolist()]
    times = frame.time.tolist()
    out = []
    waiting: str | None = None  # the refusal the loop is waiting out
    for k in range(int(np.searchsorted(frame.time, data.start_ms)), len(times)):
        values = BarValues(*(c[k] for c in cols))
        side = held[k]
        d = TIMEOUT if k in timeouts else decide(values, side, params)
        risk = None
        if side is not None or pending[k] or k in entered:
            waiting = None
            risk = "pending_order" if pending[k] and side is None and d.action in ENTRIES else None
        elif d.action in ENTRIES:
            if k in decided:
                waiting = None if decided[k] == "ok" else decided[k]
            risk = waiting
            if risk is None and decided.get(k) == "ok" and not delayed and k + 1 < len(times):
                risk = "size"  # allowed, yet no trade: without a delay only the minimum order skips a fill
        out.append(decision_row(symbol, times[k], values, d, risk))
    return out


def write_decisions_csv(path: str | Path, rows: list[DecisionRow]) -> Path:
    """The table as CSV: the status fields (NaN left empty), plus the bar time in UTC for reading."""
    target = Path(path).expanduser()
    tmp = target.with_name(target.name + ".tmp")
    try:
        with tmp.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow((*FIELDS, "bar_time_utc"))
            for r in rows:
                cells = [("" if isinstance(v, float) and not math.isfinite(v) else "" if v is None else v)
                         for v in (getattr(r, f) for f in FIELDS)]
                when = datetime.fromtimestamp(r.bar_time / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
                writer.writerow((*cells, when))
        tmp.replace(target)
    except OSError as exc:
        raise PerpbotError(f"cannot write {target}: {exc.strerror}", "pick a writable path for --decisions") from exc
    return target
