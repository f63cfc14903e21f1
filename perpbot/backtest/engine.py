"""Provides the backtest: the live brain (signals, risk) driven over stored candles.

Indicators and signal arrays are computed once per symbol over the whole frame. The event
loop then jumps from event to event across all symbols in time order (one shared account, so
max positions and the daily loss cap bind across symbols): an entry decision at a bar close,
its fill at an open, an exit. Between events nothing happens, and the searches that find the
next event are numpy (executor.py), so Python runs per event rather than per bar. The entry
and exit booleans come from `signal_arrays`, the vectorised form of the live `decide` (the two
are tested equal bar for bar), and at every entry decision the live `RiskManager` judges it
(risk_adapter.py).

Within one timestamp the order is: exits filling at the open (and resting entries cancelled at
the close that ended there), entry decisions at that close, entries filling at the open, then
stops and maker fills inside the bar (PHASES). Maker orders: backtest/maker.py (the compiled loop:
fastmaker.py).
"""

from __future__ import annotations

import contextvars
import heapq
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from operator import attrgetter
from typing import NamedTuple

import numpy as np

from perpbot.backtest.columns import TradeColumns
from perpbot.backtest.cost_model import CostModel, funding_per_unit
from perpbot.backtest.executor import ExitPlan, SymbolSignals, bar_base, bars_key, plan_exit, symbol_signals
from perpbot.backtest.maker import FILLED, MakerRules, Resting
from perpbot.backtest.maker_loop import ENTRY_FILL, EXIT_FILL, STOP, MakerLoop, maker_mode
from perpbot.backtest.market import BacktestError, History, MarketData, SymbolFrame, load_market
from perpbot.backtest.allocator import keep_freed_arrays
from perpbot.backtest.loops import preload, preload_compiled, run_compiled, use_compiled
from perpbot.backtest.metrics import compute_metrics
from perpbot.backtest.results import BacktestResult, build_equity
from perpbot.backtest.risk_adapter import NEVER, BacktestRisk, RegimeReplay
from perpbot.clock import DAY_MS
from perpbot.config import Settings, StrategyConfig
from perpbot.execution import fills
from perpbot.models import Side, Trade
from perpbot.signals.engine import (
    HEAVIEST_FIRST,
    Indicators,
    assemble_indicators,
    compute_indicators,
    entry_reason,
    indicator_jobs,
)

__all__ = ["BacktestError", "MarketData", "indicators_for", "load_market", "preload_compiled", "run_backtest", "simulate"]

Progress = Callable[[int, int], None]
DECIDE = 1  # PHASES within one timestamp: EXIT_FILL, DECIDE, ENTRY_FILL, STOP (maker_loop.py)
# Side.LONG is an attribute look-up on the Enum class (~0.2 us on Python 3.11) and the loop needs it
# at every event: compare against these instead.
LONG, SHORT = Side.LONG, Side.SHORT
# Bars (all symbols) from which `indicators_for` runs on threads: a pool costs ~0.1 ms to start, a
# month of 1m bars' indicators ~5 ms.
THREADED_FROM_BARS = 40_000
INDICATOR_THREADS: int | None = None  # threads of `indicators_for`; None: one per core (a sweep's pool workers: 1)


def run_backtest(settings: Settings, store: History, symbols: list[str], start_ms: int | None, end_ms: int | None,
                 timeframe: str | None = None, progress: Progress | None = None, loop: str = "auto") -> BacktestResult:
    """Load the data and simulate; see `simulate`."""
    data = load_market(settings, store, symbols, start_ms, end_ms, timeframe)
    snapshots = store.snapshots_between(data.start_ms - 86_400_000, data.end_ms) if settings.prediction.enabled else []
    return simulate(data, settings, progress=progress, snapshots=snapshots, loop=loop)


