"""Provides the compiled event loop for any backtest: several symbols on one account, a replayed regime.

engine.py's `_Simulation` is the readable reference; this is the same loop compiled with numba,
event for event: a heap of (time, phase, symbol, generation, kind, bar) in the same order, the
same refusals with the same wake-up times, the same equity marks, the same risk rules
(`perpbot.risk.rules`) and fill rules (`perpbot.execution.fills`), compiled rather than restated.
The regime comes as a `RegimeTimeline` (risk_adapter.py): the classifier's replay as tables, so
the loop asks the regime at exactly the times the event loop does and gets the same answer.

The symbols' arrays are concatenated (one copy, a few tens of ms for three years of 1m bars):
numba compiles one loop for any number of symbols that way, where a tuple per symbol count would
compile again for each. One-symbol runs under a fixed regime take fastloop.py's simpler loop.

Maker orders (maker_loop.py) take fastmaker.py's walks: a resting entry's end is known when it is
placed, so, as in the event loop, it is one event: its fill at that open (phase ENTRY_FILL), or its
cancel or expiry at that close (phase EXIT_FILL, told from an exit by the symbol's pending order),
which frees the slot before that close's decisions. A maker exit fill is inside its bar, like a stop.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

import numpy as np

from perpbot.backtest import fastloop as fl
from perpbot.backtest import fastmaker as _mk
from perpbot.errors import StrategyError
from perpbot.risk import rules as _rules

if TYPE_CHECKING:
    from perpbot.backtest.columns import LazyTrades, TradeColumns
    from perpbot.backtest.executor import SymbolSignals
    from perpbot.backtest.risk_adapter import RegimeTimeline
    from perpbot.config import Settings

_jit = fl._jit
NEVER = fl.NEVER
EXIT_FILL, DECIDE, ENTRY_FILL, STOP = 0, 1, 2, 3  # engine.PHASES, and the event kinds by the same numbers
# Per-symbol state: integers and floats, one row per symbol (columns named below).
# PEND_OC / PEND_LIMIT: how a resting maker entry ended and at what limit; EXIT_OC: the maker exit's outcome.
GEN, CURSOR, SCHEDULED, WAITING, PENDING, PEND_LONG, PEND_FILL, OPEN, BAR, ENTRY_MS, PLAN_BAR, PLAN_REASON, \
    EXIT_MS, PEND_OC, EXIT_OC = range(15)
PEND_FACTOR, SIGN, SIZE, PRICE, FEE, STOP_PRICE, EXPECTED, PLAN_PRICE, PEND_LIMIT = range(9)
_ARRAYS = ("time", "close_time", "open", "high", "low", "close", "long_entry", "short_entry", "next_entry",
           "long_exit", "short_exit", "funding_cum", "bar_range")


def run_account(signals: dict[str, "SymbolSignals"], settings: "Settings", timeline: "RegimeTimeline",
                sz_decimals: dict[str, int] | None = None) -> tuple["LazyTrades", "TradeColumns", dict[str, int], dict]:
    """engine._Simulation.run, compiled: trades (sorted as the event loop sorts them), their columns,
    the blocked-entry counts and the maker report ({} in taker mode); `sz_decimals`: each symbol's, for
    a maker order's price ticks (0 where missing)."""
    names = list(signals)
    sigs = list(signals.values())
    off = np.zeros(len(sigs) + 1, dtype=np.int64)
    np.cumsum([s.n for s in sigs], out=off[1:])
    arrays = [np.concatenate([_array(s, name) for s in sigs]) for name in _ARRAYS]
    capacity = sum(len(s.entry_bars) for s in sigs) + 1
    p = fl.loop_params(settings, 1.0, False)
    taker = p[:p._fields.index("size_factor")]  # the regime comes from the timeline
    maker = (p.maker_entries, p.maker_exits, p.fill_ticks, p.maker_timeout, p.fallback_taker, p.maker_fee)
    ticks = np.array([(sz_decimals or {}).get(name, 0) for name in names], dtype=np.int64)
    try:
        *cols, codes = _loop(off, *arrays, *timeline, capacity, settings.risk.global_cooldown, *taker, *maker, ticks)
    except ValueError as exc:  # raised inside the compiled loop
        raise StrategyError(str(exc)) from exc
    out = fl.LoopTrades(*cols)
    if len(names) > 1:  # the event loop sorts by (entry time, symbol)
        rank = np.argsort(np.argsort(names))
        order = np.lexsort((rank[codes], out.entry_ms))
        per_trade = out[:out._fields.index("blocked")]
        out = fl.LoopTrades(*(c[order] for c in per_trade), out.blocked, out.maker, out.maker_fees)
        codes = codes[order]
    report = _mk.report(out.maker, out.maker_fees) if p.maker_entries or p.maker_exits else {}
    return (*fl.results(names, codes, out, settings), report)


