"""Provides the compiled event loop for a one-symbol backtest with a fixed regime.

Most backtests (and every combination of a one-symbol sweep) trade one symbol under a fixed
regime. Then the event loop of engine.py has no cross-symbol interplay to arbitrate and no
regime replay to consult, and its Python per event (tens of microseconds: ~0.4 s for a year of
a no-filter z-score strategy with 20,000 trades) is most of the run. This module is the same
loop, event for event, compiled with numba: the same events in the same order (an entry
decision at a close, its fill at an open, the exit planned at the fill), the same arithmetic
in the same order, and neither the risk rules nor the fill rules are re-implemented:
`perpbot.risk.rules` is the module `RiskManager` itself calls, `perpbot.execution.fills` the one
paper trading and the event loop call, both compiled here. Tests run both loops over randomised
series and configurations and compare trades, blocks and equity bit for bit.

numba is imported only when a backtest takes this path (or a sweep preloads it, see
`engine.preload_compiled`), and compiled functions are cached on disk (`perpbot.signals.jit`),
so only the first run of a version on a machine pays the compilation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from perpbot.backtest import fastmaker as _mk
from perpbot.backtest.columns import LazyTrades, TradeColumns
from perpbot.errors import StrategyError
from perpbot.execution import fills as _fills
from perpbot.models import Side, Trade
from perpbot.risk import rules as _rules
from perpbot.signals.engine import entry_reason
from perpbot.signals.jit import compiled
from perpbot.signals.prediction import Regime

if TYPE_CHECKING:
    from collections.abc import Sequence

    from perpbot.backtest.executor import SymbolSignals
    from perpbot.config import Settings
    from perpbot.signals.prediction import RegimeState

DAY_MS = _rules.DAY_MS
NEVER = 2**62
STOP_LOSS, SIGNAL, TIMEOUT, END = 0, 1, 2, 3
EXIT_REASONS = ("stop_loss", "signal", "timeout", "end")
# Blocked-entry counters: the risk verdicts, then the two the loop itself adds.
SIGNAL_GONE = len(_rules.VERDICTS)
BELOW_MIN_ORDER = SIGNAL_GONE + 1
BLOCK_REASONS = _rules.VERDICTS + ("signal_gone", "below_min_order")

_jit = compiled(nogil=True)
_inline = compiled(nogil=True, inline="always")
entry_verdict = _jit(_rules.entry_verdict)
roll_day = _jit(_rules.roll_day)
day_start_equity = _jit(_rules.day_start_equity)
loss_capped = _jit(_rules.loss_capped)
cooldown_end = _jit(_rules.cooldown_end)
position_size = _jit(_rules.position_size)
order_too_small = _jit(_rules.order_too_small)
stop_price = _jit(_rules.stop_price)
slip_fraction = _jit(_fills.slip_fraction)
fill_price = _jit(_fills.fill_price)
fee = _jit(_fills.fee)
funding_paid = _jit(_fills.funding_paid)
stop_touched = _jit(_fills.stop_touched)
stop_fill = _jit(_fills.stop_fill)
trade_pnl = _jit(_fills.trade_pnl)


class LoopParams(NamedTuple):
    """Everything the loop needs from the settings, as plain numbers."""

    delay: int  # execution.entry_delay_bars
    slippage: float  # execution.slippage_bps / 10,000
    volatility_slippage: float
    taker_fee: float
    initial_equity: float
    fixed: bool  # risk.sizing == "fixed"
    notional_usd: float
    position_fraction: float
    leverage: float
    min_order_usd: float
    stop_loss_pct: float
    daily_loss_limit_pct: float
    cooldown_minutes: float
    max_positions: int
    timeout_ms: int
    size_factor: float  # the fixed regime's
    crisis: bool  # the fixed regime is CRISIS: no entries
    maker_entries: bool  # execution.entry_order == "maker" (backtest/maker.py, fastmaker.py)
    maker_exits: bool
    fill_ticks: float
    maker_timeout: int
    fallback_taker: bool
    sz_decimals: int  # the symbol's, for the price ticks
    maker_fee: float


class LoopTrades(NamedTuple):
    """The trades as columns (entry order), plus the blocked-entry counts by BLOCK_REASONS."""

    entry_bar: np.ndarray
    exit_bar: np.ndarray
    entry_ms: np.ndarray
    exit_ms: np.ndarray
    sign: np.ndarray  # +1.0 long, -1.0 short
    size: np.ndarray
    entry_price: np.ndarray  # fill prices after slippage
    exit_price: np.ndarray
    expected_entry: np.ndarray  # before slippage
    expected_exit: np.ndarray
    stop: np.ndarray
    fees: np.ndarray
    funding: np.ndarray
    pnl: np.ndarray
    reason: np.ndarray  # index into EXIT_REASONS
    blocked: np.ndarray
    maker: np.ndarray  # maker order counts (fastmaker.py's layout)
    maker_fees: np.ndarray  # fees paid as maker, as taker


def run_symbol(symbol: str, sig: "SymbolSignals", settings: "Settings", regime: "RegimeState",
               sz_decimals: int = 0) -> tuple[LazyTrades, TradeColumns, dict[str, int], dict]:
    """The engine's `_Simulation.run` for one symbol under a fixed regime: trades, their columns
    (for the equity curve and metrics), the blocked-entry counts, and the maker report ({} in taker mode)."""
    params = loop_params(settings, float(regime.size_factor), regime.regime is Regime.CRISIS, sz_decimals)
    try:
        out = run(sig, params)
    except ValueError as exc:  # raised inside the compiled loop, where there is no symbol to name
        raise StrategyError(f"{symbol}: {exc}") from exc
    maker = _mk.report(out.maker, out.maker_fees) if params.maker_entries or params.maker_exits else {}
    return (*results([symbol], np.zeros(len(out.pnl), dtype=np.intp), out, settings), maker)


def loop_params(settings: "Settings", size_factor: float, crisis: bool, sz_decimals: int = 0) -> LoopParams:
    risk, ex = settings.risk, settings.execution
    return LoopParams(
        delay=ex.entry_delay_bars, slippage=_fills.slippage(ex.slippage_bps),
        volatility_slippage=ex.volatility_slippage, taker_fee=ex.taker_fee,
        initial_equity=float(settings.backtest.initial_equity), fixed=risk.sizing == "fixed",
        notional_usd=risk.notional_usd, position_fraction=risk.position_fraction, leverage=risk.leverage,
        min_order_usd=risk.min_order_usd, stop_loss_pct=risk.stop_loss_pct,
        daily_loss_limit_pct=risk.daily_loss_limit_pct, cooldown_minutes=risk.cooldown_minutes,
        max_positions=risk.max_positions, timeout_ms=_rules.timeout_ms(risk.position_timeout_hours),
        size_factor=size_factor, crisis=crisis,
        maker_entries=ex.entry_order == "maker", maker_exits=ex.exit_order == "maker",
        fill_ticks=float(ex.maker_fill_ticks), maker_timeout=ex.maker_timeout_bars,
        fallback_taker=ex.maker_fallback == "taker", sz_decimals=sz_decimals, maker_fee=ex.maker_fee)


def results(names: list[str], codes: np.ndarray, out: LoopTrades,
            settings: "Settings") -> tuple[LazyTrades, TradeColumns, dict[str, int]]:
    """A compiled loop's columns as a run's trades (built on first read), their TradeColumns and the
    blocked-entry counts; `codes` is each trade's index into `names`."""
    entry_reasons = (entry_reason(Side.LONG, settings.strategy), entry_reason(Side.SHORT, settings.strategy))
    trades = LazyTrades(len(out.pnl), lambda: _trades([names[c] for c in codes.tolist()], out, entry_reasons))
    cols = TradeColumns.from_arrays(trades, entry_time=out.entry_ms, exit_time=out.exit_ms, pnl=out.pnl,
                                    fees=out.fees, funding=out.funding, size=out.size, entry_price=out.entry_price,
                                    exit_price=out.exit_price, sign=out.sign, by_symbol=_groups(names, codes),
                                    exit_reason=_groups(EXIT_REASONS, out.reason), bars=(out.entry_bar, out.exit_bar))
    blocked = {BLOCK_REASONS[i]: n for i, n in enumerate(out.blocked.tolist()) if n}
    return trades, cols, blocked