def indicators_for(data: MarketData, params: StrategyConfig, bars: dict | None = None) -> dict[str, Indicators]:
    """Indicators per symbol; reusable by every run whose `signals.engine.indicator_key` equals params'.

    A long run's indicators are computed on threads, one task per indicator of each symbol (the
    heaviest first, so that 2 cores end together: three symbol-years ~250 -> ~160 ms, where a task per
    symbol left one core idle for the third; one symbol-year ~90 -> ~50 ms). Each is a pure function
    of its symbol's arrays, and numpy and the kernels spend their time outside the GIL, so the values
    are the same as one after the other; a ValueError is the one the symbols in turn would raise first.

    `bars`, when given, is a `symbol_signals` cache: each symbol's `bar_base` is computed on the same
    threads into it (~7 ms a symbol-year that would otherwise run alone after them)."""
    frames = list(data.frames.items())
    threads = INDICATOR_THREADS or os.cpu_count() or 1
    if threads < 2 or sum(len(f) for _, f in frames) < THREADED_FROM_BARS:
        return {sym: compute_indicators(f.high, f.low, f.close, params) for sym, f in frames}
    named = {sym: indicator_jobs(f.high, f.low, f.close, params) for sym, f in frames}
    jobs = {(sym, name): job for sym, group in named.items() for name, job in group.items()}
    if bars is not None:
        jobs.update({(sym, "bars"): partial(bar_base, f, data) for sym, f in frames if bars_key(sym) not in bars})
    order = HEAVIEST_FIRST + ("bars",)
    results = _on_threads(jobs, threads, key=lambda job: order.index(job[1]))
    if bars is not None:
        bars.update({bars_key(sym): results[sym, name] for sym, name in results if name == "bars"})
    return {sym: assemble_indicators({name: results[sym, name] for name in group}) for sym, group in named.items()}