def _array(sig: "SymbolSignals", name: str) -> np.ndarray:
    return getattr(sig.frame, name) if name in ("time", "open", "high", "low", "close") else getattr(sig, name)


@_jit
def _regime_at(now, fed, cur, starts, polls, step):
    """RegimeReplay.at: feed the polls up to now, then update at now. Returns (fed, regime index)."""
    while fed < len(polls) and starts[polls[fed]] <= now:
        cur = step[polls[fed], cur]
        fed += 1
    return fed, step[np.searchsorted(starts, now, side="right") - 1, cur]


@_jit
def _push(heap, st, s, time, phase, bar):
    st[s, GEN] += 1
    heapq.heappush(heap, (time, phase, s, st[s, GEN], bar))


@_jit
def _schedule(heap, st, s, cursor, not_before, off, close_time, next_entry):
    """engine._schedule_entry."""
    o, e = off[s], off[s + 1]
    st[s, CURSOR] = cursor
    k = fl._first_entry(close_time[o:e], next_entry[o:e], cursor, not_before)
    st[s, SCHEDULED] = k
    if k < 0:
        st[s, GEN] += 1  # nothing left to decide: drop any stale entry
    else:
        _push(heap, st, s, close_time[o + k], DECIDE, k)


@_jit
def _wake_waiting(heap, st, not_before, off, close_time, next_entry):
    """engine._wake_waiting: a slot freed or the day's pnl moved."""
    for w in range(len(st)):
        if not st[w, WAITING] or st[w, OPEN] or st[w, PENDING]:
            continue
        o, e = off[w], off[w + 1]
        k = fl._first_entry(close_time[o:e], next_entry[o:e], st[w, CURSOR], not_before)
        if k >= 0 and (st[w, SCHEDULED] < 0 or k < st[w, SCHEDULED]):
            st[w, SCHEDULED] = k
            _push(heap, st, w, close_time[o + k], DECIDE, k)


@_jit
def _equity(now, cash, st, pf, off, close_time, close, funding_cum):
    """engine._equity: cash plus open positions marked at the last close at or before now."""
    eq = cash
    for s in range(len(st)):
        if not st[s, OPEN]:
            continue
        o, e = off[s], off[s + 1]
        i = np.searchsorted(close_time[o:e], now, side="right") - 1
        if i < st[s, BAR]:
            eq -= pf[s, FEE]
            continue
        sign, size = pf[s, SIGN], pf[s, SIZE]
        paid = fl.funding_paid(sign, size, funding_cum[o + i] - funding_cum[o + st[s, BAR]])
        eq += fl.trade_pnl(sign, size, pf[s, PRICE], close[o + i], pf[s, FEE], 0.0, paid)
    return eq