def _groups(names: "Sequence[str]", codes: np.ndarray) -> tuple[list[str], np.ndarray]:
    """TradeColumns' grouping (the sorted names present, each trade's index among them) from codes
    into `names`."""
    if len(names) == 1:
        return [names[0]] if len(codes) else [], np.zeros(len(codes), dtype=np.intp)
    present = sorted(np.flatnonzero(np.bincount(codes, minlength=len(names))).tolist(), key=names.__getitem__)
    index = np.zeros(len(names), dtype=np.intp)
    index[present] = np.arange(len(present))
    return [names[i] for i in present], index[codes]


def _trades(symbols: list[str], out: LoopTrades, entry_reasons: tuple[str, str]) -> list[Trade]:
    long, short = (Side.LONG, entry_reasons[0]), (Side.SHORT, entry_reasons[1])
    sides = [long if sign > 0 else short for sign in out.sign.tolist()]
    reasons = [EXIT_REASONS[r] for r in out.reason.tolist()]
    # Positional, in Trade's field order (see engine._Simulation._exit).
    return [Trade(symbol, side, size, entry_ms, price, "backtest", exit_ms, exit_price, stop, fees, funding, pnl,
                  reason, why, expected_entry, expected_exit)
            for symbol, (side, why), size, entry_ms, price, exit_ms, exit_price, stop, fees, funding, pnl, reason,
            expected_entry, expected_exit in zip(symbols, sides, out.size.tolist(), out.entry_ms.tolist(),
                                                 out.entry_price.tolist(), out.exit_ms.tolist(),
                                                 out.exit_price.tolist(), out.stop.tolist(), out.fees.tolist(),
                                                 out.funding.tolist(), out.pnl.tolist(), reasons,
                                                 out.expected_entry.tolist(), out.expected_exit.tolist())]