def _on_threads(jobs: dict, threads: int, key: Callable) -> dict:
    """Each job's result, the jobs run on `threads` threads in the order of `key`; an exception is the
    one the jobs in their given order would raise first."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        # Each task in a copy of this context: a path forced with indicators.use_path holds in the threads too.
        futures = {job: pool.submit(contextvars.copy_context().run, jobs[job]) for job in sorted(jobs, key=key)}
        return {job: futures[job].result() for job in jobs}


def simulate(data: MarketData, settings: Settings, indicators: dict[str, Indicators] | None = None,
             progress: Progress | None = None, snapshots: list | None = None, loop: str = "auto",
             refusals: list[tuple[str, int, str]] | None = None, shared: dict | None = None) -> BacktestResult:
    """Run the strategy over `data` on one account.

    Args:
        data: from `load_market` (or a `MarketData.slice` of it).
        settings: strategy, risk, execution and backtest sections are used.
        indicators: precomputed per symbol (a sweep shares them); computed when None.
        progress: called as progress(done, total); an exception raised from it aborts the run.
        snapshots: stored prediction snapshots to replay the regime from (see RegimeReplay).
        loop: which of the equal loops runs: "events" (engine.py, the reference) or "compiled"
            (fastloop.py for one symbol under a fixed regime; fastaccount.py for any other run; both
            with maker orders); "auto" picks the compiled one where it pays (loops.py).
        refusals: when given, every entry decision is appended as (symbol, bar, risk verdict or "ok")
            (the decision table, backtest/decisions.py); the event loop runs.
        shared: a dict a sweep hands to every run on the same data and indicators: the arrays that
            depend only on those and on some thresholds are kept in it (see `symbol_signals`).
    """
    keep_freed_arrays()  # half-million-element temporaries reuse memory instead of faulting pages in
    total = len(data.frames) + 1
    if indicators is None and refusals is None and loop == "auto":
        preload(data)
    cache = shared if shared is not None else {}
    if indicators is None:
        indicators = indicators_for(data, settings.strategy, bars=cache)
    signals = {}
    for n, (sym, frame) in enumerate(data.frames.items()):
        ind = indicators[sym]
        signals[sym] = (symbol_signals(frame, ind, settings.strategy, data, cache), ind)
        if progress:
            progress(n + 1, total)
    regime = RegimeReplay(settings, snapshots or [])
    if refusals is None and use_compiled(loop, signals):
        trades, cols, blocked, maker_report = run_compiled(signals, settings, regime, data)
    else:
        sim = _Simulation(data, settings, signals, regime, progress, total, refusals=refusals)
        trades = sim.run()
        cols = TradeColumns(trades)  # the trades' fields as arrays, pulled out once for both
        blocked = sim.blocked
        maker_report = sim.maker_report()
    times, equity = build_equity(data, {s: v[0] for s, v in signals.items()}, trades,
                                 settings.backtest.initial_equity, cols)
    metrics = compute_metrics(times, equity, trades, data.interval_ms, settings.backtest.initial_equity, cols)
    metrics["entries_blocked"] = dict(sorted(blocked.items()))
    metrics.update(maker_report)
    if progress:
        progress(total, total)
    return BacktestResult(trades=trades, times=times, values=equity, metrics=metrics, symbols=data.symbols,
                          timeframe=data.timeframe, start_ms=data.start_ms, end_ms=data.end_ms, columns=cols)


class _Position(NamedTuple):  # a tuple: one per trade, built in C rather than by an __init__
    side: Side
    sign: int  # side.sign, kept: a property call costs more than the arithmetic it feeds
    size: float
    bar: int  # entry bar (filled at its open)
    entry_ms: int  # that open
    price: float  # fill price after slippage
    fee: float
    stop: float
    reason: str
    expected: float
    plan: ExitPlan
    exit_ms: int  # when the planned exit happens


@dataclass(slots=True)
class _Symbol:
    name: str
    order: int
    sig: SymbolSignals
    ind: Indicators
    gen: int = 0  # bumps when the scheduled event is replaced; stale heap entries are skipped
    cursor: int = 0  # first bar whose close may take an entry decision
    scheduled: int | None = None  # the entry bar currently scheduled for a decision
    waiting: bool = False  # refused: exits elsewhere may lift the refusal
    pending: tuple[Side, int, int, float, str, Resting | None] | None = None  # side, decision bar, fill bar,
    # size factor, reason, and how its maker order ended (None: a taker entry)
    position: _Position | None = None
    maker: MakerRules | None = None  # this symbol's maker rules (its price ticks), when any order is a maker


@dataclass
class _Simulation(MakerLoop):
    data: MarketData
    settings: Settings
    signals: dict[str, tuple[SymbolSignals, Indicators]]
    regime: RegimeReplay
    progress: Progress | None
    total: int
    blocked: dict[str, int] = field(default_factory=dict)
    refusals: list[tuple[str, int, str]] | None = None

    def __post_init__(self) -> None:
        self.params = self.settings.strategy
        self.costs = CostModel.from_config(self.settings.execution)
        self.risk = BacktestRisk(self.settings, self.regime)
        self.delay = self.settings.execution.entry_delay_bars
        self.timeout_ms = self.risk.timeout_ms
        self.reasons = {side: entry_reason(side, self.params) for side in Side}  # the same two strings every entry
        self.cash = self.settings.backtest.initial_equity
        self.heap: list[tuple[int, int, int, int, str, int]] = []
        self.syms = [_Symbol(s, i, sig, ind) for i, (s, (sig, ind)) in enumerate(self.signals.items())]
        self._init_maker()
        self.trades: list[Trade] = []
        self.events = 0
        self.day: int | None = None

    # --- the loop ------------------------------------------------------------------------

    def run(self) -> list[Trade]:
        for s in self.syms:
            self._schedule_entry(s, 0)
        heap, syms, progress = self.heap, self.syms, self.progress  # locals: read at every event
        while heap:
            time, _, order, gen, kind, bar = heapq.heappop(heap)
            s = syms[order]
            if gen != s.gen:
                continue
            self.events += 1
            if time - time % DAY_MS != self.day:
                self._note_day(time)
            if progress and self.events % 4096 == 0:
                progress(self.total - 1, self.total)
            if kind == "decide":
                self._decide(s, bar, time)
            elif kind == "fill":
                self._fill_entry(s, bar)
            elif kind == "unrest":
                self._entry_gone(s, bar, time)
            else:
                self._exit(s)
        if len(self.syms) > 1:
            # One symbol holds one position at a time, so its exits come in entry order already.
            self.trades.sort(key=attrgetter("entry_time", "symbol"))
        return self.trades

    def _push(self, s: _Symbol, time: int, phase: int, kind: str, bar: int) -> None:
        s.gen += 1
        heapq.heappush(self.heap, (time, phase, s.order, s.gen, kind, bar))

    def _schedule_entry(self, s: _Symbol, cursor: int, not_before_ms: int | None = None) -> None:
        s.cursor = cursor
        k = s.sig.first_entry(cursor, not_before_ms)
        s.scheduled = k
        if k is None:
            s.gen += 1  # nothing left to decide: drop any stale entry
            return
        self._push(s, s.sig.close_time.item(k), DECIDE, "decide", k)

    # --- entries -------------------------------------------------------------------------

    def _decide(self, s: _Symbol, k: int, now: int) -> None:
        s.scheduled = None
        equity = self._equity(now)
        self.risk.note_equity(equity, now)
        check, regime = self.risk.check(s.name, self._open_symbols(), now)
        if self.refusals is not None:
            self.refusals.append((s.name, k, check.reason))
        if not check.allowed:
            self._refused(s, k, now, check)
            return
        s.waiting = False
        fill_bar = k + 1 + self.delay
        if fill_bar >= s.sig.n:
            return  # no bar left to fill on
        side = LONG if s.sig.long_entry.item(k) else SHORT
        if self.maker_entries:
            self._rest_entry(s, side, k, regime.size_factor)
            return
        s.pending = (side, k, fill_bar, regime.size_factor, self.reasons[side], None)
        if self.delay == 0:
            # Nothing can happen between a close and the next open at the same instant except other
            # symbols' decisions, which see this one as pending either way: fill now, skip the heap.
            # Nothing is booked in between either, so the equity just noted is the fill's equity.
            self._fill_entry(s, fill_bar, equity)
        else:
            self._push(s, s.sig.frame.time.item(fill_bar), ENTRY_FILL, "fill", fill_bar)

    def _refused(self, s: _Symbol, k: int, now: int, check) -> None:
        self.blocked[check.reason] = self.blocked.get(check.reason, 0) + 1
        s.waiting = True
        wake = self.risk.wake_after(check, s.name, now)
        if wake < NEVER:
            self._schedule_entry(s, k + 1, wake)
        else:
            s.cursor, s.scheduled = k + 1, None
            s.gen += 1

    def _fill_entry(self, s: _Symbol, f: int, equity: float | None = None) -> None:
        assert s.pending is not None
        side, k, _, size_factor, reason, rest = s.pending
        s.pending = None
        sig = s.sig
        if self.delay and not sig.entry_holds(side, f - 1):
            self.blocked["signal_gone"] = self.blocked.get("signal_gone", 0) + 1
            self._schedule_entry(s, f)  # cancel-if-signal-gone
            return
        now = sig.frame.time.item(f)
        long = side is LONG
        sign = 1 if long else -1
        maker = rest is not None and rest.outcome == FILLED
        expected = rest.price if maker else sig.frame.open.item(f)  # a maker fills at its limit, no slippage
        price = expected if maker else self.costs.fill_price(expected, sign, sig.bar_range.item(f - 1))
        size = self.risk.size(self._equity(now) if equity is None else equity, price, size_factor)
        if size <= 0:
            self.blocked["below_min_order"] = self.blocked.get("below_min_order", 0) + 1
            self._schedule_entry(s, f)
            return
        stop = self.risk.stop_price(side, price)
        plan = plan_exit(sig, side, f, stop, self.timeout_ms, s.maker if self.maker_exits else None)
        if plan.maker is not None:
            self.maker_counts.count("exit", plan.maker.outcome, plan.maker.reprices)
        when = sig.frame.time.item(plan.bar) if plan.reason != "end" else sig.close_time.item(plan.bar)
        s.position = _Position(side, sign, size, f, now, price, self._fee(size, price, maker), stop, reason,
                               expected, plan, when)
        self._push(s, when, STOP if plan.intrabar else EXIT_FILL, "exit", plan.bar)

    # --- exits ---------------------------------------------------------------------------

    def _exit(self, s: _Symbol) -> None:
        p = s.position
        assert p is not None
        s.position = None
        plan, sig, when = p.plan, s.sig, p.exit_ms
        x = plan.bar
        sign = p.sign
        maker = plan.maker is not None and plan.maker.outcome == FILLED
        price = plan.price if maker else self.costs.fill_price(plan.price, -sign,
                                                                sig.bar_range.item(x - 1) if x > 0 else 0.0)
        funding = fills.funding_paid(sign, p.size, sig.funding_cum.item(x) - sig.funding_cum.item(p.bar))
        fee_out = self._fee(p.size, price, maker)
        pnl = fills.trade_pnl(sign, p.size, p.price, price, p.fee, fee_out, funding)
        self.cash += pnl
        # Positional, in field order (symbol, side, size, entry_time, entry_price, mode, exit_time,
        # exit_price, stop_price, fees, funding, pnl, exit_reason, entry_reason, expected_entry_price,
        # expected_exit_price): keywords would cost a microsecond per trade.
        self.trades.append(Trade(
            s.name, p.side, p.size, p.entry_ms, p.price, "backtest", when, price, p.stop,
            p.fee + fee_out, funding, pnl, plan.reason, p.reason, p.expected, plan.price))
        self.risk.record_exit(s.name, pnl, plan.reason, when)
        if plan.intrabar:
            self._schedule_entry(s, x)  # a stop (or a maker fill) does not use up the bar's decision
            self._wake_waiting(when + 1)  # decisions at this very close came before the stop
        elif plan.reason != "end":
            self._schedule_entry(s, x)  # the exit bar's own close may enter again
            self._wake_waiting(when)

    def _wake_waiting(self, not_before_ms: int) -> None:
        """A slot freed or the day's pnl moved: refused symbols may ask again from now on."""
        for w in self.syms:
            if not w.waiting or w.position is not None or w.pending is not None:
                continue
            k = w.sig.first_entry(w.cursor, not_before_ms)
            if k is not None and (w.scheduled is None or k < w.scheduled):
                w.scheduled = k
                self._push(w, w.sig.close_time.item(k), DECIDE, "decide", k)

    # --- account -------------------------------------------------------------------------

    def _note_day(self, now: int) -> None:
        """At the first event of a UTC day, show the risk manager the equity before midnight.

        Live notes equity every tick; the start of a day is the equity at the last tick before
        midnight. Nothing of the new day has been booked yet when this runs.
        """
        day = now - now % DAY_MS
        if day != self.day:
            self.day = day
            self.risk.note_day(now, self._equity(day - 1))

    def _open_symbols(self) -> list[str]:
        return [s.name for s in self.syms if s.position is not None or s.pending is not None]

    def _equity(self, now: int) -> float:
        """Cash plus open positions marked at the last close at or before now (less fees, funding)."""
        eq = self.cash
        for s in self.syms:
            p = s.position
            if p is None:
                continue
            i = int(s.sig.close_time.searchsorted(now, side="right")) - 1
            if i < p.bar:
                eq -= p.fee
                continue
            mark = s.sig.frame.close.item(i)
            funding = fills.funding_paid(p.sign, p.size, s.sig.funding_cum.item(i) - s.sig.funding_cum.item(p.bar))
            eq += fills.trade_pnl(p.sign, p.size, p.price, mark, p.fee, 0.0, funding)
        return eq
