"""Provides the performance metrics of an equity curve and its trades.

Returns are per bar; Sharpe and Sortino are annualised with the number of bars in 365 days
(crypto trades every day) and a zero risk-free rate. Drawdowns are measured on the bar
closes. Ratios with no defined value (no trades, no losing trade, a flat curve) are None
rather than a made-up number.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from perpbot.clock import DAY_MS
from perpbot.models import Trade

YEAR_MS = 365 * DAY_MS


def compute_metrics(times: np.ndarray, equity: np.ndarray, trades: list[Trade], interval_ms: int,
                    initial_equity: float) -> dict[str, Any]:
    """Every figure `perpbot backtest` reports (see the module docstring for conventions)."""
    out: dict[str, Any] = {"initial_equity": float(initial_equity)}
    final = float(equity[-1]) if len(equity) else float(initial_equity)
    out["final_equity"] = final
    out["total_return"] = final / initial_equity - 1.0
    span_ms = (int(times[-1]) - int(times[0]) + interval_ms) if len(times) else 0
    out["cagr"] = _cagr(initial_equity, final, span_ms)
    out.update(_ratios(equity, initial_equity, interval_ms))
    out.update(_drawdown(times, equity))
    out.update(trade_stats(trades))
    out["exposure"] = _time_in_market(trades) / span_ms if span_ms else 0.0
    out["by_symbol"] = _breakdown(trades, lambda t: t.symbol)
    out["by_exit_reason"] = _breakdown(trades, lambda t: t.exit_reason or "open")
    return out


def trade_stats(trades: list[Trade]) -> dict[str, Any]:
    pnls = np.array([t.pnl or 0.0 for t in trades])
    wins, losses = pnls[pnls > 0], pnls[pnls <= 0]
    gross_loss = -float(losses.sum())
    holds = [(t.exit_time or t.entry_time) - t.entry_time for t in trades]
    return {
        "trades": len(trades),
        "win_rate": float(len(wins) / len(pnls)) if len(pnls) else None,
        "profit_factor": float(wins.sum()) / gross_loss if gross_loss > 0 else None,
        "expectancy": float(pnls.mean()) if len(pnls) else None,
        "net_pnl": float(pnls.sum()),
        "avg_hold_ms": float(np.mean(holds)) if holds else None,
        "fees": float(sum([t.fees for t in trades])),
        "funding": float(sum([t.funding for t in trades])),
    }


def _time_in_market(trades: list[Trade]) -> int:
    """Milliseconds with at least one position open (overlaps across symbols counted once)."""
    if not trades:
        return 0
    start = np.array([t.entry_time for t in trades], dtype=np.int64)
    stop = np.array([t.exit_time or t.entry_time for t in trades], dtype=np.int64)
    order = np.lexsort((stop, start))
    start, stop = start[order], stop[order]
    # In start order, each stretch adds what reaches past the latest stop before it (integers: exact).
    covered = np.r_[np.iinfo(np.int64).min, np.maximum.accumulate(stop)[:-1]]
    return int(np.maximum(stop - np.maximum(start, covered), 0).sum())


def _cagr(initial: float, final: float, span_ms: int) -> float | None:
    if span_ms <= 0 or initial <= 0 or final <= 0:
        return None
    return (final / initial) ** (YEAR_MS / span_ms) - 1.0


def _ratios(equity: np.ndarray, initial: float, interval_ms: int) -> dict[str, float | None]:
    if len(equity) < 2:
        return {"sharpe": None, "sortino": None}
    curve = np.r_[initial, equity]
    with np.errstate(divide="ignore", invalid="ignore"):
        rets = np.diff(curve) / curve[:-1]
    rets = rets[np.isfinite(rets)]
    per_year = math.sqrt(YEAR_MS / interval_ms)
    sd = float(rets.std(ddof=1)) if len(rets) > 1 else 0.0
    mean = float(rets.mean()) if len(rets) else 0.0
    downside = np.minimum(rets, 0.0)
    dd = float(math.sqrt(np.mean(downside**2))) if len(rets) else 0.0
    return {
        "sharpe": mean / sd * per_year if sd > 0 else None,
        "sortino": mean / dd * per_year if dd > 0 else None,
    }


def _drawdown(times: np.ndarray, equity: np.ndarray) -> dict[str, float | int]:
    if len(equity) == 0:
        return {"max_drawdown": 0.0, "max_drawdown_duration_ms": 0}
    peak = np.maximum.accumulate(equity)
    dd = np.where(peak > 0, equity / peak - 1.0, 0.0)
    # Duration: the longest stretch spent below a previous peak (until it is regained).
    at_peak = equity >= peak
    peak_time = np.maximum.accumulate(np.where(at_peak, times, times[0]))
    under = np.where(at_peak, 0, times - peak_time)
    return {"max_drawdown": float(-dd.min()), "max_drawdown_duration_ms": int(under.max())}


def _breakdown(trades: Iterable[Trade], key: Any) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[Trade]] = {}
    for t in trades:
        groups.setdefault(key(t), []).append(t)
    out = {}
    for name in sorted(groups):
        ts = groups[name]
        pnls = [t.pnl or 0.0 for t in ts]
        out[name] = {
            "trades": len(ts),
            "pnl": float(sum(pnls)),
            "win_rate": len([p for p in pnls if p > 0]) / len(pnls),
            "fees": float(sum([t.fees for t in ts])),  # lists, not generators: same order, faster
            "funding": float(sum([t.funding for t in ts])),
        }
    return out