def run(sig: "SymbolSignals", p: LoopParams) -> LoopTrades:
    """Simulate one symbol's precomputed signals."""
    f = sig.frame
    out = _loop(f.time, sig.close_time, f.open, f.high, f.low, f.close, sig.long_entry, sig.short_entry,
                sig.long_exit, sig.short_exit, sig.first, sig.funding_cum, sig.bar_range, *p)
    return LoopTrades(*out)


@_jit
def _first_entry(close_time, next_entry, cursor, not_before_ms):
    """The first entry bar >= cursor whose close is at or after not_before_ms (-1: none), from the
    event bars' look-up (executor.EventBars.next; fastaccount.py's loop, whose refused symbols ask
    again at every exit elsewhere)."""
    n = len(next_entry)
    if not_before_ms >= 0:
        cursor = max(cursor, np.searchsorted(close_time, not_before_ms, side="left"))
    if cursor >= n:
        return -1
    k = next_entry[cursor]
    return k if k < n else -1


@_inline
def _scan_entry(close_time, long_entry, short_entry, first, cursor, not_before_ms):
    """_first_entry read off the booleans: the first bar >= max(cursor, first) where either entry
    holds. One symbol's loop moves forward only, so its scans cover each bar about once (building
    the look-up cost more than the loop)."""
    if not_before_ms >= 0:
        cursor = max(cursor, np.searchsorted(close_time, not_before_ms, side="left"))
    for k in range(max(cursor, first), len(close_time)):
        if long_entry[k] or short_entry[k]:
            return k
    return -1


@_inline
def _plan_exit(time, close_time, open_, high, low, close, exits, long, entry_bar, stop, timeout_ms,
               maker_exits, fill_ticks, maker_timeout, sz_decimals):
    """(bar, reason, price before slippage, maker outcome, re-prices) of the exit: executor.plan_exit's rules,
    in one walk from the entry bar: a bar's stop comes before its close's decisions, and a timeout before
    a signal exit at the same close (`exits`: the side's exit signal per bar)."""
    n = len(time)
    sign = 1.0 if long else -1.0
    deadline = time[entry_bar] + timeout_ms
    decision_bar, reason = n, TIMEOUT  # n: no decision before the data ends
    if entry_bar > 0 and close_time[entry_bar - 1] >= deadline:
        # A timeout shorter than the gap to the entry's open (timeout_ms rounds to whole ms): it was
        # due before the entry bar, as executor.plan_exit's search finds, and no stop is checked.
        decision_bar = np.searchsorted(close_time, deadline, side="left")
    else:
        for j in range(entry_bar, n):
            if stop_touched(sign, low[j], high[j], stop):
                return j, STOP_LOSS, stop_fill(sign, open_[j], stop), _mk.NONE, 0
            if close_time[j] >= deadline:
                decision_bar = j
                break
            if exits[j]:
                decision_bar, reason = j, SIGNAL
                break
    if decision_bar < n - 1 and maker_exits:
        oc, x, price, reprices = _mk.rest_exit(open_, high, low, close, sign, decision_bar, stop, fill_ticks,
                                               maker_timeout, sz_decimals)
        if oc == _mk.CANCELLED:  # the stop fired while the exit rested
            reason = STOP_LOSS
        elif oc == _mk.END:
            reason = END
        return x, reason, price, oc, reprices
    if decision_bar < n - 1:
        return decision_bar + 1, reason, open_[decision_bar + 1], _mk.NONE, 0
    return n - 1, END, close[n - 1], _mk.NONE, 0


@_inline
def _room(columns, count):
    """`columns` with room for column `count`: twice as wide when full (the trade count is not known
    ahead; an upper bound would need a pass over the entries)."""
    if count < columns.shape[1]:
        return columns
    wider = np.empty((columns.shape[0], 2 * columns.shape[1]), columns.dtype)
    wider[:, :count] = columns[:, :count]
    return wider