@_jit
def _loop(off, time, close_time, open_, high, low, close, long_entry, short_entry, next_entry, long_exit,
          short_exit, funding_cum, bar_range, starts, polls, step, factor, crisis, regime, max_age_ms,
          replaying, capacity, global_cooldown, delay, slippage, volatility_slippage, taker_fee, initial_equity,
          fixed, notional_usd, position_fraction, leverage, min_order_usd, stop_loss_pct, daily_loss_limit_pct,
          cooldown_minutes, max_positions, timeout_ms, maker_entries, maker_exits, fill_ticks, maker_timeout,
          fallback_taker, maker_fee_rate, sz_decimals):
    n_sym = len(off) - 1
    t_i = np.empty((7, capacity), np.int64)  # entry bar, exit bar, entry ms, exit ms, reason, symbol, (spare)
    t_f = np.empty((10, capacity))  # sign, size, entry, exit, expected entry, expected exit, stop, fees, funding, pnl
    blocked = np.zeros(len(fl.BLOCK_REASONS), np.int64)
    st = np.zeros((n_sym, 15), np.int64)
    pf = np.zeros((n_sym, 9))
    maker = np.zeros(9, np.int64)  # fastmaker.py's counts
    maker_fees = np.zeros(2)  # paid as maker, as taker (added in event order, as the event loop adds them)
    cool = np.zeros(n_sym + 1, np.int64)  # cooldown ends per symbol, the last one for all symbols
    cash = initial_equity
    day = -1
    l_day, l_start, l_real, l_last = _rules.NO_DAY, np.nan, 0.0, np.nan
    fed = 0
    count = 0
    heap = [(np.int64(0), np.int64(0), np.int64(0), np.int64(0), np.int64(0))]
    heap.pop()
    for s in range(n_sym):
        _schedule(heap, st, s, 0, -1, off, close_time, next_entry)
    while len(heap):
        now, kind, s, gen, bar = heapq.heappop(heap)
        if gen != st[s, GEN]:
            continue
        o, n = off[s], off[s + 1] - off[s]
        if now - now % fl.DAY_MS != day:  # engine._note_day
            day = now - now % fl.DAY_MS
            eq = _equity(day - 1, cash, st, pf, off, close_time, close, funding_cum)
            l_day, l_start, l_real, l_last = fl._note_equity(l_day, l_start, l_real, l_last, eq, day - 1)
        equity = np.nan
        if kind == EXIT_FILL and st[s, PENDING]:  # maker_loop._entry_gone: a resting entry cancelled or expired
            st[s, PENDING] = 0
            _schedule(heap, st, s, bar + 1, -1, off, close_time, next_entry)
            _wake_waiting(heap, st, now, off, close_time, next_entry)
            continue
        if kind == DECIDE:
            st[s, SCHEDULED] = -1
            equity = _equity(now, cash, st, pf, off, close_time, close, funding_cum)
            l_day, l_start, l_real, l_last = fl._note_equity(l_day, l_start, l_real, l_last, equity, now)
            fed, regime = _regime_at(now, fed, regime, starts, polls, step)
            n_open = 0
            for w in range(n_sym):
                if st[w, OPEN] or st[w, PENDING]:
                    n_open += 1
            cool_until = max(cool[s], cool[n_sym])
            verdict = fl.entry_verdict(False, False, st[s, OPEN] + st[s, PENDING] > 0, n_open, max_positions,
                                       fl.loss_capped(l_real, l_start, daily_loss_limit_pct), cool_until > now,
                                       crisis[regime])
            if verdict != _rules.OK:  # engine._refused, BacktestRisk.wake_after
                blocked[verdict] += 1
                st[s, WAITING] = 1
                wake = now + 1
                if verdict == _rules.COOLDOWN:
                    wake = cool_until
                elif verdict == _rules.DAILY_LOSS_CAP:
                    wake = now - now % fl.DAY_MS + fl.DAY_MS
                elif verdict == _rules.MAX_POSITIONS or verdict == _rules.REGIME_CRISIS and not replaying:
                    wake = NEVER
                elif verdict == _rules.REGIME_CRISIS:
                    wake = min(starts[polls[fed]] if fed < len(polls) else NEVER, now + max_age_ms)
                if wake < NEVER:
                    _schedule(heap, st, s, bar + 1, wake, off, close_time, next_entry)
                else:
                    st[s, CURSOR], st[s, SCHEDULED] = bar + 1, -1
                    st[s, GEN] += 1
                continue
            st[s, WAITING] = 0
            fb = bar + 1 + delay
            if fb >= n:
                continue  # no bar left to fill on
            st[s, PENDING], st[s, PEND_LONG], st[s, PEND_FILL] = 1, long_entry[o + bar], fb
            pf[s, PEND_FACTOR] = factor[regime]
            st[s, PEND_OC] = _mk.NONE
            if maker_entries:  # maker_loop._rest_entry: its end is known now, one event for it
                e = off[s + 1]
                holds = long_entry if long_entry[o + bar] else short_entry
                oc, j, limit, reprices = _mk.rest_entry(open_[o:e], high[o:e], low[o:e], close[o:e], holds[o:e],
                                                        1.0 if long_entry[o + bar] else -1.0, bar, fill_ticks,
                                                        maker_timeout, fallback_taker, sz_decimals[s])
                _mk.count(maker, False, oc, reprices)
                st[s, PEND_OC], st[s, PEND_FILL], pf[s, PEND_LIMIT] = oc, j, limit
                if oc == _mk.FILLED or oc == _mk.TAKER:
                    _push(heap, st, s, time[o + j], ENTRY_FILL, j)
                else:  # cancelled or expired at that close: the slot frees before its decisions
                    _push(heap, st, s, close_time[o + j], EXIT_FILL, j)
                continue
            if delay > 0:
                _push(heap, st, s, time[o + fb], ENTRY_FILL, fb)
                continue
            kind, bar = ENTRY_FILL, fb  # fill now with the equity just noted
        if kind == ENTRY_FILL:  # engine._fill_entry
            st[s, PENDING] = 0
            long = st[s, PEND_LONG] == 1
            if delay > 0 and not (long_entry[o + bar - 1] if long else short_entry[o + bar - 1]):
                blocked[fl.SIGNAL_GONE] += 1  # cancel-if-signal-gone
                _schedule(heap, st, s, bar, -1, off, close_time, next_entry)
                continue
            maker_in = st[s, PEND_OC] == _mk.FILLED
            expected = pf[s, PEND_LIMIT] if maker_in else open_[o + bar]  # a maker fills at its limit, no slippage
            sign = 1.0 if long else -1.0
            price = expected if maker_in else fl.fill_price(expected, sign, fl.slip_fraction(
                slippage, volatility_slippage, bar_range[o + bar - 1]))
            if not (price > 0 and np.isfinite(price)):
                raise ValueError("an entry fill price that is not a positive number (check the candles' opens)")
            if np.isnan(equity):
                equity = _equity(time[o + bar], cash, st, pf, off, close_time, close, funding_cum)
            size = fl.position_size(equity, price, pf[s, PEND_FACTOR], fixed, notional_usd, position_fraction,
                                    leverage)
            if fl.order_too_small(size, price, min_order_usd):
                blocked[fl.BELOW_MIN_ORDER] += 1
                _schedule(heap, st, s, bar, -1, off, close_time, next_entry)
                continue
            stop = fl.stop_price(sign, price, stop_loss_pct)
            e = off[s + 1]
            x, reason, planned, exit_oc, reprices = fl._plan_exit(
                time[o:e], close_time[o:e], open_[o:e], high[o:e], low[o:e], close[o:e],
                (long_exit if long else short_exit)[o:e], long, bar, stop, timeout_ms, maker_exits, fill_ticks,
                maker_timeout, sz_decimals[s])
            if exit_oc != _mk.NONE:
                _mk.count(maker, True, exit_oc, reprices)
            when = close_time[o + x] if reason == fl.END else time[o + x]
            fee_in = _mk.maker_fee(size, price, maker_fee_rate) if maker_in else fl.fee(size, price, taker_fee)
            maker_fees[0 if maker_in else 1] += fee_in
            st[s, OPEN], st[s, BAR], st[s, ENTRY_MS] = 1, bar, time[o + bar]
            st[s, PLAN_BAR], st[s, PLAN_REASON], st[s, EXIT_MS] = x, reason, when
            st[s, EXIT_OC] = exit_oc
            pf[s, SIGN], pf[s, SIZE], pf[s, PRICE], pf[s, FEE] = sign, size, price, fee_in
            pf[s, STOP_PRICE], pf[s, EXPECTED], pf[s, PLAN_PRICE] = stop, expected, planned
            # ExitPlan.intrabar: a stop or a maker fill happens inside its bar (the last phase).
            intrabar = reason == fl.STOP_LOSS or exit_oc == _mk.FILLED
            _push(heap, st, s, when, STOP if intrabar else EXIT_FILL, x)
            continue
        # --- an exit: engine._exit ---
        st[s, OPEN] = 0
        x, reason, when = st[s, PLAN_BAR], st[s, PLAN_REASON], st[s, EXIT_MS]
        sign, size, price, fee_in = pf[s, SIGN], pf[s, SIZE], pf[s, PRICE], pf[s, FEE]
        maker_out = st[s, EXIT_OC] == _mk.FILLED
        slip = fl.slip_fraction(slippage, volatility_slippage, bar_range[o + x - 1] if x > 0 else 0.0)
        out_price = pf[s, PLAN_PRICE] if maker_out else fl.fill_price(pf[s, PLAN_PRICE], -sign, slip)
        funding = fl.funding_paid(sign, size, funding_cum[o + x] - funding_cum[o + st[s, BAR]])
        fee_out = _mk.maker_fee(size, out_price, maker_fee_rate) if maker_out else fl.fee(size, out_price, taker_fee)
        maker_fees[0 if maker_out else 1] += fee_out
        pnl = fl.trade_pnl(sign, size, price, out_price, fee_in, fee_out, funding)
        if not np.isfinite(pnl):
            raise ValueError("a non-finite pnl (check the candles and funding rates)")
        cash += pnl
        t_i[0, count], t_i[1, count], t_i[2, count], t_i[3, count] = st[s, BAR], x, st[s, ENTRY_MS], when
        t_i[4, count], t_i[5, count] = reason, s
        t_f[0, count], t_f[1, count], t_f[2, count], t_f[3, count] = sign, size, price, out_price
        t_f[4, count], t_f[5, count], t_f[6, count] = pf[s, EXPECTED], pf[s, PLAN_PRICE], pf[s, STOP_PRICE]
        t_f[7, count], t_f[8, count], t_f[9, count] = fee_in + fee_out, funding, pnl
        count += 1
        # RiskManager.record_exit: the day's realized pnl, and a cooldown after a stop loss.
        l_day, l_start, l_real = fl.roll_day(l_day, l_start, l_real, l_last, when)
        l_real += pnl
        if reason == fl.STOP_LOSS and cooldown_minutes > 0:
            until = fl.cooldown_end(when, cooldown_minutes)
            cool[s] = max(cool[s], until)
            if global_cooldown:
                cool[n_sym] = max(cool[n_sym], until)
        if reason != fl.END:
            _schedule(heap, st, s, x, -1, off, close_time, next_entry)  # the exit bar's close may enter again
            # Decisions at this very close came before a stop (STOP is the last phase).
            _wake_waiting(heap, st, when + 1 if reason == fl.STOP_LOSS or maker_out else when, off, close_time,
                          next_entry)
    c = count
    return (t_i[0, :c], t_i[1, :c], t_i[2, :c], t_i[3, :c], t_f[0, :c], t_f[1, :c], t_f[2, :c], t_f[3, :c],
            t_f[4, :c], t_f[5, :c], t_f[6, :c], t_f[7, :c], t_f[8, :c], t_f[9, :c], t_i[4, :c].astype(np.int8),
            blocked, maker, maker_fees, t_i[5, :c].copy())
