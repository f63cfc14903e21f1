"""Provides the performance metrics of an equity curve and its trades.

Returns are per bar; Sharpe and Sortino are annualised with the number of bars in 365 days
(crypto trades every day) and a zero risk-free rate. Drawdowns are measured on the bar
closes. Ratios with no defined value (no trades, no losing trade, a flat curve) are None
rather than a made-up number.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from perpbot.backtest.columns import TradeColumns, sum_in_order
from perpbot.clock import DAY_MS
from perpbot.models import Trade

YEAR_MS = 365 * DAY_MS


def compute_metrics(times: np.ndarray, equity: np.ndarray, trades: list[Trade], interval_ms: int,
                    initial_equity: float, cols: TradeColumns | None = None) -> dict[str, Any]:
    """Every figure `perpbot backtest` reports (see the module docstring for conventions).

    `cols` are the trades' columns when the caller has them already (build_equity shares them).
    """
    cols = cols if cols is not None else TradeColumns(trades)
    out: dict[str, Any] = {"initial_equity": float(initial_equity)}
    final = float(equity[-1]) if len(equity) else float(initial_equity)
    out["final_equity"] = final
    out["total_return"] = final / initial_equity - 1.0
    span_ms = (int(times[-1]) - int(times[0]) + interval_ms) if len(times) else 0
    out["cagr"] = _cagr(initial_equity, final, span_ms)
    out.update(_curve(times, equity, initial_equity, interval_ms))
    out.update(trade_stats(cols))
    out["exposure"] = _time_in_market(cols) / span_ms if span_ms else 0.0
    out["by_symbol"] = _breakdown(cols, *cols.by_symbol)
    out["by_exit_reason"] = _breakdown(cols, *cols.by_exit_reason)
    return out


def trade_stats(cols: TradeColumns) -> dict[str, Any]:
    pnls = cols.pnl
    wins, losses = pnls[pnls > 0], pnls[pnls <= 0]
    gross_loss = -float(losses.sum())
    holds = cols.exit_time - cols.entry_time  # int64, as np.mean made of the list of ints before
    return {
        "trades": cols.n,
        "win_rate": float(len(wins) / len(pnls)) if len(pnls) else None,
        "profit_factor": float(wins.sum()) / gross_loss if gross_loss > 0 else None,
        "expectancy": float(pnls.mean()) if len(pnls) else None,
        "net_pnl": float(pnls.sum()),
        "avg_hold_ms": float(np.mean(holds)) if len(holds) else None,
        "fees": sum_in_order(cols.fees),
        "funding": sum_in_order(cols.funding),
    }


def _time_in_market(cols: TradeColumns) -> int:
    """Milliseconds with at least one position open (overlaps across symbols counted once)."""
    if not cols.n:
        return 0
    start, stop = cols.entry_time, cols.exit_time
    order = np.lexsort((stop, start))
    start, stop = start[order], stop[order]
    # In start order, each stretch adds what reaches past the latest stop before it (integers: exact).
    covered = np.r_[np.iinfo(np.int64).min, np.maximum.accumulate(stop)[:-1]]
    return int(np.maximum(stop - np.maximum(start, covered), 0).sum())


def _cagr(initial: float, final: float, span_ms: int) -> float | None:
    if span_ms <= 0 or initial <= 0 or final <= 0:
        return None
    return (final / initial) ** (YEAR_MS / span_ms) - 1.0


def compiled_metrics() -> Any:
    """fastmetrics.py once `preload_compiled` has loaded it (numba loaded), else None: the numpy here."""
    module = sys.modules.get("perpbot.backtest.fastmetrics")
    return module if module is not None and module.LOADED.is_set() else None


def _curve(times: np.ndarray, equity: np.ndarray, initial: float, interval_ms: int) -> dict[str, Any]:
    """Sharpe, Sortino and the drawdown figures: compiled when loaded (the same floats), else numpy."""
    fast = compiled_metrics()
    if fast is not None:
        figures = fast.curve_metrics(times, equity, initial, math.sqrt(YEAR_MS / interval_ms))
        if figures is not None:
            return figures
    return {**_ratios(equity, initial, interval_ms), **_drawdown(times, equity)}


def _ratios(equity: np.ndarray, initial: float, interval_ms: int) -> dict[str, float | None]:
    if len(equity) < 2:
        return {"sharpe": None, "sortino": None}
    curve = np.r_[initial, equity]
    with np.errstate(divide="ignore", invalid="ignore"):
        # np.diff(curve) / curve[:-1], in one buffer (a fresh half-million array costs its page faults)
        rets = np.subtract(curve[1:], curve[:-1])
        np.divide(rets, curve[:-1], out=rets)
    finite = np.isfinite(rets)
    if not finite.all():
        rets = rets[finite]
    per_year = math.sqrt(YEAR_MS / interval_ms)
    sd = float(rets.std(ddof=1)) if len(rets) > 1 else 0.0
    mean = float(rets.mean()) if len(rets) else 0.0
    downside = np.minimum(rets, 0.0)
    dd = float(math.sqrt(np.mean(np.square(downside, out=downside)))) if len(rets) else 0.0
    return {
        "sharpe": mean / sd * per_year if sd > 0 else None,
        "sortino": mean / dd * per_year if dd > 0 else None,
    }


def _drawdown(times: np.ndarray, equity: np.ndarray) -> dict[str, float | int]:
    if len(equity) == 0:
        return {"max_drawdown": 0.0, "max_drawdown_duration_ms": 0}
    peak = np.maximum.accumulate(equity)
    return {"max_drawdown": _max_drawdown(equity, peak),
            "max_drawdown_duration_ms": _longest_under(times, equity, peak)}


def _max_drawdown(equity: np.ndarray, peak: np.ndarray) -> float:
    """The deepest fall below the running peak, as a fraction: -min(equity / peak - 1) where peak > 0."""
    if peak[0] > 0:
        # The peak only rises, so it is positive throughout; and rounding is monotonic, so the
        # lowest (ratio - 1) is (lowest ratio) - 1, bit for bit: one pass over the bars, not four.
        lowest = float((equity / peak).min())
        if not math.isnan(lowest):  # NaN (a NaN or inf in the curve): the general form decides
            return -(lowest - 1.0)
    dd = np.where(peak > 0, equity / peak - 1.0, 0.0)
    return float(-dd.min())


def _longest_under(times: np.ndarray, equity: np.ndarray, peak: np.ndarray) -> int:
    """The longest stretch spent below a previous peak (until it is regained), in ms."""
    at_peak = equity >= peak
    peak_time = np.maximum.accumulate(np.where(at_peak, times, times[0]))
    under = np.subtract(times, peak_time, out=peak_time)  # in place: one half-million array fewer
    under[at_peak] = 0
    return int(under.max())


def _breakdown(cols: TradeColumns, names: list[str], codes: np.ndarray) -> dict[str, dict[str, Any]]:
    """Per group (`codes` index `names`, which are sorted): count, pnl, win rate, fees, funding.

    bincount adds each group's values in trade order from 0.0, which is what `sum` over the
    group's list did: the same floats to the last bit.
    """
    k = len(names)

    def total(weights: np.ndarray) -> list[float]:
        return np.bincount(codes, weights=weights, minlength=k).tolist()

    counts = np.bincount(codes, minlength=k).tolist()
    wins = np.bincount(codes[cols.pnl > 0], minlength=k).tolist()
    pnl, fees, funding = total(cols.pnl), total(cols.fees), total(cols.funding)
    return {name: {"trades": counts[i], "pnl": pnl[i], "win_rate": wins[i] / counts[i], "fees": fees[i],
                   "funding": funding[i]} for i, name in enumerate(names)}