@_inline
def _note_equity(l_day, l_start, l_real, l_last, equity, now):
    """RiskManager.note_equity on the ledger (day, start equity, realized, last equity seen)."""
    l_day, l_start, l_real = roll_day(l_day, l_start, l_real, l_last, now)
    return l_day, day_start_equity(l_start, equity, l_real), l_real, equity


@_jit
def _loop(time, close_time, open_, high, low, close, long_entry, short_entry, long_exit, short_exit, first,
          funding_cum, bar_range, delay, slippage, volatility_slippage, taker_fee,
          initial_equity, fixed, notional_usd, position_fraction, leverage, min_order_usd, stop_loss_pct,
          daily_loss_limit_pct, cooldown_minutes, max_positions, timeout_ms, size_factor, crisis, maker_entries,
          maker_exits, fill_ticks, maker_timeout, fallback_taker, sz_decimals, maker_fee_rate):
    n = len(time)
    maker = np.zeros(9, np.int64)  # fastmaker.py's counts
    maker_fees = np.zeros(2)  # paid as maker, as taker
    # The trades' columns (LoopTrades' order), grown as they fill: entry bar, exit bar, entry ms, exit ms,
    # reason; sign, size, entry price, exit price, expected entry, expected exit, stop, fees, funding, pnl.
    t_i = np.empty((5, 1024), np.int64)
    t_f = np.empty((10, 1024))
    blocked = np.zeros(len(BLOCK_REASONS), np.int64)

    cash = initial_equity
    # At the first event of a UTC day the ledger sees the equity just before midnight
    # (engine._note_day, BacktestRisk.note_day): `day` is the day of the last event.
    day = -1
    # RiskManager's ledger: day, start equity, realized pnl, last equity seen; and the cooldown.
    l_day, l_start, l_real, l_last = _rules.NO_DAY, np.nan, 0.0, np.nan
    cool_until = 0
    count = 0
    k = _scan_entry(close_time, long_entry, short_entry, first, 0, -1)
    while k >= 0:
        # --- an entry decision at bar k's close (flat: equity is the cash) ---
        now = close_time[k]
        if now - now % DAY_MS != day:
            day = now - now % DAY_MS
            l_day, l_start, l_real, l_last = _note_equity(l_day, l_start, l_real, l_last, cash, day - 1)
        l_day, l_start, l_real, l_last = _note_equity(l_day, l_start, l_real, l_last, cash, now)
        verdict = entry_verdict(False, False, False, 0, max_positions,
                                loss_capped(l_real, l_start, daily_loss_limit_pct), cool_until > now, crisis)
        if verdict != _rules.OK:
            blocked[verdict] += 1
            if verdict == _rules.COOLDOWN:
                wake = cool_until
            elif verdict == _rules.DAILY_LOSS_CAP:
                wake = now - now % DAY_MS + DAY_MS
            elif verdict == _rules.REGIME_CRISIS or verdict == _rules.MAX_POSITIONS:
                wake = NEVER  # a fixed regime never changes; one symbol never fills more slots
            else:
                wake = now + 1
            k = _scan_entry(close_time, long_entry, short_entry, first, k + 1, wake) if wake < NEVER else -1
            continue
        fb = k + 1 + delay
        if fb >= n:
            break  # no bar left to fill on
        long = bool(long_entry[k])
        sign = 1.0 if long else -1.0
        equity = cash
        maker_in = False
        if maker_entries:
            # A resting entry: engine.py's fill event at the open it fills in (or a taker fallback
            # crosses at), or its cancel event at the close it went, each noting the day first.
            oc, fb, limit, reprices = _mk.rest_entry(open_, high, low, close, long_entry if long else short_entry,
                                                     sign, k, fill_ticks, maker_timeout, fallback_taker, sz_decimals)
            _mk.count(maker, False, oc, reprices)
            t = time[fb] if oc == _mk.FILLED or oc == _mk.TAKER else close_time[fb]
            if t - t % DAY_MS != day:
                day = t - t % DAY_MS
                l_day, l_start, l_real, l_last = _note_equity(l_day, l_start, l_real, l_last, cash, day - 1)
            if oc != _mk.FILLED and oc != _mk.TAKER:
                k = _scan_entry(close_time, long_entry, short_entry, first, fb + 1, -1)
                continue
            maker_in = oc == _mk.FILLED
        elif delay > 0:
            # --- the fill event at bar fb's open ---
            t = time[fb]
            if t - t % DAY_MS != day:
                day = t - t % DAY_MS
                l_day, l_start, l_real, l_last = _note_equity(l_day, l_start, l_real, l_last, cash, day - 1)
            if not (long_entry[fb - 1] if long else short_entry[fb - 1]):
                blocked[SIGNAL_GONE] += 1  # cancel-if-signal-gone
                k = _scan_entry(close_time, long_entry, short_entry, first, fb, -1)
                continue
        expected = limit if maker_in else open_[fb]  # a maker fills at its limit, no slippage
        price = expected if maker_in else fill_price(expected, sign, slip_fraction(slippage, volatility_slippage,
                                                                                   bar_range[fb - 1]))
        if not (price > 0 and np.isfinite(price)):
            raise ValueError("an entry fill price that is not a positive number (check the candles' opens)")
        size = position_size(equity, price, size_factor, fixed, notional_usd, position_fraction, leverage)
        if order_too_small(size, price, min_order_usd):
            blocked[BELOW_MIN_ORDER] += 1
            k = _scan_entry(close_time, long_entry, short_entry, first, fb, -1)
            continue
        stop = stop_price(sign, price, stop_loss_pct)
        x, reason, planned, exit_oc, reprices = _plan_exit(
            time, close_time, open_, high, low, close, long_exit if long else short_exit, long, fb, stop,
            timeout_ms, maker_exits, fill_ticks, maker_timeout, sz_decimals)
        if exit_oc != _mk.NONE:
            _mk.count(maker, True, exit_oc, reprices)
        when = close_time[x] if reason == END else time[x]
        fee_in = _mk.maker_fee(size, price, maker_fee_rate) if maker_in else fee(size, price, taker_fee)
        maker_fees[0 if maker_in else 1] += fee_in
        # --- the exit event ---
        if when - when % DAY_MS != day:
            day = when - when % DAY_MS
            # The equity just before midnight, with this position marked at the last close before it.
            eq = cash
            i = np.searchsorted(close_time, day - 1, side="right") - 1
            if i < fb:
                eq -= fee_in
            else:
                paid = funding_paid(sign, size, funding_cum[i] - funding_cum[fb])
                eq += trade_pnl(sign, size, price, close[i], fee_in, 0.0, paid)
            l_day, l_start, l_real, l_last = _note_equity(l_day, l_start, l_real, l_last, eq, day - 1)
        maker_out = exit_oc == _mk.FILLED
        slip = slip_fraction(slippage, volatility_slippage, bar_range[x - 1] if x > 0 else 0.0)
        out_price = planned if maker_out else fill_price(planned, -sign, slip)
        funding = funding_paid(sign, size, funding_cum[x] - funding_cum[fb])
        fee_out = _mk.maker_fee(size, out_price, maker_fee_rate) if maker_out else fee(size, out_price, taker_fee)
        maker_fees[0 if maker_out else 1] += fee_out
        pnl = trade_pnl(sign, size, price, out_price, fee_in, fee_out, funding)
        if not np.isfinite(pnl):
            raise ValueError("a non-finite pnl (check the candles and funding rates)")
        cash += pnl
        t_i, t_f = _room(t_i, count), _room(t_f, count)
        t_i[0, count], t_i[1, count], t_i[2, count], t_i[3, count], t_i[4, count] = fb, x, time[fb], when, reason
        t_f[0, count], t_f[1, count], t_f[2, count], t_f[3, count] = sign, size, price, out_price
        t_f[4, count], t_f[5, count], t_f[6, count] = expected, planned, stop
        t_f[7, count], t_f[8, count], t_f[9, count] = fee_in + fee_out, funding, pnl
        count += 1
        # RiskManager.record_exit: the day's realized pnl, and a cooldown after a stop loss.
        l_day, l_start, l_real = roll_day(l_day, l_start, l_real, l_last, when)
        l_real += pnl
        if reason == STOP_LOSS and cooldown_minutes > 0:
            cool_until = max(cool_until, cooldown_end(when, cooldown_minutes))
        # A stop does not use up its bar's decision; a signal or timeout exit at x's open leaves
        # x's close free too. After `end` there is nothing left.
        k = _scan_entry(close_time, long_entry, short_entry, first, x, -1) if reason != END else -1
    c = count
    return (t_i[0, :c], t_i[1, :c], t_i[2, :c], t_i[3, :c], t_f[0, :c], t_f[1, :c], t_f[2, :c], t_f[3, :c],
            t_f[4, :c], t_f[5, :c], t_f[6, :c], t_f[7, :c], t_f[8, :c], t_f[9, :c], t_i[4, :c].astype(np.int8),
            blocked, maker, maker_fees)
